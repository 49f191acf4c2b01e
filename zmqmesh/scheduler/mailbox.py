"""The actors living on a worker: each one's instance and its mailbox.

Theory of operation. An actor is an instance of a user's class made on one
worker (``["new", aid, cls, args, kwargs, concurrency]``, see ``actors``);
its method calls (``["call", aid, spec, lone]``) join its mailbox in the order
they arrive, which is the order each caller made them, and start in that
order: a plain method when nothing else of the actor runs (so its state
sees one call at a time), a coroutine method when fewer than
``concurrency`` calls run and no plain one does (with the default 1, a
coroutine method too runs alone; more lets them interleave at their
awaits). Plain methods run on the actor's own thread, so the worker's loop
stays free; a method whose calls have always been quick runs on the loop
thread instead (two thread hand-offs would cost more than the call). A
call whose arguments hold futures waits in its place in the mailbox until
the data plane has fetched them; calls from a worker that come before the
actor's ``new`` wait for it. A ``lone`` call (its caller has nothing else
in flight and cores to spare) makes the worker poll for the caller's next
message once it is answered. ``["del", aid]`` ends the actor once the
calls before it are done, and the origin hears ``["closed", aid]``.

Invariants: ``inflight`` counts the calls started and not finished;
``sync_busy`` is set while a plain method runs on the actor's thread.
"""

from __future__ import annotations

import asyncio
import inspect
import queue
import threading
import time
from collections import deque
from typing import Any, Protocol

from zmqmesh.scheduler.tasks import describe_call, remote_error, resolve

__all__ = ["ActorHost"]

_FAST = 50e-6  # as worker._FAST: a method this quick runs on the loop thread
_FAST_MAX = 1e-3


class Host(Protocol):
    rank: int
    loop: asyncio.AbstractEventLoop

    def results_ready(self, items: list[list[Any]]) -> None: ...

    def poll_from(self, rank: int) -> None: ...

    def actor_reply(self, dest: int, item: list[Any]) -> None: ...

    def fetch_inputs(self, spec: list[Any], then: Any) -> None: ...


class _Call:
    __slots__ = ("args", "kind", "kwargs", "name", "ready", "tid")

    def __init__(self, kind: str, tid: int, name: Any, args: Any, kwargs: Any, ready: bool):
        self.kind = kind
        self.tid = tid
        self.name = name
        self.args = args
        self.kwargs = kwargs
        self.ready = ready


