"""The layer's one event loop, who runs it, and how calls reach it.

Theory of operation. The module owns one event loop (uvloop's when
installed) and exactly one thread runs it at a time. A blocking MPI call
runs the loop in the calling thread until its operation completes; a
nonblocking call posts its operation from inside the loop (``now``,
``start``) and returns at once. Between calls, while an operation that
must progress on its own is in flight (a nonblocking collective, a
buffered or synchronous send: ``start(..., progress=True)``), the
*progress thread* runs the loop, as MPICH's asynchronous progress does, so
such an operation advances while the program computes. Every call first
takes the loop back (``_Progress.take``) and hands it on again when it
returns (``_Progress.give``); with nothing of that kind in flight the loop
stays with the caller and a call costs no thread switch.

Invariants: the loop runs in at most one thread (``_Progress.running`` is
true exactly while the progress thread is inside ``run_until_complete``);
every task ``start`` creates is owned here until done and is cancelled and
awaited by ``close``; asyncio objects are touched only from inside the
loop, so callers in the program's thread change them through ``now``.
Calls from inside a running loop are refused: they could never complete.
"""

from __future__ import annotations

import asyncio
import threading
import types
from collections.abc import Callable, Coroutine, Generator
from time import monotonic as _monotonic
from typing import Any

__all__ = [
    "close",
    "no_steps_due",
    "now",
    "own",
    "poll",
    "run",
    "sleep_with",
    "start",
    "unsupported",
]

_loop: asyncio.AbstractEventLoop | None = None


def _the_loop() -> asyncio.AbstractEventLoop:
    global _loop
    if _loop is None:
        try:
            import uvloop

            _loop = uvloop.new_event_loop()
        except ImportError:
            _loop = asyncio.new_event_loop()
    return _loop


