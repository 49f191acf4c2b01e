"""``MPIPoolExecutor``, ``MPICommExecutor`` and the executors over the
standard library's pools, with mpi4py's interface.

An executor hands tasks to a *backend*: the job's worker ranks
(``RankPool``: under ``python -m mpi4py.futures``, one pool that every
``MPIPoolExecutor`` of the script shares; in ``MPICommExecutor``, the
other ranks of its communicator), or a ``concurrent.futures`` pool of
threads or processes (``ThreadPoolExecutor``, ``ProcessPoolExecutor``,
and a communicator of one rank). An ``MPIPoolExecutor`` made outside
``python -m mpi4py.futures`` by a job of one process spawns workers of
its own at its first task (``_spawned``), as mpi4py's does; in a job of
more ranks it raises ``RuntimeError`` saying how to start the job.
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, Self

from zmqmesh.compat.mpi4py.comm import COMM_SELF, COMM_WORLD, Intracomm
from zmqmesh.compat.mpi4py.futures._pool import Owner, RankPool, start_pool
from zmqmesh.compat.mpi4py.futures._spawned import SpawnedPool
from zmqmesh.compat.mpi4py.futures._worker import in_thread, run_chunk
from zmqmesh.compat.mpi4py.inter import Intercomm
from zmqmesh.compat.mpi4py.util.pkl5 import dumps

__all__ = [
    "MPICommExecutor",
    "MPIPoolExecutor",
    "ProcessPoolExecutor",
    "ThreadPoolExecutor",
    "set_shared_pool",
]


_HOW = (
    "MPIPoolExecutor needs worker processes: a job of one process spawns them, and a job "
    "of N ranks has them in it when started as "
    "'zmqmesh launch --mpi4py -n N -m mpi4py.futures script.py' (rank 0 runs the script, "
    "the other N-1 ranks are the workers); or use 'with MPICommExecutor(comm, root) as "
    "executor:' in a program that every rank runs"
)


class _Backend(Protocol):
    def submit(self, owner: Owner, fn: Callable[..., Any], args: Any, kw: Any) -> cf.Future[Any]:
        """A future of ``fn(*args, **kw)``."""
        ...

    def map(
        self, owner: Owner, fn: Callable[..., Any], chunks: Sequence[Sequence[tuple[Any, ...]]]
    ) -> list[cf.Future[Any]]:
        """A future per chunk of ``[fn(*args) for args in chunk]``."""
        ...

    def cancel_queued(self, owner: Owner) -> None:
        """Cancel ``owner``'s tasks not started."""
        ...

    def close(self, wait: bool = True) -> None:
        """Release what the backend holds (once every task is done, with ``wait``)."""
        ...

    def size(self) -> int:
        """How many worker processes (or threads) run its tasks; a pool
        that starts its workers at the first task starts them now."""
        ...


class _Local:
    """A backend over a ``concurrent.futures`` pool of the standard library."""

    def __init__(self, pool: cf.Executor) -> None:
        self._pool = pool
        self._lock = threading.Lock()
        self._queued: dict[int, list[cf.Future[Any]]] = {}

    def submit(self, owner: Owner, fn: Callable[..., Any], args: Any, kw: Any) -> cf.Future[Any]:
        if owner.broken is not None:
            raise cf.BrokenExecutor(str(owner.broken))
        fut = self._pool.submit(_initialized, owner, fn, args, kw)
        with self._lock:
            self._queued.setdefault(id(owner), []).append(fut)
        return fut

    def map(
        self, owner: Owner, fn: Callable[..., Any], chunks: Sequence[Sequence[tuple[Any, ...]]]
    ) -> list[cf.Future[Any]]:
        return [self.submit(owner, run_chunk, (fn, chunk), {}) for chunk in chunks]

    def cancel_queued(self, owner: Owner) -> None:
        with self._lock:
            for fut in self._queued.pop(id(owner), []):
                fut.cancel()

    def close(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)

    def size(self) -> int:
        return int(getattr(self._pool, "_max_workers", 1))