class Mailbox:
    def __init__(self, host: Host, aid: int, origin: int, concurrency: int) -> None:
        self.host = host
        self.aid = aid
        self.origin = origin
        self.concurrency = max(1, concurrency)
        self.calls: deque[_Call] = deque()
        self.instance: Any = None
        self.broken: list[Any] | None = None  # the constructor's error
        self.inflight = 0
        self.sync_busy = False
        self.closed = False
        self.timing: dict[str, list[float]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        # The actor's own thread, a daemon: a method still running when the
        # executor ends does not keep the process from leaving.
        self.jobs: queue.SimpleQueue[Any] | None = None

    def push(self, call: _Call) -> None:
        self.calls.append(call)
        self.pump()

    def pump(self) -> None:
        """Start the calls at the head of the mailbox that may start."""
        while self.calls and not self.closed:
            c = self.calls[0]
            if not c.ready:
                return
            if c.kind == "del":
                if self.inflight:
                    return
                self.calls.popleft()
                self._close()
                return
            if c.kind == "new":
                if self.inflight:
                    return
                self.calls.popleft()
                try:
                    cls = resolve(c.name)[0]
                except Exception as exc:
                    self.inflight += 1
                    self._sync_done(c, (False, remote_error(exc, self.host.rank, "")), True)
                    return
                self._start_sync(c, cls, construct=True)
                return
            if c.kind == "lost":
                self.calls.popleft()
                err = ["LookupError", "an input of this call was lost with its worker", ""]
                self._reply(c.tid, False, [*err, self.host.rank, str(c.name)])
                continue
            if self.instance is None and self.broken is None:
                return  # the constructor runs
            if self.broken is not None:
                self.calls.popleft()
                self._reply(c.tid, False, self.broken)
                continue
            try:
                fn = getattr(self.instance, c.name)
            except AttributeError as exc:
                self.calls.popleft()
                self._reply(c.tid, False, remote_error(exc, self.host.rank, c.name))
                continue
            if inspect.iscoroutinefunction(fn):
                if self.sync_busy or self.inflight >= self.concurrency:
                    return
                self.calls.popleft()
                self.inflight += 1
                task = asyncio.ensure_future(self._run_async(c, fn))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
                continue
            if self.inflight:
                return
            self.calls.popleft()
            seen = self.timing.get(c.name)
            if seen is not None and seen[0] >= 3 and seen[1] < _FAST and seen[2] < _FAST_MAX:
                self._reply(c.tid, *self._call(c, fn))  # quick: on the loop thread
                continue
            self._start_sync(c, fn, construct=False)
            return

    def _call(self, c: _Call, fn: Any) -> tuple[bool, Any]:
        t = time.perf_counter()
        try:
            out = (True, fn(*c.args, **c.kwargs))
        except BaseException as exc:
            out = (False, remote_error(exc, self.host.rank, describe_call(fn, c.args, c.kwargs)))
        took = time.perf_counter() - t
        seen = self.timing.setdefault(c.name if type(c.name) is str else "", [0, 0.0, 0.0])
        seen[0] += 1
        seen[1] += (took - seen[1]) / min(seen[0], 16)
        seen[2] = max(seen[2], took)
        return out

    def _start_sync(self, c: _Call, fn: Any, construct: bool) -> None:
        if self.jobs is None:
            self.jobs = queue.SimpleQueue()
            threading.Thread(
                target=_serve, args=(self.jobs,), name="zmqmesh-actor", daemon=True
            ).start()
        self.inflight += 1
        self.sync_busy = True
        loop = self.host.loop

        def run() -> None:
            got = self._call(c, fn)
            loop.call_soon_threadsafe(self._sync_done, c, got, construct)

        self.jobs.put(run)

    def _sync_done(self, c: _Call, got: tuple[bool, Any], construct: bool) -> None:
        if self.closed:
            return
        self.inflight -= 1
        self.sync_busy = False
        if construct:
            if got[0]:
                self.instance = got[1]
            else:
                err = got[1]
                self.broken = ["ActorDiedError", f"its constructor raised {err[0]}: {err[1]}"]
                self.broken += [err[2], self.host.rank, err[4]]
            self.pump()
            return
        self._finish(c, *got)

    async def _run_async(self, c: _Call, fn: Any) -> None:
        try:
            got = (True, await fn(*c.args, **c.kwargs))
        except asyncio.CancelledError:
            return
        except BaseException as exc:
            got = (False, remote_error(exc, self.host.rank, describe_call(fn, c.args, c.kwargs)))
        self.inflight -= 1
        self._finish(c, *got)

    def _finish(self, c: _Call, ok: bool, value: Any) -> None:
        self._reply(c.tid, ok, value)
        self.pump()

    def _reply(self, tid: int, ok: bool, value: Any) -> None:
        self.host.results_ready([[tid, ok, value]])

    def _close(self) -> None:
        self.closed = True
        self.instance = None
        self.host.actor_reply(self.origin, ["closed", self.aid])
        self.stop()

    def stop(self) -> None:
        self.closed = True
        for task in self.tasks:
            task.cancel()
        if self.jobs is not None:
            self.jobs.put(None)
            self.jobs = None


def _serve(jobs: queue.SimpleQueue[Any]) -> None:
    """An actor's thread: run its plain methods, one after another."""
    while (job := jobs.get()) is not None:
        job()


class ActorHost:
    """Every actor on this worker, by actor id."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.actors: dict[int, Mailbox] = {}
        # Calls from other workers (tasks holding a handle) may come before
        # the actor's "new" from its origin: they wait for it here.
        self.early: dict[int, list[list[Any]]] = {}
        self.ended: set[int] = set()

    def handle(self, source: int, items: list[list[Any]]) -> None:
        for item in items:
            kind, aid = item[0], item[1]
            if kind == "new":
                _, _, ref, args, kwargs, concurrency = item
                old = self.actors.pop(aid, None)
                if old is not None:
                    old.stop()
                box = self.actors[aid] = Mailbox(self.host, aid, source, concurrency)
                box.push(_Call("new", 0, ref, args, kwargs, True))
                for spec in self.early.pop(aid, ()):
                    self._call(aid, spec)
            elif kind == "call":
                self._call(aid, item[2], len(item) > 3 and item[3] is True)
            elif kind == "del":
                gone = self.actors.pop(aid, None)
                self.ended.add(aid)
                if gone is None:
                    self.host.actor_reply(source, ["closed", aid])
                else:
                    gone.push(_Call("del", 0, None, None, None, True))

    def _call(self, aid: int, spec: list[Any], lone: bool = False) -> None:
        box = self.actors.get(aid)
        tid, name = spec[0], spec[1]
        if box is None and aid not in self.ended:
            self.early.setdefault(aid, []).append(spec)
            return
        if box is None or box.closed:
            err = ["ActorDiedError", "the actor is not on this worker any more", "", -1, name]
            self.host.results_ready([[tid, False, err]])
            return
        call = _Call("call", tid, name, spec[2], spec[3], len(spec) == 4)
        box.push(call)
        if lone and not box.calls and not box.inflight:  # answered already
            self.host.loop.call_soon(self.host.poll_from, tid >> 40)
        if not call.ready:

            def then(ready: list[Any] | None) -> None:
                if ready is None:  # an input was lost with its worker
                    call.kind = "lost"
                else:
                    call.args, call.kwargs = ready[2], ready[3]
                call.ready = True
                box.pump()

            self.host.fetch_inputs(spec, then)

    def stop(self) -> None:
        for box in self.actors.values():
            box.stop()
        self.actors.clear()
