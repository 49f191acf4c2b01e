"""The serving side of a rank: its deque, the thread that runs its tasks,
and the stealing it does when idle.

Theory of operation. A worker's tasks sit in one deque
(``state.TaskQueue``, pure: it decides where new work goes and what a
thief gets): tasks placed by an origin join the tail; tasks its own running
tasks submit (nested, fork-join) join the head, so the worker runs them
next (work-first, as in Cilk) while thieves take from the tail, where the
oldest and in fork-join the largest pieces of work are. One *runner*
thread pops the head and runs plain functions, so the event-loop thread
stays free to answer steal requests and to read and send messages while a
pure-Python CPU-bound task runs: CPython hands the GIL over every switch
interval, which a worker lowers from 5 ms to ``SWITCH_INTERVAL`` while it
serves. Coroutine tasks are handed to the
event loop and awaited there; a coroutine task that submits nested tasks
and awaits them lets the runner get on with them meanwhile. A worker whose
deque ran dry is *hungry*: it asks a random live peer for half of its work,
already while its last task runs when the function's tasks have been
neither quick nor long (``policy.steal_ahead``); refused, it waits its
back-off, doubling, and asks one that has not refused it yet; a thief still
running a task that every peer refused asks again once idle. A steal, or a
batch of tasks from an origin, resets the back-off (``policy.Sweep``).

Results leave the runner thread through ``done``. Waking the loop thread
for each one costs the runner the GIL (the loop takes it within a switch
interval) and, on a host with more busy threads than cores, the wait for
the loop thread and then the runner to get a core again, right at a task's
end. So while the runner has more tasks queued, results of other ranks'
tasks wait for the loop's collection *tick*, at most ``RESULT_EVERY``
seconds apart, which runs while results keep coming and stops when a tick
finds none (``policy.result_now``); a result leaves at once when the
runner goes idle, when its origin is this rank, or when no tick is due.

Invariants: the deque and ``running`` change only under ``cond``;
``_results``, ``_wake_due`` and ``_ticking`` only under ``_results_lock``;
a held result always has a wake-up or a tick due to send it.
"""

from __future__ import annotations

import asyncio
import math
import random
import sys
import threading
import time
from typing import Any, Protocol

from zmqmesh.scheduler.policy import Sweep, result_now, steal_ahead
from zmqmesh.scheduler.state import TaskQueue, origin_of
from zmqmesh.scheduler.tasks import describe_call, remote_error, resolve, weight

__all__ = ["Worker"]

# A function whose runs have averaged under _FAST seconds and never taken
# _FAST_MAX may run on the event-loop thread, for at most _INLINE_BUDGET
# seconds at a time (see Worker._run_inline).
_FAST = 50e-6
_FAST_MAX = 1e-3
_INLINE_BUDGET = 0.002
# The interpreter's switch interval while a worker serves (CPython's default
# is 5 ms). A steal request or a result waits for the GIL up to this long
# while the runner computes: on 2 workers, skewed-load efficiency in bench
# exec was 0.966-0.981 at 5 ms and 0.979-0.982 at 1 ms (3 runs each).
SWITCH_INTERVAL = 0.001
# How long a finished task's result may wait for the loop's collection tick
# while the runner has more tasks (see the module docstring). bench exec's
# skewed load (400 busy-wait tasks) on 4 workers and 2 cores, medians of 8
# rounds of 3 on a loaded host (load average 5.7-8.8), with a first version
# of the tick that ticked whenever tasks were queued: efficiency 0.61 with
# each result sent at once, 0.64 at 5 ms, 0.66 at 20 ms, 0.64 at 100 ms; the
# workers' time between two tasks fell from 12% of the makespan to 3-4%.
RESULT_EVERY = 0.02


def _key(ref: Any) -> Any:
    return (ref[0], ref[1]) if type(ref) is list else id(ref)


class Host(Protocol):
    """What a worker needs of the node it serves (``node.Node``)."""

    loop: asyncio.AbstractEventLoop
    rank: int
    live: set[int]

    def poll_for_work(self) -> None: ...

    def results_ready(self, items: list[list[Any]]) -> None: ...

    def ask_steal(self, victim: int, busy: bool) -> None: ...