def _initialized(owner: Owner, fn: Callable[..., Any], args: Any, kw: Any) -> Any:
    """``fn(*args, **kw)``, after ``owner``'s initializer the first time in
    this thread."""
    if owner.initializer is not None and threading.get_ident() not in owner.started:
        owner.started.add(threading.get_ident())
        try:
            owner.initializer(*owner.initargs)
        except Exception as exc:
            owner.broken = cf.BrokenExecutor(f"the executor's initializer failed: {exc!r}")
            raise owner.broken from exc
    if owner.broken is not None:
        raise owner.broken
    if owner.comm_workers is not None:
        return in_thread(owner.comm_workers, fn, *args, **kw)
    return fn(*args, **kw)


_shared: list[RankPool | _Local] = []  # the pool of ``python -m mpi4py.futures``

shared_pools = _shared  # (read by ``_core``)


def set_shared_pool(pool: RankPool | _Local | None) -> None:
    """Make ``pool`` the one every ``MPIPoolExecutor`` uses (None: no pool)."""
    _shared[:] = [] if pool is None else [pool]


def _default_workers() -> int:
    """How many processes an ``MPIPoolExecutor`` spawns without
    ``max_workers``: ``MPI4PY_FUTURES_MAX_WORKERS``, else one per core but
    this process's (at least one)."""
    env = os.environ.get("MPI4PY_FUTURES_MAX_WORKERS")
    if env:
        return max(int(env), 1)
    return max((os.cpu_count() or 2) - 1, 1)


def _max_workers(max_workers: int | None) -> int | None:
    if max_workers is None:
        env = os.environ.get("MPI4PY_FUTURES_MAX_WORKERS")
        if not env:
            return None
        try:
            max_workers = int(env)
        except ValueError:
            raise ValueError(f"MPI4PY_FUTURES_MAX_WORKERS={env!r} is not an integer") from None
    if type(max_workers) is not int:
        raise TypeError(f"max_workers must be an int or None, not {type(max_workers).__name__}")
    if max_workers <= 0:
        raise ValueError("max_workers must be greater than 0")
    return max_workers