class _Progress:
    """Hands the loop between the program's calls and the progress thread."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.want = False  # the progress thread should run the loop
        self.running = False  # it is running it now
        self.stopper: asyncio.Future[None] | None = None
        self.thread: threading.Thread | None = None
        self.closed = False
        self.urgent: set[asyncio.Future[Any]] = set()  # must progress between calls

    def give(self) -> None:
        """After a call: let the progress thread run the loop if anything
        must progress on its own."""
        if not self.urgent or self.closed:
            return
        with self.cond:
            self.want = True
            if self.thread is None:
                self.thread = threading.Thread(
                    target=self._main, name="mpi4py-progress", daemon=True
                )
                self.thread.start()
            self.cond.notify_all()

    def take(self) -> None:
        """Before a call: stop the progress thread's run and wait until the
        loop is free."""
        if not self.want and not self.running:
            # The common case, without the lock: only this thread sets
            # ``want``, and the progress thread starts a run only once it is
            # set, so with both false no run is on or can start.
            return
        with self.cond:
            self.want = False
            if self.running and self.stopper is not None:
                stopper = self.stopper
                _the_loop().call_soon_threadsafe(_settle, stopper)
            while self.running:
                self.cond.wait()

    def idle(self) -> None:
        """Inside the loop: nothing urgent is left; end the progress run."""
        with self.cond:
            self.want = False
            if self.stopper is not None:
                _settle(self.stopper)

    def _main(self) -> None:
        loop = _the_loop()
        while True:
            with self.cond:
                while not self.want and not self.closed:
                    self.cond.wait()
                if self.closed:
                    return
            # A program thread that drives the loop (``_shared``) progresses
            # everything meanwhile: try again in a while, never block on it.
            if not _drive.acquire(timeout=_FOLLOW):
                continue
            try:
                with self.cond:
                    if not self.want or self.closed:
                        continue
                    self.running = True
                    self.stopper = loop.create_future()
                try:
                    loop.run_until_complete(self.stopper)
                finally:
                    with self.cond:
                        self.running = False
                        self.stopper = None
                        self.cond.notify_all()
            finally:
                _drive.release()

    def shut(self) -> None:
        self.take()
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        if self.thread is not None:
            self.thread.join(timeout=10)


def _settle(fut: asyncio.Future[None]) -> None:
    # A late stop meant for an earlier progress run finds its future done.
    if not fut.done():
        fut.set_result(None)


_progress = _Progress()
_owned: set[asyncio.Future[Any]] = set()


# How a blocking call waits with the loop stopped: the job's ``wait_input``
# (``sleep_with``), None before the world communicator exists. Running the
# loop for each wait costs more than the rest of a small call (uvloop sets up
# its signal wake-up per run: 8 B Send/Recv 91 us against 20 us for the
# native API beside one busy process); a receive from a peer on this host
# sleeps in the kernel on the links instead, for up to KERNEL_WAIT seconds,
# while nothing else is in flight (anything else progresses in the loop).
_wait_input: Callable[[asyncio.Future[Any], float], bool] | None = None
KERNEL_WAIT = 0.01


def sleep_with(wait_input: Callable[[asyncio.Future[Any], float], bool]) -> None:
    """Blocking calls wait for same-host input with ``wait_input`` (a
    zmqmesh communicator's) rather than by running the loop."""
    global _wait_input
    _wait_input = wait_input


# Steps to take inside the loop at the start of the program's next call
# (``at_next_call``), before the call's own.
_next_call: list[Callable[[], None]] = []


def at_next_call(fn: Callable[[], None]) -> None:
    """Run ``fn`` inside the loop at the start of the program's next call:
    what a call should not do before it returns (a new window serves the
    requests that came while it was made only then, as a target without a
    progress thread does)."""
    _next_call.append(fn)


def no_steps_due() -> bool:
    """Whether the next call has no step to take first (``at_next_call``):
    a call that needs nothing from the loop may then skip it."""
    return not _next_call


async def _after(steps: list[Callable[[], None]], aw: Any) -> Any:
    for step in steps:
        step()
    return await aw


# When calls have completed in their first step for this many seconds, the
# loop runs once anyway, so that callbacks and reads it holds are never
# starved by a program whose calls all complete at once. By time, not by a
# count of calls: one turn of uvloop's loop costs about 30 us (its signal
# wake-up is set up and torn down each run), more than three 8-byte Sends.
EAGER_GAP = 0.002
_eager_due = [0.0]


def run(aw: Any) -> Any:
    """Run the loop in this thread until awaitable ``aw`` completes; its result.

    The first step of ``aw`` runs at once, as if inside the loop: a call
    that completes there (a send the kernel takes, a receive whose message
    has arrived) returns without starting the loop: a run of the loop
    costs several times the rest of an 8-byte ``Send``. Calls from several
    threads at once (``THREAD_MULTIPLE``) share the loop (``_shared``).
    """
    if _get_running_loop() is not None:
        raise RuntimeError("MPI calls are blocking: not from inside a running event loop")
    loop = _loop or _the_loop()
    if _next_call:
        steps = _next_call[:]
        del _next_call[:]
        aw = _after(steps, aw)
    progress = _progress
    if progress.want or progress.running:
        progress.take()
    if _followers[0] or not _drive.acquire(blocking=False):
        return _shared(loop, aw)
    try:
        return _direct(loop, progress, aw)
    finally:
        _drive.release()
        if progress.urgent:
            progress.give()


def _direct(loop: asyncio.AbstractEventLoop, progress: _Progress, aw: Any) -> Any:
    """``run`` by the one thread that holds the loop."""
    coro = aw if type(aw) is types.CoroutineType or asyncio.iscoroutine(aw) else _as_coro(aw)
    # Its steps, and the kernel waits between them, run as if inside the
    # loop (what they deliver asks for the running loop); the loop is
    # marked running once for all of them (marking costs a getpid).
    _set_running_loop(loop)
    try:
        done, got = _step(coro)
        while (
            not done
            and _wait_input is not None
            and not _owned
            and not progress.urgent
            and not _followers[0]  # another thread's call needs the loop to run
            and isinstance(got, asyncio.Future)
            and _wait_input(got, KERNEL_WAIT)
        ):
            done, got = _step(coro)  # what it awaited is done: the next step
    finally:
        _set_running_loop(None)
    if not done:
        got = loop.run_until_complete(_Rest(coro, got))
    elif _monotonic() < _eager_due[0]:
        return got
    else:
        loop.run_until_complete(asyncio.sleep(0))
    _eager_due[0] = _monotonic() + EAGER_GAP
    return got


# The loop's driver: the thread stepping a call or running the loop (a
# program thread in ``run``, or the progress thread). Threads whose calls
# overlap take turns: a call that finds the loop driven posts itself into
# the loop as a task, which whoever drives runs, and drives it itself once
# the loop is free (``_shared``); while any does, a driver does not sleep
# in the kernel on its own input but runs the loop.
_drive = threading.Lock()
_followers = [0]  # threads in ``_shared`` now
_followers_lock = threading.Lock()
_FOLLOW = 0.001  # how often a waiting thread looks whether the loop is free


def _shared(loop: asyncio.AbstractEventLoop, aw: Any) -> Any:
    """``run`` for a call that overlaps another thread's."""
    with _followers_lock:
        _followers[0] += 1
    try:
        coro = aw if type(aw) is types.CoroutineType or asyncio.iscoroutine(aw) else _as_coro(aw)
        done = threading.Event()
        box: list[asyncio.Task[Any]] = []

        def post() -> None:  # inside the loop, whoever drives it
            task = loop.create_task(coro)
            task.add_done_callback(lambda _: done.set())
            box.append(task)

        loop.call_soon_threadsafe(post)
        while not done.is_set():
            if _drive.acquire(blocking=False):
                try:
                    while not box:
                        loop.run_until_complete(asyncio.sleep(0))  # runs ``post``
                    loop.run_until_complete(asyncio.wait(box))
                finally:
                    _drive.release()
            else:
                done.wait(_FOLLOW)
        return box[0].result()
    finally:
        with _followers_lock:
            _followers[0] -= 1
        if _progress.urgent and not _followers[0] and not _drive.locked():
            _progress.give()


_set_running_loop = asyncio.events._set_running_loop
_get_running_loop = asyncio.events._get_running_loop


def _step(coro: Any) -> tuple[bool, Any]:
    """``(True, result)`` if ``coro`` completed in its next step (the first,
    or one after what it awaited is done), else ``(False, what it waits
    for)``; raises what it raised. The loop is marked running."""
    try:
        return False, coro.send(None)
    except StopIteration as stop:
        return True, stop.value


class _Rest(Coroutine[Any, Any, Any]):
    """The rest of ``coro``, whose first step yielded ``pending``, as a
    coroutine for a task to run: its first step hands ``pending`` on, and
    every later one (a wake-up, a cancellation) goes to ``coro``, as
    ``await`` would have. A cancellation that comes before the task's first
    step reaches ``coro`` too, so what it posted is withdrawn (a coroutine
    function wrapping it would end at once, leaving ``coro`` suspended)."""

    __slots__ = ("_coro", "_first", "_pending")

    def __init__(self, coro: Any, pending: Any) -> None:
        self._coro = coro
        self._pending: Any = pending
        self._first = True

    def send(self, value: Any) -> Any:
        if self._first:
            self._first = False
            pending, self._pending = self._pending, None
            return pending
        return self._coro.send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        self._first, self._pending = False, None
        if val is None and tb is None:
            return self._coro.throw(typ)
        return self._coro.throw(typ, val, tb)  # (the old three-argument form)

    def close(self) -> None:
        self._first, self._pending = False, None
        self._coro.close()

    def __await__(self) -> Generator[Any, Any, Any]:
        raise TypeError("_Rest is run by a task, not awaited")


async def _as_coro(aw: Any) -> Any:
    return await aw


async def _call(fn: Callable[[], Any]) -> Any:
    return fn()


def now(fn: Callable[[], Any]) -> Any:
    """Call ``fn`` inside the loop (it posts futures on it) and return at once."""
    return run(_call(fn))


def poll(delay: float = 0.0) -> None:
    """Let the loop take in what has arrived (and sleep ``delay`` seconds)."""
    run(asyncio.sleep(delay))


def _forget(fut: asyncio.Future[Any]) -> None:
    _owned.discard(fut)
    if fut in _progress.urgent:
        _progress.urgent.discard(fut)
        if not _progress.urgent:
            _progress.idle()
    if not fut.cancelled():
        fut.exception()  # retrieved: its waiter, if any, sees it


def own(fut: asyncio.Future[Any], *, progress: bool = False) -> asyncio.Future[Any]:
    """Inside the loop: keep ``fut`` until it is done (``close`` cancels it);
    with ``progress``, the progress thread runs the loop until then."""
    if not fut.done():
        _owned.add(fut)
        if progress:
            _progress.urgent.add(fut)
        fut.add_done_callback(_forget)
    return fut


async def _started(coro: Coroutine[Any, Any, Any], progress: bool) -> asyncio.Task[Any]:
    task = own(asyncio.ensure_future(coro), progress=progress)
    # One turn of the loop: the task takes its first step (posts its
    # receive, claims its collective's sequence number) before the call
    # returns, so operations start in the order the program called them.
    await asyncio.sleep(0)
    assert isinstance(task, asyncio.Task)
    return task


def start(coro: Coroutine[Any, Any, Any], *, progress: bool = False) -> asyncio.Future[Any]:
    """Start ``coro`` as a task owned here, after its first step; with
    ``progress`` it advances between the program's calls too. The first
    step runs at once, as ``run``'s does, when this thread may drive the
    loop: a turn of the loop per started operation would cost more than
    the rest of an ``Isend`` (a coroutine done in that step gives a done
    future, not a task)."""
    if _get_running_loop() is not None:
        raise RuntimeError("MPI calls are blocking: not from inside a running event loop")
    fut = _eager(coro, progress)
    if fut is None:
        fut = run(_started(coro, progress))
    return fut


def _eager(coro: Coroutine[Any, Any, Any], progress: bool) -> asyncio.Future[Any] | None:
    """``start`` by stepping ``coro`` here; None when another thread's
    call holds the loop (or steps wait for the next call), and ``coro`` is
    untouched."""
    if _next_call:
        return None
    prog = _progress
    if prog.want or prog.running:
        prog.take()
    if _followers[0] or not _drive.acquire(blocking=False):
        return None
    try:
        loop = _loop or _the_loop()
        _set_running_loop(loop)
        try:
            done, got = _step(coro)
        except Exception as exc:  # kept for the request's completion, as a task keeps it
            fut: asyncio.Future[Any] = loop.create_future()
            fut.set_exception(exc)
            return fut
        finally:
            _set_running_loop(None)
        if done:
            fut = loop.create_future()
            fut.set_result(got)
            return fut
        task = loop.create_task(_Rest(coro, got))
        own(task, progress=progress)
        if _monotonic() >= _eager_due[0]:  # let what the loop holds run now and then
            loop.run_until_complete(asyncio.sleep(0))
            _eager_due[0] = _monotonic() + EAGER_GAP
        return task
    finally:
        _drive.release()
        if prog.urgent:
            prog.give()


async def _cancel_all() -> None:
    # What must progress on its own (buffered sends, collectives) is let
    # finish first, for a while; what is left then is withdrawn.
    urgent = [f for f in _progress.urgent if not f.done()]
    if urgent:
        await asyncio.wait(urgent, timeout=10)
    pending = [f for f in _owned if not f.done()]
    for f in pending:
        f.cancel()
    if pending:
        await asyncio.wait(pending, timeout=5)


def close() -> None:
    """Cancel and await every operation still owned; stop the progress thread."""
    if _owned:
        run(_cancel_all())
    _progress.shut()


def unsupported(name: str, why: str = "") -> Callable[..., Any]:
    """A callable that raises ``NotImplementedError`` naming ``name``."""

    def call(*args: Any, **kwargs: Any) -> Any:
        reason = f" ({why})" if why else ""
        raise NotImplementedError(f"MPI.{name} is not supported by zmqmesh's mpi4py layer{reason}")

    call.__name__ = name.rpartition(".")[2]
    call.__doc__ = f"Not supported by zmqmesh's mpi4py layer{f' ({why})' if why else ''}."
    return call
