"""``mpi4py.futures``: run calls asynchronously on the ranks of a zmqmesh
job, with mpi4py's interface (``concurrent.futures``' names, and
``MPIPoolExecutor``, ``MPICommExecutor``, ``ThreadPoolExecutor``,
``ProcessPoolExecutor``, ``get_comm_workers``).

``zmqmesh launch --mpi4py -n N -m mpi4py.futures script.py`` runs the
script on rank 0, and the other ranks serve the tasks of every
``MPIPoolExecutor`` it makes; ``MPICommExecutor(comm, root)`` does the
same inside a program that every rank runs. See ``_executor``.
"""

from __future__ import annotations

from concurrent.futures import (
    ALL_COMPLETED,
    FIRST_COMPLETED,
    FIRST_EXCEPTION,
    BrokenExecutor,
    CancelledError,
    Executor,
    Future,
    InvalidStateError,
    TimeoutError,
    as_completed,
    wait,
)

from zmqmesh.compat.mpi4py.futures import _core as _core  # (mpi4py's private names)
from zmqmesh.compat.mpi4py.futures._executor import (
    MPICommExecutor,
    MPIPoolExecutor,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
)
from zmqmesh.compat.mpi4py.futures._worker import get_comm_workers
from zmqmesh.compat.mpi4py.futures.util import collect, compose

__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "BrokenExecutor",
    "CancelledError",
    "Executor",
    "Future",
    "InvalidStateError",
    "MPICommExecutor",
    "MPIPoolExecutor",
    "ProcessPoolExecutor",
    "ThreadPoolExecutor",
    "TimeoutError",
    "as_completed",
    "collect",
    "compose",
    "get_comm_workers",
    "wait",
]
