"""``mpi4py.futures._core``: the private names of mpi4py's futures that
programs and test suites written for it reach for.

``SharedPool`` (the pool of ``python -m mpi4py.futures``, None without
one), ``MAIN_RUN_NAME`` (the name the workers run the main script
under), ``RemoteTraceback`` (the ``__cause__`` of a task's exception),
``comm_split`` (a communicator split into its root and the others, as
an intercommunicator), and ``serialized``/``setup_mpi_threads`` (mpi4py
serializes its calls below ``THREAD_MULTIPLE``; the layer's calls are
safe from several threads at every level, so the lock is only kept).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from zmqmesh.compat.mpi4py import MPI
from zmqmesh.compat.mpi4py.futures._executor import shared_pools
from zmqmesh.compat.mpi4py.futures._worker import RemoteTraceback

__all__ = [
    "MAIN_RUN_NAME",
    "RemoteTraceback",
    "comm_split",
    "serialized",
    "setup_mpi_threads",
]

MAIN_RUN_NAME = "__worker__"


def __getattr__(name: str) -> Any:
    if name == "SharedPool":
        return shared_pools[0] if shared_pools else None
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Serialized:
    """``serialized(fn)``: ``fn`` under ``serialized.lock`` when one is set."""

    def __init__(self) -> None:
        self.lock: Any = None

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        if self.lock is None:
            return fn

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self.lock:
                return fn(*args, **kwargs)

        return locked


serialized = _Serialized()
_levels = threading.Lock()
_level: list[int] = []


def setup_mpi_threads() -> int:
    """The thread level MPI provides (asked once)."""
    with _levels:
        if not _level:
            _level.append(MPI.Query_thread())
        return _level[0]


def comm_split(comm: Any, root: int) -> tuple[Any, Any]:
    """``(intercommunicator, intracommunicator)``: ``comm``'s ``root``
    against its other ranks, and the group this rank is in (freed at the
    root, which gets a null one); both null for a communicator of one."""
    if comm.Get_size() == 1:
        return MPI.Intercomm(MPI.COMM_NULL), MPI.Intracomm(MPI.COMM_NULL)
    rank = comm.Get_rank()
    whole = comm.Get_group()
    mine = whole.Incl([root]) if rank == root else whole.Excl([root])
    whole.Free()
    intracomm = comm.Create(mine)
    mine.Free()
    remote = (0 if root else 1) if rank == root else root
    intercomm = intracomm.Create_intercomm(0, comm, remote, tag=0)
    if rank == root:
        intracomm.Free()
    return intercomm, intracomm
