"""``zmqmesh.Executor``: the work-stealing task executor of API.md."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from types import TracebackType
from typing import Any, ClassVar

from zmqmesh.runtime.bootstrap import on_terminal
from zmqmesh.runtime.comm import Comm
from zmqmesh.scheduler.actors import ActorHandle
from zmqmesh.scheduler.node import Node
from zmqmesh.scheduler.tasks import fn_ref, run_chunk, run_chunk_async

__all__ = ["Executor"]


class Executor:
    """Run tasks on the ranks of ``comm``, with work stealing between them.

    ``async with Executor(comm, root=0) as ex:`` is entered by every rank of
    ``comm`` (it is collective). On ``root`` it gives the executor; the
    other ranks get None and run tasks until the root leaves the block,
    which waits for every task submitted. A communicator of one rank runs
    the tasks on that rank, off its event-loop thread.

    Functions go by reference (module-level functions, including those of
    the launched script) or, with pickle allowed, by value. Arguments and
    results follow the message rules; NumPy arrays travel without copies,
    so an array passed to ``submit`` must not change until its task is
    done. A task run on the rank that submitted it (a nested task kept by
    its worker, or any task of a one-rank executor) gets its arguments and
    gives its result as they are, without the trip through the codec. A
    task that raises fails its future with :class:`~zmqmesh.RemoteError`;
    the tasks of a worker that dies run again elsewhere, at most
    ``max_retries`` times, after which the future fails with
    :class:`~zmqmesh.RankFailedError`. A coroutine task may submit
    nested tasks through :meth:`Executor.current` and await them.

    Task graphs: a future of this executor (of a task or an actor call)
    passed as an argument of :meth:`submit` is replaced by its value on the
    worker (nested in lists, tuples or dicts: by a done future holding the
    value); the task waits for its inputs, and runs where most of their
    bytes are. A failed input fails the task with the same ``RemoteError``
    marked ``upstream``. Results of 100 KiB or more stay on the worker that
    made them until awaited here or needed by another task, and move worker
    to worker; they are freed once no future refers to them
    (:meth:`release`, or garbage collection) and no pending task needs
    them. Such a result lost with its worker is made again from its
    lineage while still needed. Futures of results left unawaited are
    cancelled when the block ends. Actors: :meth:`actor`.
    """

    _active: ClassVar[list[Executor]] = []

    def __init__(self, comm: Comm, root: int = 0, *, max_retries: int = 3) -> None:
        if not isinstance(comm, Comm):
            raise TypeError(f"Executor needs a zmqmesh Comm, not {type(comm).__name__}")
        if type(root) is not int or not 0 <= root < comm.size:
            raise ValueError(f"root {root!r} is not a rank of a communicator of size {comm.size}")
        if type(max_retries) is not int or max_retries < 0:
            raise ValueError(f"max_retries must be an int >= 0, got {max_retries!r}")
        self._comm = comm
        self._root = root
        self._max_retries = max_retries
        self._node: Node | None = None
        self._closed = False

    async def __aenter__(self) -> Executor | None:
        if self._node is not None or self._closed:
            raise RuntimeError("an Executor can be entered once")
        xc = await self._comm.dup()
        self._node = Node(xc, self._root, self._max_retries)
        Executor._active.append(self)
        return self if self._comm.rank == self._root else None

    async def __aexit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        node = self._node
        assert node is not None
        try:
            if self._comm.rank == self._root:
                if et is None:  # wait for every task (a cancelled future: not for it)
                    while pending := [f for f in node.futures.values() if not f.done()]:
                        await asyncio.wait(pending)
                await node.finish_root()
            else:
                await node.serve()
        finally:
            self._closed = True
            Executor._active.remove(self)

    @staticmethod
    def current() -> Executor | None:
        """The executor this process serves or runs, if any: a coroutine
        task calls ``Executor.current().submit(...)`` to fork nested tasks."""
        return Executor._active[-1] if Executor._active else None

    def _live_node(self) -> Node:
        node = self._node
        if node is None or self._closed:
            raise RuntimeError("the Executor is not running (use it inside 'async with')")
        if threading.get_ident() != node.thread:
            raise RuntimeError(
                "submit from the event loop: a plain (non-async) task cannot submit "
                "nested tasks; make it a coroutine function"
            )
        return node

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, retries: int = 0, **kwargs: Any
    ) -> asyncio.Future[Any]:
        """*sync*: schedule ``fn(*args, **kwargs)``; returns its future.
        Futures of this executor among the arguments (of tasks or actor
        calls; top-level, or nested in lists, tuples and dicts) are inputs:
        the task runs once they are done, with their values (a nested one
        as a done future holding it), and fails with an input's
        ``RemoteError`` marked ``upstream`` if one failed. Raises
        ``TypeError`` at once for a function or arguments that cannot
        travel, ``ValueError`` for a cancelled or released future or one of
        another executor. A task that raises fails the future with ``RemoteError``
        (the remote type, message and traceback, the worker's rank and the
        task); with ``retries=N`` it runs again up to N times first, as Dask's
        ``retries`` (the keyword is the executor's, not passed to ``fn``).
        Cancelling the future does not stop the task where it runs:
        its result is dropped when it arrives, and the executor and its
        other tasks carry on."""
        return self._live_node().submit(fn, args, kwargs, _retries(retries))

    def actor(
        self,
        cls: type,
        /,
        *args: Any,
        concurrency: int = 1,
        restart: bool = False,
        **kwargs: Any,
    ) -> ActorHandle:
        """*sync*: make ``cls(*args, **kwargs)`` on one worker (chosen as
        tasks are dealt) and return its handle at once. ``handle.m(*a,
        **kw)`` calls method ``m`` there and returns its future; the calls
        made through a handle run in the order made, one at a time (with
        ``concurrency=N``, up to N coroutine methods interleave at their
        awaits; plain methods always run alone, on the actor's own thread).
        Futures may be arguments of calls, and call futures arguments of
        tasks and of other calls. ``handle.rank`` is where it lives;
        ``await handle.close()`` ends it after the calls made before, and
        leaving the executor ends every actor. When the actor's worker
        dies, its calls not yet answered and all later ones fail with
        :class:`~zmqmesh.ActorDiedError`; with ``restart=True`` the actor
        is made again from its constructor on another worker (at most
        ``max_retries`` times) and those calls run there, in order. A
        constructor that raises makes every call fail with
        ``ActorDiedError`` carrying its error. ``cls`` travels like a task
        function (by reference, or by value with pickle allowed)."""
        return self._live_node().actor(cls, args, kwargs, concurrency, restart)

    def release(self, fut: asyncio.Future[Any]) -> None:
        """*sync*: the caller no longer needs ``fut``'s result: a result
        kept on a worker is freed there as soon as no pending task uses it
        (as when the future is garbage-collected). A future not done yet is
        cancelled. Raises ``ValueError`` for a future of another executor."""
        self._live_node().release(fut)

    async def map(
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        chunksize: int = 1,
        progress: bool = False,
        retries: int = 0,
    ) -> list[Any]:
        """``[fn(*xs) for xs in zip(*iterables)]`` as tasks, in input order.
        ``chunksize`` items go in one task; ``progress=True`` shows a bar on
        this terminal (tqdm if installed, else a plain line). The first task
        to fail raises its error here; ``retries`` as for :meth:`submit`,
        per task (a chunk runs again whole)."""
        if type(chunksize) is not int or chunksize < 1:
            raise ValueError(f"chunksize must be an int >= 1, got {chunksize!r}")
        if not iterables:
            raise TypeError("map() needs at least one iterable")
        retries = _retries(retries)
        node = self._live_node()
        items = list(zip(*iterables, strict=False))
        if chunksize == 1:
            futs = [node.submit(fn, item, {}, retries) for item in items]
        else:
            ref = fn_ref(fn, node.allow_pickle)
            chunk = run_chunk_async if asyncio.iscoroutinefunction(fn) else run_chunk
            futs = [
                node.submit(chunk, (ref, items[i : i + chunksize]), {}, retries)
                for i in range(0, len(items), chunksize)
            ]
        if progress:
            _Progress(futs, len(items), chunksize)
        results = await asyncio.gather(*futs)
        if chunksize == 1:
            return list(results)
        return [x for part in results for x in part]

    async def as_completed(
        self, futs: Iterable[asyncio.Future[Any]]
    ) -> AsyncIterator[asyncio.Future[Any]]:
        """Yield the futures ``futs`` as they complete."""
        pending = list(futs)
        queue: asyncio.Queue[asyncio.Future[Any]] = asyncio.Queue()
        for fut in pending:
            fut.add_done_callback(queue.put_nowait)
        for _ in pending:
            yield await queue.get()

    def stats(self) -> dict[int, dict[str, int]]:
        """*sync*: per worker rank, the tasks it ``run``, ``stolen`` (taken
        from others) and ``given`` (taken by others), counting each item of
        a ``map`` chunk. ``run`` is exact as soon as the results it counts
        are in (the counts ride with them); tasks that workers submit to
        each other are counted within a quarter of a second; all of it is
        exact once the block has been left."""
        node = self._node
        if node is None:
            return {}
        counts = dict(node.counts)
        if node.worker is not None and node.rank == self._root:
            counts[node.rank] = list(node.worker.counts)
        return {w: {"run": c[0], "stolen": c[1], "given": c[2]} for w, c in sorted(counts.items())}


class _Progress:
    """A progress bar over ``futs``: tqdm if installed; else one line
    redrawn in place on a terminal, or a line per tenth when the output is
    a pipe (as under the launcher, which prefixes every line)."""

    def __init__(self, futs: list[asyncio.Future[Any]], total: int, per: int) -> None:
        self.done = 0
        self.total = total
        self.per = per
        self.tty = on_terminal()
        self.shown = 0
        self.start = time.monotonic()
        try:
            from tqdm import tqdm  # type: ignore[import-untyped]

            self.bar: Any = tqdm(total=total, file=sys.stderr)
        except ImportError:
            self.bar = None
        for fut in futs:
            fut.add_done_callback(self._one)

    def _one(self, fut: asyncio.Future[Any]) -> None:
        n = min(self.per, self.total - self.done)
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            if self.done >= self.total:
                self.bar.close()
            return
        last = self.done >= self.total
        if self.tty:
            end = "\n" if last else ""
            print(f"\r{self.line()}", end=end, file=sys.stderr, flush=True)
        elif last or self.done * 10 // self.total > self.shown:
            self.shown = self.done * 10 // self.total
            print(self.line(), file=sys.stderr, flush=True)

    def line(self) -> str:
        """``tasks 40/100 (1,234/s, ETA 0:05)``: done, rate and time left."""
        took = max(time.monotonic() - self.start, 1e-9)
        rate = self.done / took
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        eta = f"{int(left) // 60}:{int(left) % 60:02d}"
        return f"tasks {self.done}/{self.total} ({rate:,.0f}/s, ETA {eta})"


def _retries(n: Any) -> int:
    if type(n) is not int or n < 0:
        raise ValueError(f"retries must be an int >= 0, got {n!r}")
    return n