class MPIPoolExecutor(cf.Executor):
    """Run calls asynchronously on a pool of worker ranks (see the module).

    ``max_workers`` (or ``MPI4PY_FUTURES_MAX_WORKERS``) bounds how many of
    this executor's tasks run at once; the pool itself is the job's worker
    ranks. ``initializer(*initargs)`` runs on each worker before its first
    task of this executor; if it raises, the executor is broken: its
    pending futures and later submissions raise ``BrokenExecutor``.
    Outside ``python -m mpi4py.futures``, in a job of one process, it
    spawns ``max_workers`` worker processes of its own at its first task
    (else ``MPI4PY_FUTURES_MAX_WORKERS``, else one per core but this
    one's) with ``python_exe`` (default ``sys.executable``); the other
    spawning keywords of mpi4py (``mpi_info``, ``path``, ...) are accepted
    and ignored. In a larger job it raises ``RuntimeError`` saying how to
    start the job instead.
    """

    def __init__(
        self,
        max_workers: int | None = None,
        initializer: Callable[..., object] | None = None,
        initargs: Iterable[Any] = (),
        **kwargs: Any,
    ) -> None:
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        self._owner = Owner(_max_workers(max_workers))
        self._initializer, self._initargs = initializer, tuple(initargs)
        self._kwargs = kwargs
        self._backend: _Backend = self._make_backend()
        self._shutdown = False
        self._lock = threading.Lock()
        self._futures: set[cf.Future[Any]] = set()

    def _make_backend(self) -> _Backend:
        if self._initializer is not None:
            self._owner.init = dumps((self._initializer, self._initargs))
            self._owner.initializer, self._owner.initargs = self._initializer, self._initargs
        if not _shared:
            # workers of its own, spawned by a job of one process
            # (``_spawned``); every rank of a larger job spawning its own
            # would take the host many times over
            if COMM_WORLD.Get_size() > 1:
                raise RuntimeError(_HOW)
            n = self._owner.max_workers or _default_workers()
            return SpawnedPool(n, self._kwargs.get("python_exe"))
        if isinstance(_shared[0], _Local):  # a job of one rank: a thread serves
            self._owner.comm_workers = COMM_SELF
        return _shared[0]

    def _owns_backend(self) -> bool:
        return not _shared

    @property
    def _max_workers(self) -> int:
        return self.num_workers

    @property
    def num_workers(self) -> int:
        """The number of worker processes (0 once shut down or broken);
        spawned workers are spawned now, as ``bootup`` does."""
        with self._lock:
            if self._shutdown or self._owner.broken is not None:
                return 0
        return self._backend.size()

    def bootup(self, wait: bool = True) -> Self:
        """Make sure the workers are ready (spawned ones are spawned now). Returns ``self``."""
        if self._shutdown:
            raise RuntimeError("cannot bootup after shutdown")
        if isinstance(self._backend, SpawnedPool):
            self._backend.start()
        return self

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        """Schedule ``fn(*args, **kwargs)``; its ``concurrent.futures.Future``.
        Raises ``RuntimeError`` after ``shutdown``, ``BrokenExecutor`` once broken."""
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            fut = self._backend.submit(self._owner, fn, args, kwargs)
            self._futures.add(fut)
        fut.add_done_callback(self._futures.discard)  # no lock: may run on another thread
        return fut

    def map(
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int = 1,
        buffersize: int | None = None,
        unordered: bool = False,
    ) -> Iterator[Any]:
        """``map(fn, *iterables)`` run as tasks of ``chunksize`` calls each;
        results in input order, or as tasks complete with ``unordered``;
        with ``buffersize``, at most that many tasks submitted and not yet
        yielded. Raises ``TimeoutError`` from ``next`` past ``timeout`` seconds."""
        args = (timeout, chunksize, buffersize, unordered)
        return self.starmap(fn, zip(*iterables, strict=False), *args)

    def starmap(
        self,
        fn: Callable[..., Any],
        iterable: Iterable[Any],
        timeout: float | None = None,
        chunksize: int = 1,
        buffersize: int | None = None,
        unordered: bool = False,
    ) -> Iterator[Any]:
        """``itertools.starmap(fn, iterable)`` as ``map`` runs it."""
        if type(chunksize) is not int or chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        if buffersize is not None and type(buffersize) is not int:
            raise TypeError("buffersize must be an integer or None")
        if buffersize is not None and buffersize < 1:
            raise ValueError("buffersize must be None or >= 1.")
        if buffersize is not None and unordered:  # (as mpi4py)
            raise ValueError("buffersize and unordered=True cannot be combined")
        items = [tuple(args) for args in iterable]
        end = None if timeout is None else time.monotonic() + timeout
        chunks = [items[i : i + chunksize] for i in range(0, len(items), chunksize)]
        if buffersize is not None:
            rest = iter(chunks)
            window = deque(
                self.submit(run_chunk, fn, c) for c in itertools.islice(rest, buffersize)
            )
            more = (self.submit(run_chunk, fn, c) for c in rest)
            return _windowed(window, more, end)
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            # one entry for the backend, whose futures complete chunk by chunk
            futs = self._backend.map(self._owner, fn, chunks)
            self._futures.update(futs)
        for fut in futs:
            fut.add_done_callback(self._futures.discard)
        return _results(futs, end, unordered)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No more submissions; with ``cancel_futures`` the tasks not started
        are cancelled; with ``wait`` returns once every task is done."""
        with self._lock:
            self._shutdown = True
        if cancel_futures:
            self._backend.cancel_queued(self._owner)
        if wait:
            cf.wait(self._futures.copy())
        if self._owns_backend():
            self._backend.close(wait)


def _results(futs: list[cf.Future[Any]], end: float | None, unordered: bool) -> Iterator[Any]:
    try:
        if unordered:
            left = None if end is None else end - time.monotonic()
            for fut in cf.as_completed(futs, timeout=left):
                yield from fut.result()
        else:
            for fut in futs:
                left = None if end is None else end - time.monotonic()
                yield from fut.result(timeout=left)
    finally:
        for fut in futs:
            fut.cancel()


def _windowed(
    window: deque[cf.Future[Any]],
    more: Iterator[cf.Future[Any]],
    end: float | None,
) -> Iterator[Any]:
    """The results of ``window``'s tasks, in order, submitting the next of
    ``more`` as each one's are yielded."""
    try:
        while window:
            left = None if end is None else end - time.monotonic()
            fut = window.popleft()
            got = fut.result(timeout=left)
            window.extend(itertools.islice(more, 1))
            yield from got
    finally:
        for fut in window:
            fut.cancel()