class Worker:
    def __init__(self, node: Host) -> None:
        self.node = node
        self.loop = node.loop
        self.dq = TaskQueue()  # where new work goes and what thieves get: pure
        self.cond = threading.Condition()
        self.running = False
        self.closing = False
        self.hungry = asyncio.Event()  # the deque ran dry: steal
        self.counts = [0, 0, 0]  # run, stolen, given
        self._results: list[list[Any]] = []
        self._results_lock = threading.Lock()
        self._ran = 0  # items of the results in _results (weight of their specs)
        self._wake_due = False  # a _collect is scheduled on the loop
        self._ticking = False  # a collection tick is armed
        self._tick: asyncio.TimerHandle | None = None
        self._steal: asyncio.Future[int] | None = None
        self._victim = -1
        self._sweep = Sweep(random.Random(node.rank * 7919 + 17), node.rank)
        self._coros: set[asyncio.Task[None]] = set()
        self._timing: dict[Any, list[Any]] = {}  # function -> [runs, mean s, max s]
        self._poll_after = False
        # The loop thread must get the GIL from a runner busy in Python to
        # answer a thief or send a result: at most one switch interval.
        self._switch = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch, SWITCH_INTERVAL))
        self._thread = threading.Thread(target=self._run, name="zmqmesh-task-runner", daemon=True)
        self._thread.start()
        self._stealer = asyncio.ensure_future(self._steal_loop())

    # -- the deque (loop thread) ----------------------------------------------
    def push_tail(self, specs: list[list[Any]], *, poll_after: bool = False) -> None:
        """Queue tasks from their origin; ``poll_after``: the origin has
        nothing else in flight, so once idle this worker polls for the next
        task before it sleeps."""
        self._poll_after = poll_after
        if not poll_after:  # a batch: peers likely have work when this runs dry
            self._sweep.reset()
        with self.cond:
            self.dq.push_tail(specs)
            inline = not self.running and self._fast(self.dq.head()[1])
            if inline:
                self.running = True
            else:
                self.cond.notify()
        self.hungry.clear()
        if inline:
            self._run_inline()

    def _fast(self, ref: Any) -> bool:
        """Whether tasks of this function have always been quick."""
        seen = self._timing.get(_key(ref))
        return seen is not None and seen[0] >= 3 and seen[1] < _FAST and seen[2] < _FAST_MAX

    def _run_inline(self) -> None:
        """Run quick tasks on the loop thread while the runner is idle: a
        task of a function that has always taken microseconds is not worth
        two thread hand-offs (most of a lone task's round trip). Anything
        else, or past a small time budget, goes to the runner."""
        start = time.perf_counter()
        while True:
            with self.cond:
                if (
                    not self.dq
                    or not self._fast(self.dq.head()[1])
                    or (time.perf_counter() - start > _INLINE_BUDGET)
                ):
                    self.running = False
                    if self.dq:
                        self.cond.notify()
                    elif not self._coros and len(self.node.live) > 1:
                        self.hungry.set()  # someone to steal from
                    break
                spec = self.dq.pop()
            self._execute(spec)
        if self._results:  # send them now, not a loop turn later
            self._collect()
        if self._poll_after and not self.running and not self.dq:
            self._poll_after = False
            self.loop.call_soon(self.node.poll_for_work)

    def push_head(self, spec: list[Any]) -> None:
        with self.cond:
            self.dq.push_head(spec)
            self.cond.notify()
        self.hungry.clear()

    def give(self, thief_busy: bool = False) -> list[list[Any]]:
        """A thief asks: take half of the work from the tail."""
        with self.cond:
            loot = self.dq.give(self.running, thief_busy)
        self.counts[2] += sum(map(weight, loot))
        return loot

    def forget_origin(self, origin: int) -> None:
        """Rank ``origin`` is gone: nobody waits for its queued tasks."""
        with self.cond:
            self.dq.forget_origin(origin)

    # -- running tasks ---------------------------------------------------------
    def _run(self) -> None:
        """The runner thread."""
        while True:
            with self.cond:
                if not self.dq:
                    self.running = False
                    self.loop.call_soon_threadsafe(self._went_idle)
                    while not self.dq and not self.closing:
                        self.cond.wait()
                if self.closing:
                    return
                spec = self.dq.pop()
                self.running = True
                ahead = not self.dq and self._ahead(spec[1])
            if ahead:
                self.loop.call_soon_threadsafe(self._went_hungry)
            self._execute(spec)

    def _ahead(self, ref: Any) -> bool:
        """Whether to steal while this task, the deque's last, runs."""
        seen = self._timing.get(_key(ref))
        runs, mean = (seen[0], seen[1]) if seen is not None else (0, 0.0)
        return len(self.node.live) > 1 and steal_ahead(runs, mean)

    def _execute(self, spec: list[Any]) -> None:
        """Run one task (a coroutine task is started on the loop)."""
        tid, ref, args, kwargs = spec
        n = weight(spec)
        try:
            fn, is_coro = resolve(ref)
        except Exception as exc:
            self.done(
                [tid, False, remote_error(exc, self.node.rank, describe_call(ref, args, kwargs))], n
            )
            return
        if is_coro:
            if threading.get_ident() == self._thread.ident:
                self.loop.call_soon_threadsafe(self._start_coro, tid, fn, args, kwargs, n)
            else:
                self._start_coro(tid, fn, args, kwargs, n)
            return
        t = time.perf_counter()
        try:
            item = [tid, True, fn(*args, **kwargs)]
        except BaseException as exc:
            item = [tid, False, remote_error(exc, self.node.rank, describe_call(ref, args, kwargs))]
        took = time.perf_counter() - t
        seen = self._timing.setdefault(_key(ref), [0, 0.0, 0.0])
        seen[0] += 1
        seen[1] += (took - seen[1]) / min(seen[0], 16)  # a running mean of recent runs
        seen[2] = max(seen[2], took)
        self.done(item, n)

    def _went_hungry(self) -> None:
        with self.cond:
            if not self.dq and not self.closing:
                self.hungry.set()

    def _went_idle(self) -> None:
        with self.cond:
            if not self.dq and not self.running and len(self.node.live) > 1:
                self.hungry.set()  # someone to steal from

    def _start_coro(self, tid: int, fn: Any, args: Any, kwargs: Any, n: int) -> None:
        task = asyncio.ensure_future(self._coro(tid, fn, args, kwargs, n))
        self._coros.add(task)
        task.add_done_callback(self._coros.discard)

    async def _coro(self, tid: int, fn: Any, args: Any, kwargs: Any, n: int) -> None:
        try:
            item = [tid, True, await fn(*args, **kwargs)]
        except asyncio.CancelledError:
            return  # the executor is closing
        except BaseException as exc:
            item = [tid, False, remote_error(exc, self.node.rank, describe_call(fn, args, kwargs))]
        self.done(item, n)

    def done(self, item: list[Any], n: int = 1) -> None:
        """A task of ``n`` items finished (any thread): queue its result for
        the loop, waking it unless a wake-up or a tick is due
        (``policy.result_now``)."""
        runner = threading.get_ident() == self._thread.ident
        with self._results_lock:
            self._results.append(item)
            self._ran += n
            if self._wake_due:
                return
            local = origin_of(item[0]) == self.node.rank
            if runner and not result_now(len(self.dq), local, self._ticking):
                return  # the tick takes it
            self._wake_due = True
        if runner:
            self.loop.call_soon_threadsafe(self._collect)
        else:
            self.loop.call_soon(self._collect)

    def _collect(self) -> None:
        """Send the results made so far (loop thread); while the runner has
        work, keep a tick due to send the next ones."""
        with self._results_lock:
            items, self._results = self._results, []
            ran, self._ran = self._ran, 0
            self._wake_due = False
            busy = self.running or bool(self.dq)
            tick = bool(items) and busy and not self._ticking and not self.closing
            if tick:
                self._ticking = True
        if tick:
            self._tick = self.loop.call_later(RESULT_EVERY, self._on_tick)
        if items:
            self.counts[0] += ran
            self.node.results_ready(items)

    def _on_tick(self) -> None:
        with self._results_lock:
            self._ticking = False
            held = bool(self._results)
        self._tick = None
        if held:
            self._collect()

    # -- stealing (loop thread) ---------------------------------------------------
    async def _steal_loop(self) -> None:
        sweep = self._sweep
        while not self.closing:
            await self.hungry.wait()
            if self.closing:
                return
            victim = sweep.victim(sorted(self.node.live))
            if victim is None:
                self.hungry.clear()
                continue
            self._victim = victim
            self._steal = self.loop.create_future()
            busy = self.running
            self.node.ask_steal(victim, busy)
            got = await self._steal
            self._steal = None
            wait = sweep.answered(victim, got, sorted(self.node.live), busy)
            if wait == math.inf:
                with self.cond:  # nobody gives to a busy thief: ask again once idle
                    if self.running:  # (else _went_idle is due, or loot came)
                        self.hungry.clear()
            elif wait:
                await asyncio.sleep(wait)

    def loot(self, source: int, specs: list[list[Any]]) -> None:
        """A victim answered."""
        if specs:
            self.counts[1] += sum(map(weight, specs))
            self.push_tail(specs)
        if self._steal is not None and source == self._victim and not self._steal.done():
            self._steal.set_result(len(specs))

    def lost(self, rank: int) -> None:
        """Peer ``rank`` is gone: a steal waiting on it is refused."""
        if self._steal is not None and self._victim == rank and not self._steal.done():
            self._steal.set_result(0)

    async def close(self) -> None:
        self.closing = True
        with self.cond:
            self.dq.clear()
            self.cond.notify_all()
        self.hungry.set()
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        self._stealer.cancel()
        for task in list(self._coros):
            task.cancel()
        await asyncio.gather(self._stealer, *self._coros, return_exceptions=True)
        sys.setswitchinterval(self._switch)
