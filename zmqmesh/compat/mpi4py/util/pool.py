"""``mpi4py.util.pool``: ``multiprocessing.pool``'s interface over
``mpi4py.futures``.

``Pool`` runs on an ``MPIPoolExecutor`` (so, as it, on the job's worker
ranks: start the job as ``zmqmesh launch --mpi4py -n N -m mpi4py.futures
script.py``), ``ThreadPool`` on threads of this process. ``processes``
bounds how many tasks run at once; ``chunksize=None`` is 1. Results of
``*_async`` calls are ``AsyncResult`` objects as in ``multiprocessing``
(their ``get`` raises ``multiprocessing.TimeoutError``); callbacks run on
the thread that completes the task, not the caller's. Leaving a ``with``
block terminates the pool (tasks not started are cancelled), as in
``multiprocessing``; ``close`` then ``join`` waits for every task.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Self

from zmqmesh.compat.mpi4py.futures._executor import MPIPoolExecutor, ThreadPoolExecutor
from zmqmesh.compat.mpi4py.futures._worker import run_chunk

__all__ = ["ApplyResult", "AsyncResult", "MapResult", "Pool", "ThreadPool"]

Callback = Callable[[Any], object] | None


class _Timeout(multiprocessing.TimeoutError, TimeoutError):
    """A result not ready in time: what ``except TimeoutError`` (mpi4py's
    pools) and ``except multiprocessing.TimeoutError`` both catch."""


class AsyncResult:
    """The result of an ``*_async`` call. As in ``multiprocessing``, its
    callback has run by the time it is ready."""

    def __init__(self, inner: cf.Future[Any], callback: Callback, error_callback: Callback) -> None:
        self._future: cf.Future[Any] = cf.Future()
        self._future.set_running_or_notify_cancel()
        self._callback, self._error_callback = callback, error_callback
        inner.add_done_callback(self._settle)

    def _settle(self, inner: cf.Future[Any]) -> None:
        exc: BaseException | None = None
        exc = (
            cf.CancelledError("the task was cancelled") if inner.cancelled() else inner.exception()
        )
        try:
            if exc is None and self._callback is not None:
                self._callback(inner.result())
            elif exc is not None and self._error_callback is not None:
                self._error_callback(exc)
        finally:
            if exc is None:
                self._future.set_result(inner.result())
            else:
                self._future.set_exception(exc)

    def get(self, timeout: float | None = None) -> Any:
        """The result once ready (raises the call's exception); after
        ``timeout`` seconds, or for a call the pool's ``terminate`` dropped,
        a ``TimeoutError`` (as mpi4py's; ``multiprocessing.TimeoutError``
        too, as ``multiprocessing``'s)."""
        try:
            return self._future.result(timeout)
        except (cf.TimeoutError, cf.CancelledError):
            raise _Timeout from None

    def wait(self, timeout: float | None = None) -> None:
        """Wait until the result is ready, or ``timeout`` seconds."""
        cf.wait([self._future], timeout)

    def ready(self) -> bool:
        """Whether the call has completed."""
        return self._future.done()

    def successful(self) -> bool:
        """Whether the call completed without raising; ``ValueError`` if not ready."""
        if not self._future.done():
            raise ValueError(f"{self!r} not ready")
        return self._future.exception() is None


class ApplyResult(AsyncResult):
    """The result of ``apply_async``."""


class MapResult(AsyncResult):
    """The result of ``map_async``/``starmap_async``: one list, in order;
    the first chunk to fail fails it."""

    def __init__(
        self, chunks: list[cf.Future[Any]], callback: Callback, error_callback: Callback
    ) -> None:
        self._whole: cf.Future[Any] = cf.Future()
        self._whole.set_running_or_notify_cancel()
        self._chunks, self._left, self._lock = chunks, len(chunks), threading.Lock()
        self._decided = False
        super().__init__(self._whole, callback, error_callback)
        if not chunks:
            self._whole.set_result([])
        for chunk in chunks:
            chunk.add_done_callback(self._chunk_done)

    def _chunk_done(self, chunk: cf.Future[Any]) -> None:
        with self._lock:
            self._left -= 1
            if self._decided:
                return
            if chunk.cancelled():
                failure: BaseException | None = cf.CancelledError("a task of the map was cancelled")
            else:
                failure = chunk.exception()
            if failure is None and self._left:
                return
            self._decided = True
        # completed outside the lock: the callbacks it runs may take long
        if failure is not None:
            self._whole.set_exception(failure)
        else:
            self._whole.set_result([v for c in self._chunks for v in c.result()])


class Pool:
    """A pool of workers with ``multiprocessing.pool.Pool``'s interface,
    over ``mpi4py.futures``. ``processes`` bounds the tasks run at once;
    ``initializer(*initargs)`` runs on each worker first; other keywords
    go to the executor."""

    Executor: Callable[..., MPIPoolExecutor] = MPIPoolExecutor

    def __init__(
        self,
        processes: int | None = None,
        initializer: Callable[..., object] | None = None,
        initargs: Iterable[Any] = (),
        **kwargs: Any,
    ) -> None:
        if processes is not None and processes < 1:
            raise ValueError("number of processes must be at least 1")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        for name in ("maxtasksperchild", "context"):  # multiprocessing's, as mpi4py
            if kwargs.pop(name, None) is not None:
                warnings.warn(f"argument {name!r} is not supported", stacklevel=2)
        self._executor = type(self).Executor(processes, initializer, initargs, **kwargs)
        self._state = "RUN"

    def _running(self) -> MPIPoolExecutor:
        if self._state != "RUN":
            raise ValueError("Pool not running")
        return self._executor

    def apply(self, func: Callable[..., Any], args: Iterable[Any] = (), kwds: Any = None) -> Any:
        """``func(*args, **kwds)`` on a worker; its result."""
        return self.apply_async(func, args, kwds).get()

    def apply_async(
        self,
        func: Callable[..., Any],
        args: Iterable[Any] = (),
        kwds: Any = None,
        callback: Callback = None,
        error_callback: Callback = None,
    ) -> ApplyResult:
        """``func(*args, **kwds)`` on a worker, as an ``ApplyResult``."""
        fut = self._running().submit(func, *args, **(kwds or {}))
        return ApplyResult(fut, callback, error_callback)

    def map(
        self, func: Callable[..., Any], iterable: Iterable[Any], chunksize: int | None = None
    ) -> list[Any]:
        """``list(map(func, iterable))``, the calls on the workers."""
        return self.starmap(func, ((x,) for x in iterable), chunksize)

    def map_async(
        self, func: Callable[..., Any], iterable: Iterable[Any], *more: Any, **named: Any
    ) -> MapResult:
        """``map`` as a ``MapResult``; then ``chunksize``, ``callback`` and
        ``error_callback``, as ``starmap_async``."""
        return self.starmap_async(func, ((x,) for x in iterable), *more, **named)

    def starmap(
        self, func: Callable[..., Any], iterable: Iterable[Any], chunksize: int | None = None
    ) -> list[Any]:
        """``list(itertools.starmap(func, iterable))``, the calls on the workers."""
        return self.starmap_async(func, iterable, chunksize).get()  # type: ignore[no-any-return]

    def starmap_async(
        self,
        func: Callable[..., Any],
        iterable: Iterable[Any],
        chunksize: int | None = None,
        callback: Callback = None,
        error_callback: Callback = None,
    ) -> MapResult:
        """``starmap`` as a ``MapResult`` (``callback(result list)`` or
        ``error_callback(exception)`` run before it is ready)."""
        items = [tuple(args) for args in iterable]
        n = _chunksize(chunksize)
        ex = self._running()
        futs = [ex.submit(run_chunk, func, items[i : i + n]) for i in range(0, len(items), n)]
        return MapResult(futs, callback, error_callback)

    def imap(
        self, func: Callable[..., Any], iterable: Iterable[Any], chunksize: int = 1
    ) -> Iterator[Any]:
        """``map`` as an iterator of the results, in order."""
        return self._running().map(func, iterable, chunksize=_chunksize(chunksize))

    def imap_unordered(
        self, func: Callable[..., Any], iterable: Iterable[Any], chunksize: int = 1
    ) -> Iterator[Any]:
        """``map`` as an iterator of the results, as they come."""
        n = _chunksize(chunksize)
        return self._running().map(func, iterable, chunksize=n, unordered=True)

    def istarmap(
        self, func: Callable[..., Any], iterable: Iterable[Any], chunksize: int = 1
    ) -> Iterator[Any]:
        """``starmap`` as an iterator of the results, in order."""
        return self._running().starmap(func, iterable, chunksize=_chunksize(chunksize))

    def istarmap_unordered(
        self, func: Callable[..., Any], iterable: Iterable[Any], chunksize: int = 1
    ) -> Iterator[Any]:
        """``starmap`` as an iterator of the results, as they come."""
        n = _chunksize(chunksize)
        return self._running().starmap(func, iterable, chunksize=n, unordered=True)

    def close(self) -> None:
        """No more tasks; the ones given run to completion."""
        if self._state == "RUN":
            self._state = "CLOSE"
            self._executor.shutdown(wait=False)

    def terminate(self) -> None:
        """No more tasks; the ones not started are cancelled."""
        self._state = "TERMINATE"
        self._executor.shutdown(wait=False, cancel_futures=True)

    def join(self) -> None:
        """Wait for the tasks; call ``close`` or ``terminate`` first (``ValueError``)."""
        if self._state == "RUN":
            raise ValueError("Pool is still running")
        self._executor.shutdown(wait=True)

    def __enter__(self) -> Self:
        self._running()
        return self

    def __exit__(self, *exc: object) -> None:
        self.terminate()
        self.join()


class ThreadPool(Pool):
    """``Pool`` over threads of this process (``processes`` threads)."""

    Executor = ThreadPoolExecutor


def _chunksize(chunksize: int | None) -> int:
    if chunksize is None:
        return 1
    if type(chunksize) is not int or chunksize < 1:
        raise ValueError(f"Chunksize must be 1+, not {chunksize!r}")
    return chunksize
