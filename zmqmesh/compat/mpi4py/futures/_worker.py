"""The worker side of ``mpi4py.futures``: a rank that serves tasks.

Theory of operation. A worker waits, in a blocking receive of the layer,
for a message from the pool's root on the pool's private communicator:
``TASK`` carries ``(task id, task, initializer)`` (both in ``pkl5``'s
form: pickle stream and out-of-band buffers, so large arguments travel
without copies; the initializer comes with the first task an executor
gives this worker, None afterwards); ``MAP`` carries ``(task id, pkl5 form
of (fn, chunks), initializer)``, a portion of a map: the chunks are run
in order, each ``[fn(*args) for args in chunk]``; ``STOP`` ends the
service. The worker runs the initializer, then the task, and answers
``RESULT``: ``(task id, status, pkl5 form of the value or exception,
traceback text)`` with status ``OK``, ``FAILED`` (the task or its
unpickling raised) or ``BROKEN`` (the initializer raised: the executor is
broken); for a portion the value is a list of one outcome per chunk,
``(status, value or exception, traceback text)``. A value or
exception that cannot be pickled is answered as a ``RuntimeError`` naming
it. Tasks run in the worker's program thread, one at a time, and may make
MPI calls; ``get_comm_workers()`` gives them the workers' communicator.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import zmqmesh
from zmqmesh.compat.mpi4py import runner
from zmqmesh.compat.mpi4py.comm import COMM_NULL, Intracomm
from zmqmesh.compat.mpi4py.util.pkl5 import dumps, loads

__all__ = [
    "BROKEN",
    "FAILED",
    "MAP",
    "OK",
    "RESULT",
    "STOP",
    "TASK",
    "RemoteTraceback",
    "get_comm_workers",
    "identity",
    "in_thread",
    "run_chunk",
    "serve",
]

TASK, RESULT, STOP, MAP = 1, 2, 3, 4
OK, FAILED, BROKEN = 0, 1, 2

_workers: list[Intracomm] = []  # the workers' communicator while this rank serves
_in_thread = threading.local()  # ``comm``: that of a task running in a thread here


class RemoteTraceback(Exception):
    """The traceback of a task's exception, where it was raised (set as
    the exception's ``__cause__`` on the root)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def get_comm_workers() -> Any:
    """In a task running on a worker: the intracommunicator of the pool's
    workers (for tasks that communicate among themselves). Elsewhere
    ``MPI.COMM_NULL``."""
    comm = getattr(_in_thread, "comm", None)
    if comm is not None:
        return comm
    return _workers[-1] if _workers else COMM_NULL


def in_thread(comm: Any, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    """``fn(*args, **kw)`` as a task of a pool of threads of this process,
    for which ``get_comm_workers`` gives ``comm`` (``COMM_SELF`` for the
    threads of a job of one rank, as in mpi4py)."""
    _in_thread.comm = comm
    try:
        return fn(*args, **kw)
    finally:
        _in_thread.comm = None


def identity(arg: Any) -> Any:
    """``arg``: the task of ``mpi4py.bench futures``."""
    return arg


def run_chunk(fn: Callable[..., Any], items: Sequence[tuple[Any, ...]]) -> list[Any]:
    """``[fn(*args) for args in items]``: one task of ``map``/``starmap``."""
    return [fn(*args) for args in items]


def _failure(exc: BaseException) -> Any:
    try:
        return dumps(exc)
    except Exception:  # an exception that does not pickle: say what it was
        return dumps(RuntimeError(f"{type(exc).__qualname__}: {exc}"))


def _initialize(tid: int, init: Any) -> tuple[int, int, Any, str] | None:
    """Run the initializer, if any; the answer when it raised."""
    if init is not None:
        try:
            initializer, initargs = loads(init)
            initializer(*initargs)
        except Exception as exc:
            return tid, BROKEN, _failure(exc), traceback.format_exc()
    return None


def _answer(tid: int, task: Any, init: Any) -> tuple[int, int, Any, str]:
    if (broken := _initialize(tid, init)) is not None:
        return broken
    try:
        fn, args, kwargs = loads(task)
        value = fn(*args, **kwargs)
    except Exception as exc:
        return tid, FAILED, _failure(exc), traceback.format_exc()
    try:
        return tid, OK, dumps(value), ""
    except Exception as exc:
        text = f"the result of type {type(value).__qualname__} cannot be pickled: {exc}"
        return tid, FAILED, dumps(RuntimeError(text)), traceback.format_exc()


def _outcome(chunk_outcome: tuple[int, Any, str]) -> tuple[int, Any, str]:
    """One chunk's outcome as it pickles: what does not becomes a
    ``RuntimeError`` naming it, as for a task."""
    status, value, text = chunk_outcome
    try:
        dumps(value)
    except Exception as exc:
        if status != OK:
            return status, RuntimeError(f"{type(value).__qualname__}: {value}"), text
        text = f"the result of type {type(value).__qualname__} cannot be pickled: {exc}"
        return FAILED, RuntimeError(text), traceback.format_exc()
    return chunk_outcome


def _answer_portion(tid: int, task: Any, init: Any) -> tuple[int, int, Any, str]:
    if (broken := _initialize(tid, init)) is not None:
        return broken
    try:
        fn, chunks = loads(task)
    except Exception as exc:  # every chunk fails with it
        return tid, FAILED, _failure(exc), traceback.format_exc()
    outcomes: list[tuple[int, Any, str]] = []
    for chunk in chunks:
        try:
            outcomes.append((OK, run_chunk(fn, chunk), ""))
        except Exception as exc:
            outcomes.append((FAILED, exc, traceback.format_exc()))
    try:
        return tid, OK, dumps(outcomes), ""
    except Exception:
        return tid, OK, dumps([_outcome(o) for o in outcomes]), ""


def serve(comm: Intracomm, root: int, workers: Intracomm) -> None:
    """Run the tasks ``root`` sends on ``comm`` until it says ``STOP``."""
    z = comm._z()
    _workers.append(workers)
    try:
        while True:
            st = zmqmesh.Status()
            msg = runner.run(z.recv(root, zmqmesh.ANY_TAG, st))
            if st.tag == STOP:
                return
            tid, task, init = msg
            answer = _answer_portion if st.tag == MAP else _answer
            runner.run(z.send(answer(tid, task, init), root, RESULT))
    finally:
        _workers.pop()