class ThreadPoolExecutor(MPIPoolExecutor):
    """``MPIPoolExecutor``'s interface over a pool of ``max_workers`` threads
    of this process (default: as ``concurrent.futures.ThreadPoolExecutor``)."""

    def _make_backend(self) -> _Backend:
        # the initializer runs in ``_initialized``, once per thread: the
        # standard pool's own, when it fails, dies on a cancelled future
        # (InvalidStateError) and leaves the other futures pending for ever
        self._owner.initializer, self._owner.initargs = self._initializer, self._initargs
        return _Local(cf.ThreadPoolExecutor(self._owner.max_workers))

    def _owns_backend(self) -> bool:
        return True


class ProcessPoolExecutor(MPIPoolExecutor):
    """``MPIPoolExecutor``'s interface over a pool of ``max_workers`` local
    processes (``concurrent.futures.ProcessPoolExecutor``), started fresh
    (``spawn``): they import the program's main module again, as
    ``__mp_main__``, and must not use MPI."""

    def _make_backend(self) -> _Backend:
        # Forked children would inherit the layer's threads and sockets
        # half-way (a fork keeps only the forking thread): they start fresh.
        return _Local(
            cf.ProcessPoolExecutor(
                self._owner.max_workers,
                multiprocessing.get_context("spawn"),
                self._initializer,
                self._initargs,
            )
        )

    def _owns_backend(self) -> bool:
        return True


class _RankExecutor(MPIPoolExecutor):
    """The root's executor of an ``MPICommExecutor``: its own pool."""

    _pool: RankPool

    def __init__(self, pool: RankPool, **kwargs: Any) -> None:
        self._pool = pool
        super().__init__(**kwargs)

    def _make_backend(self) -> _Backend:
        if self._initializer is not None:
            self._owner.init = dumps((self._initializer, self._initargs))
        return self._pool

    def _owns_backend(self) -> bool:
        return True


class MPICommExecutor:
    """``with MPICommExecutor(comm, root) as executor:`` (collective over
    ``comm``, default ``MPI.COMM_WORLD``): on ``root`` an executor whose
    workers are the other ranks, which meanwhile serve tasks and get None
    once the root leaves the block (its exit waits for every task). On a
    communicator of one rank the executor runs tasks in one thread; under
    ``python -m mpi4py.futures`` (where only rank 0 runs the program) it is
    an executor of the job's shared pool. Keywords go to the executor
    (``max_workers``, ``initializer``, ``initargs``)."""

    def __init__(self, comm: Intracomm | None = None, root: int = 0, **kwargs: Any) -> None:
        comm = COMM_WORLD if comm is None else comm
        if isinstance(comm, Intercomm):  # as mpi4py: a value error
            raise ValueError("MPICommExecutor needs an intracommunicator, not an Intercomm")
        if not isinstance(comm, Intracomm):
            raise TypeError(f"MPICommExecutor needs an MPI.Intracomm, not {type(comm).__name__}")
        if not comm:
            raise ValueError("MPICommExecutor: comm is the null communicator")
        size = comm.Get_size()
        if type(root) is not int or not 0 <= root < size:
            raise ValueError(f"root {root!r} out of range for a communicator of size {size}")
        # checked here, on every rank alike: once the pool starts, the
        # workers serve until the root's executor stops them
        _max_workers(kwargs.get("max_workers"))
        if kwargs.get("initializer") is not None and not callable(kwargs["initializer"]):
            raise TypeError("initializer must be a callable")
        self._comm, self._root, self._kwargs = comm, root, kwargs
        self._executor: MPIPoolExecutor | None = None

    def __enter__(self) -> MPIPoolExecutor | None:
        if self._executor is not None:
            raise RuntimeError("MPICommExecutor is not reentrant")
        if _shared:  # under -m mpi4py.futures the other ranks serve already
            self._executor = MPIPoolExecutor(**self._kwargs)
            return self._executor
        if self._comm.Get_size() == 1:
            kwargs = {**self._kwargs, "max_workers": 1}
            self._executor = ThreadPoolExecutor(**kwargs)
            self._executor._owner.comm_workers = COMM_SELF  # as mpi4py's thread serves
            return self._executor
        pool = start_pool(self._comm, self._root)
        if pool is None:
            return None
        try:
            self._executor = _RankExecutor(pool, **self._kwargs)
        except BaseException:
            pool.close()
            raise
        return self._executor

    def __exit__(self, *args: object) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
