"""The root side of ``mpi4py.futures``: tasks dealt to worker ranks.

Theory of operation. A pool is made collectively over an
intracommunicator: its ranks duplicate it (the pool's messages never
meet the program's), split off the workers' communicator
(``get_comm_workers``), and every rank but the root serves (``_worker``).
On the root, ``RankPool`` keeps the tasks submitted and not started in
one queue, and deals the first to an idle worker, one task per worker at
a time, as mpi4py does; a task still queued can be cancelled. A task of
an executor that has ``max_workers`` tasks out waits, and the others go
first. A ``map`` is one entry of the queue (a ``_Run``) whose chunks are
dealt in *portions*: an idle worker gets the next ``portion(left,
workers)`` chunks in one message and answers them in one, running them
in order, so that many small tasks do not each pay a round trip between
the ranks (guided self-scheduling: portions shrink to one chunk as the
map's end nears, so the workers finish together). A portion's chunks are
pickled when it is dealt, as mpi4py pickles a task when its manager sends
it. Answers are taken by a task on the layer's event loop, started as
one that progresses on its own: the program's thread may wait on a
future (``result()``) or compute while the layer's progress thread runs
the loop. Futures are ``concurrent.futures.Future``; they are completed on
the completer thread of the pool, never on the loop, so their
done-callbacks may submit tasks and make MPI calls.

Invariants: a worker is idle or runs exactly one task or portion (``_running``);
every future submitted is completed or cancelled once; after ``close``
the workers have been told to stop and the answer task is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import BrokenExecutor, Future
from dataclasses import dataclass, field
from typing import Any

import zmqmesh
from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import runner
from zmqmesh.compat.mpi4py.comm import Intracomm
from zmqmesh.compat.mpi4py.futures._worker import (
    BROKEN,
    MAP,
    OK,
    RESULT,
    STOP,
    TASK,
    RemoteTraceback,
    serve,
)
from zmqmesh.compat.mpi4py.util.pkl5 import dumps, loads

__all__ = ["Owner", "RankPool", "start_pool"]


@dataclass(eq=False, slots=True)
class Owner:
    """What a pool knows of one executor submitting to it."""

    max_workers: int | None = None
    init: Any = None  # pkl5 form of (initializer, initargs), or None
    initializer: Callable[..., object] | None = None
    initargs: tuple[Any, ...] = ()
    broken: BaseException | None = None
    out: int = 0  # tasks dealt and not answered
    started: set[int] = field(default_factory=set)  # workers that ran ``init``
    comm_workers: Any = None  # what ``get_comm_workers`` gives its tasks in threads here

    def full(self) -> bool:
        return self.max_workers is not None and self.out >= self.max_workers


@dataclass(eq=False, slots=True)
class _Item:
    fut: Future[Any]
    owner: Owner
    task: Any  # pkl5 form of (fn, args, kwargs)


@dataclass(eq=False, slots=True)
class _Run:
    """A map's chunks; ``futs[i]`` is chunk ``i``'s, those from ``next`` on not dealt."""

    owner: Owner
    fn: Callable[..., Any]
    chunks: Sequence[Sequence[tuple[Any, ...]]]
    futs: list[Future[Any]]
    next: int = 0


@dataclass(eq=False, slots=True)
class _Portion:
    """Chunks of a map dealt to one worker together, in this order."""

    owner: Owner
    futs: list[Future[Any]]


# The most chunks one message carries. bench/compat_futures.py (10,000
# trivial tasks, 2 workers, 3 ranks on the 2-core VM of bench/README.md),
# three runs of each, interleaved: 16 chunks 60-71k tasks/s, 64 90-102k,
# 256 101-133k, 1024 111-122k. Past 256 the gain is within the noise, and
# a smaller cap keeps a slow chunk from holding many others behind it.
MAX_PORTION = 256


def portion(left: int, workers: int) -> int:
    """How many of a map's ``left`` chunks an idle worker gets: a quarter
    of an even share of what is left, so that the others get work too and
    the last portions are single chunks (one while fewer than eight per
    worker are left); never more than ``MAX_PORTION``."""
    return max(1, min(MAX_PORTION, left // (4 * workers)))


def _futures_of(entry: _Item | _Portion) -> list[Future[Any]]:
    return [entry.fut] if isinstance(entry, _Item) else entry.futs


class RankPool:
    """Deals the tasks of any number of executors to the worker ranks."""

    def __init__(self, comm: Intracomm, workers: list[int], world: Intracomm) -> None:
        self._comm: Intracomm | None = comm
        self._workers_comm = world
        self.workers = list(workers)
        self._z = comm._z()
        self._idle: deque[int] = deque(workers)
        self._queue: deque[_Item | _Run] = deque()
        self._running: dict[int, tuple[_Item | _Portion, int]] = {}
        self._ids = itertools.count()
        self._broken: BaseException | None = None
        self._drained: asyncio.Event | None = None
        # Futures are completed (and their callbacks run) on this thread:
        # a callback run on the loop could not make a blocking call.
        self._done: queue.SimpleQueue[Callable[[], Any] | None] = queue.SimpleQueue()
        self._completer = threading.Thread(
            target=self._complete_all, name="mpi4py-futures", daemon=True
        )
        self._completer.start()
        self._task: asyncio.Future[Any] | None = runner.start(self._answers(), progress=True)

    def _complete_all(self) -> None:
        while (step := self._done.get()) is not None:
            step()

    # -- from the program's thread ------------------------------------------------------------
    def submit(self, owner: Owner, fn: Callable[..., Any], args: Any, kwargs: Any) -> Future[Any]:
        """A future of ``fn(*args, **kwargs)`` run on a worker. Raises
        ``BrokenExecutor`` when the pool or ``owner`` is broken and
        ``RuntimeError`` once the pool is closed."""
        if self._task is None:
            raise RuntimeError("cannot schedule new futures after the pool was closed")
        broken = owner.broken or self._broken
        if broken is not None:
            raise BrokenExecutor(str(broken))
        fut: Future[Any] = Future()
        try:
            task = dumps((fn, args, kwargs))
        except Exception as exc:  # what cannot be pickled fails its future, as mpi4py's
            fut.set_exception(exc)
            return fut
        runner.now(lambda: self._enqueue(_Item(fut, owner, task)))
        return fut

    def map(
        self, owner: Owner, fn: Callable[..., Any], chunks: Sequence[Sequence[tuple[Any, ...]]]
    ) -> list[Future[Any]]:
        """A future per chunk of ``[fn(*args) for args in chunk]`` run on a
        worker; raises as ``submit``."""
        if self._task is None:
            raise RuntimeError("cannot schedule new futures after the pool was closed")
        broken = owner.broken or self._broken
        if broken is not None:
            raise BrokenExecutor(str(broken))
        futs: list[Future[Any]] = [Future() for _ in chunks]
        if futs:
            run = _Run(owner, fn, chunks, futs)
            runner.now(lambda: self._enqueue(run))
        return futs

    def cancel_queued(self, owner: Owner) -> None:
        """Cancel ``owner``'s tasks not dealt yet."""
        runner.now(lambda: self._drop(owner, None))

    def size(self) -> int:
        """The number of worker ranks."""
        return len(self.workers)

    def close(self, wait: bool = True) -> None:
        """Wait for the tasks dealt and queued, then stop the workers (a
        pool of ranks always waits)."""
        if self._task is None:
            return
        runner.run(self._close())
        self._done.put(None)
        self._completer.join()
        assert self._comm is not None
        if self._workers_comm:  # COMM_NULL on the root
            self._workers_comm.Free()
        self._comm.Free()
        self._comm = None

    # -- inside the event loop ----------------------------------------------------------------
    def _enqueue(self, item: _Item | _Run) -> None:
        self._queue.append(item)
        self._deal()

    def _next(self) -> tuple[_Item | _Portion, Any, int] | None:
        """The next task or portion to deal, its message and tag; None
        when every queued entry's owner is full."""
        for i, item in enumerate(self._queue):
            if item.owner.full():
                continue
            if isinstance(item, _Item):
                del self._queue[i]
                return item, item.task, TASK
            n = portion(len(item.futs) - item.next, len(self.workers))
            start, item.next = item.next, item.next + n
            if item.next == len(item.futs):
                del self._queue[i]
            return self._pack(item, start, item.next)
        return None

    def _pack(self, run: _Run, start: int, stop: int) -> tuple[_Portion, Any, int]:
        """Chunks ``start:stop`` of ``run`` not cancelled, pickled as one
        message; a chunk that does not pickle fails its future alone."""
        futs, chunks = [], []
        for i in range(start, stop):
            if run.futs[i].set_running_or_notify_cancel():
                futs.append(run.futs[i])
                chunks.append(run.chunks[i])
        try:
            return _Portion(run.owner, futs), dumps((run.fn, chunks)), MAP
        except Exception:
            pass
        keep_f, keep_c = [], []
        for fut, chunk in zip(futs, chunks, strict=True):
            try:
                dumps((run.fn, [chunk]))
            except Exception as exc:  # as a task that does not pickle
                self._fail(fut, exc)
                continue
            keep_f.append(fut)
            keep_c.append(chunk)
        try:
            task = dumps((run.fn, keep_c)) if keep_f else None
        except Exception as exc:
            for fut in keep_f:
                self._fail(fut, exc)
            keep_f, task = [], None
        return _Portion(run.owner, keep_f), task, MAP

    def _deal(self) -> None:
        while self._idle and self._queue:
            got = self._next()
            if got is None:
                return
            item, task, tag = got
            if isinstance(item, _Item):
                if not item.fut.set_running_or_notify_cancel():
                    continue  # cancelled while queued
            elif not item.futs:
                continue  # every chunk cancelled or failed
            worker = self._idle.popleft()
            owner = item.owner
            init = None
            if owner.init is not None and worker not in owner.started:
                owner.started.add(worker)
                init = owner.init
            tid = next(self._ids)
            self._running[tid] = (item, worker)
            owner.out += 1
            try:
                sent = self._z.start_send((tid, task, init), worker, tag)
            except Exception as exc:
                self._settled(tid)
                for fut in _futures_of(item):
                    self._fail(fut, exc)
                continue
            if sent is not None:
                runner.own(sent)

    def _settled(self, tid: int) -> _Item | _Portion:
        item, worker = self._running.pop(tid)
        item.owner.out -= 1
        self._idle.append(worker)
        if self._drained is not None and not self._running and not self._queue:
            self._drained.set()
        return item

    def _drop(self, owner: Owner | None, exc: BaseException | None) -> None:
        """Withdraw the queued tasks of ``owner`` (None: all): cancelled,
        or failed with ``exc``."""
        keep: deque[_Item | _Run] = deque()
        for item in self._queue:
            if owner is not None and item.owner is not owner:
                keep.append(item)
                continue
            for fut in [item.fut] if isinstance(item, _Item) else item.futs[item.next :]:
                if exc is None:
                    self._done.put(functools.partial(_cancel, fut))
                elif fut.set_running_or_notify_cancel():
                    self._fail(fut, exc)
        self._queue = keep
        if self._drained is not None and not self._running and not self._queue:
            self._drained.set()

    async def _answers(self) -> None:
        try:
            while True:
                st = zmqmesh.Status()
                tid, status, data, text = await self._z.recv(zmqmesh.ANY_SOURCE, RESULT, st)
                item = self._settled(tid)
                self._complete(item, status, data, text)
                self._deal()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a worker lost, a message that does not decode
            self._broken = exc
            failure = BrokenExecutor(f"the pool's workers are gone: {exc}")
            for item, _ in self._running.values():
                for fut in _futures_of(item):
                    self._fail(fut, failure)
            self._running.clear()
            self._drop(None, failure)
            raise

    def _fail(self, fut: Future[Any], exc: BaseException) -> None:
        self._done.put(lambda: fut.set_exception(exc))

    def _complete(self, item: _Item | _Portion, status: int, data: Any, text: str) -> None:
        futs = _futures_of(item)
        try:
            value = loads(data)
        except Exception as exc:
            for fut in futs:
                self._fail(fut, exc)
            return
        if status == OK:
            if isinstance(item, _Item):
                self._done.put(lambda: item.fut.set_result(value))
            else:  # one outcome per chunk
                self._done.put(lambda: _settle(futs, value))
            return
        value.__cause__ = RemoteTraceback(text)
        if status == BROKEN:
            owner = item.owner
            owner.broken = BrokenExecutor(f"the executor's initializer failed: {value!r}")
            owner.broken.__cause__ = value
            for fut in futs:
                self._fail(fut, owner.broken)
            self._drop(owner, owner.broken)
            return
        for fut in futs:
            self._fail(fut, value)

    async def _close(self) -> None:
        if self._running or self._queue:
            self._drained = asyncio.Event()
            await self._drained.wait()
        task, self._task = self._task, None
        assert task is not None
        if not task.done():
            task.cancel()
            await asyncio.wait([task])
        for worker in self.workers:
            with contextlib.suppress(zmqmesh.MeshError):  # one gone needs no word
                await self._z.send(None, worker, STOP)


def _settle(futs: list[Future[Any]], outcomes: list[tuple[int, Any, str]]) -> None:
    """Complete a portion's futures with the worker's outcomes, in order."""
    for fut, (status, value, text) in zip(futs, outcomes, strict=True):
        if status == OK:
            fut.set_result(value)
        else:
            value.__cause__ = RemoteTraceback(text)
            fut.set_exception(value)


def start_pool(comm: Intracomm, root: int) -> RankPool | None:
    """Collective over ``comm``: on ``root`` the pool of the other ranks;
    the other ranks serve it until the root closes it, then get None."""
    rank, size = comm.Get_rank(), comm.Get_size()
    private = comm.Dup()
    workers = comm.Split(C.UNDEFINED if rank == root else 0, rank)
    if rank == root:
        return RankPool(private, [r for r in range(size) if r != root], workers)
    try:
        serve(private, root, workers)
    finally:
        workers.Free()
        private.Free()
    return None


def _cancel(fut: Future[Any]) -> None:
    """Cancel a future not started, as an executor does: waiters of
    ``concurrent.futures.wait`` learn of it only by the notify."""
    if fut.cancel():
        fut.set_running_or_notify_cancel()
