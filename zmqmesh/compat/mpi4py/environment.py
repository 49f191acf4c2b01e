"""The environment calls of ``MPI``: start-up and shut-down, threads,
versions, time, memory.

Threads: ``THREAD_MULTIPLE``. Calls from several threads may overlap: they
take turns driving the layer's one event loop (``runner``), so a call in
one thread never waits on another thread's call that it needs (a receive
in one thread for what another sends). ``Init``/``Init_thread`` join
the job at once (otherwise ``COMM_WORLD`` joins on first use);
``Finalize`` runs at interpreter exit when the program does not call it.
"""

from __future__ import annotations

import atexit
import operator
import socket
import threading
import time
from typing import Any

import zmqmesh
from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import runner
from zmqmesh.compat.mpi4py.comm import COMM_WORLD
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.membuf import buffer
from zmqmesh.compat.mpi4py.topospec import fixed

__all__ = [
    "Alloc_mem",
    "Compute_dims",
    "Finalize",
    "Free_mem",
    "Get_library_version",
    "Get_processor_name",
    "Get_version",
    "Init",
    "Init_thread",
    "Is_finalized",
    "Is_initialized",
    "Is_thread_main",
    "Pcontrol",
    "Query_thread",
    "Wtick",
    "Wtime",
    "buffer",
    "get_vendor",
]

THREAD_LEVEL = C.THREAD_MULTIPLE
_state = {"finalized": False, "provided": THREAD_LEVEL, "initialized": True}


def started(options: dict[str, Any]) -> None:
    """At ``MPI``'s import: what ``mpi4py.rc`` says (``options.at_import``)."""
    _state["initialized"] = bool(options["initialize"])
    names = ("single", "funneled", "serialized", "multiple")
    levels = (C.THREAD_SINGLE, C.THREAD_FUNNELED, C.THREAD_SERIALIZED, C.THREAD_MULTIPLE)
    _state["provided"] = dict(zip(names, levels, strict=True))[options["thread_level"]]


# Set by ``mpi4py.run`` when the program ended by an uncaught exception:
# at exit the job is aborted with this status instead of left in order.
_abort = {"status": 0}


def Init() -> None:
    """Join the job now (idempotent)."""
    _state["initialized"] = True
    COMM_WORLD._comm  # noqa: B018 (joins the job)


def Init_thread(required: int = C.THREAD_MULTIPLE) -> int:
    """Join the job; the thread level provided (``required``, at most
    ``THREAD_MULTIPLE``)."""
    Init()
    _state["provided"] = min(int(required), THREAD_LEVEL)
    return int(_state["provided"])


def Query_thread() -> int:
    """The thread level provided (``THREAD_MULTIPLE`` unless ``Init_thread``
    asked for less)."""
    return int(_state["provided"])


def Is_thread_main() -> bool:
    """Whether the calling thread is the one that initialized MPI."""
    return threading.current_thread() is threading.main_thread()


def Is_initialized() -> bool:
    """Whether MPI is initialized: at import, unless ``mpi4py.rc.initialize``
    was false (then at ``Init``, or at the first use of ``COMM_WORLD``)."""
    return bool(_state["initialized"]) or COMM_WORLD._h.comm is not None


def Is_finalized() -> bool:
    """Whether MPI is finalized."""
    return bool(_state["finalized"])


def _set_abort_status(status: int) -> None:
    """At exit, abort the job with ``status`` (non-zero) instead of
    finalizing: the other ranks may be blocked waiting for this one."""
    _abort["status"] = int(status)


def Finalize() -> None:
    """Leave the job (once; a no-op when it was never joined)."""
    if _abort["status"] and not _state["finalized"] and COMM_WORLD._h.comm is not None:
        COMM_WORLD.Abort(_abort["status"])
    if not _state["finalized"] and COMM_WORLD._h.comm is not None:
        _state["finalized"] = True
        runner.close()
        runner.run(zmqmesh.finalize())
    _state["finalized"] = True


def Get_version() -> tuple[int, int]:
    """The MPI standard version the layer follows: ``(VERSION, SUBVERSION)``."""
    return C.VERSION, C.SUBVERSION


def Get_library_version() -> str:
    """The library's version string (zmqmesh's)."""
    return f"zmqmesh {zmqmesh.__version__} (mpi4py layer over ZeroMQ)"


def get_vendor() -> tuple[str, tuple[int, int, int]]:
    """Return ``(name, (major, minor, micro))`` of the MPI implementation: zmqmesh."""
    parts = [int(p) for p in zmqmesh.__version__.split(".")[:3] if p.isdigit()]
    major, minor, micro = [*parts, 0, 0, 0][:3]
    return "zmqmesh", (major, minor, micro)


def Get_processor_name() -> str:
    """The name of the host this process runs on."""
    return socket.gethostname()


def Wtime() -> float:
    """Seconds on this process's monotonic clock (not synchronized across ranks)."""
    return time.perf_counter()


def Wtick() -> float:
    """The resolution of ``Wtime``, in seconds."""
    return time.get_clock_info("perf_counter").resolution


def Pcontrol(level: int) -> None:
    """Profiling control: accepted, does nothing."""
    int(level)


def Compute_dims(nnodes: int, dims: int | Any) -> list[int]:
    """A balanced grid of ``nnodes`` (``MPI_Dims_create``); zeros in a
    ``dims`` list are free, other entries are kept. As MPICH: a negative
    ``nnodes`` raises ``MPI.Exception`` of class ``ERR_ARG``; a negative
    entry, or fixed entries that do not divide ``nnodes``, ``ERR_DIMS``; a
    grid of no nodes keeps its free entries 0."""
    if isinstance(dims, int) and dims < 0:
        raise ValueError(f"expecting {dims} items, got 0")  # as mpi4py's check
    given = [0] * operator.index(dims) if isinstance(dims, int) else fixed(dims, len(dims))
    n = operator.index(nnodes)
    if n < 0:
        raise MPIException(C.ERR_ARG, f"Invalid argument: nnodes {n}")
    if n == 0 and all(d >= 0 for d in given):
        return given
    try:
        return list(zmqmesh.dims_create(n, len(given), given))
    except ValueError as exc:
        raise MPIException(C.ERR_DIMS, f"Invalid dimension argument: {exc}") from None


memory = buffer


def Alloc_mem(size: int, info: Any = None) -> buffer:
    """Allocate ``size`` bytes of memory, as a ``buffer``."""
    return buffer.allocate(int(size), clear=False)


def Free_mem(mem: buffer) -> None:
    """Free memory that ``Alloc_mem`` gave."""
    mem.release()


# At interpreter exit, before concurrent.futures stops its threads (which
# finalize needs): threading's exit hooks run first, in reverse order.
try:
    threading._register_atexit(Finalize)  # type: ignore[attr-defined]
except (AttributeError, RuntimeError):
    atexit.register(Finalize)
