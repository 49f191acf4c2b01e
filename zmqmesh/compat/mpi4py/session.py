"""Sessions (MPI 4.0): ``MPI.Session`` and the groups of its process sets.

A job of zmqmesh is one world, already joined when a session starts, so a
session is a local handle: ``Init`` makes one (any number may live at
once), ``Finalize`` ends it. Its process sets are MPI's two required
ones, ``mpi://WORLD`` (the job's ranks) and ``mpi://SELF`` (this process);
``Create_group`` gives their groups, from which ``Intracomm.Create_from_group``
makes communicators (``intergroup.py``). Its info holds ``mpi_thread_support_level``;
a process set's info holds ``mpi_size``. Error handlers are kept and
called as a communicator's are. The MPI 4.1 buffer calls raise
``NotImplementedError`` (the layer reports MPI 4.0). A call on the null
session raises ``MPI.Exception(ERR_SESSION)``, a bad argument ``ERR_ARG``.
"""

from __future__ import annotations

from typing import Any

from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import runner
from zmqmesh.compat.mpi4py.comm import COMM_SELF, COMM_WORLD
from zmqmesh.compat.mpi4py.environment import Query_thread
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.groups import Group
from zmqmesh.compat.mpi4py.handles import Handle
from zmqmesh.compat.mpi4py.objects import ERRORS_ARE_FATAL, Errhandler, Info

__all__ = ["SESSION_NULL", "Session"]

PSETS = ("mpi://WORLD", "mpi://SELF")
_THREAD_LEVELS = (
    "MPI_THREAD_SINGLE",
    "MPI_THREAD_FUNNELED",
    "MPI_THREAD_SERIALIZED",
    "MPI_THREAD_MULTIPLE",
)


class _Live:
    """What a session handle names while it lives."""

    __slots__ = ("errhandler",)

    def __init__(self, errhandler: Errhandler) -> None:
        self.errhandler = errhandler


class Session(Handle):
    """Session context."""

    __slots__ = ()

    @classmethod
    def Init(cls, info: Any = None, errhandler: Errhandler | None = None) -> Session:
        """Create a new session."""
        COMM_WORLD._comm  # noqa: B018 (joins the job, as MPI_Session_init does)
        s: Session = cls.__new__(cls)
        s._h = _Live(Errhandler(errhandler) if errhandler else ERRORS_ARE_FATAL)
        return s

    def _s(self) -> _Live:
        live: _Live | None = self._h
        if live is None:
            raise MPIException(C.ERR_SESSION, "Invalid session (the null session)")
        return live

    def Finalize(self) -> None:
        """Finalize a session (the handle becomes ``SESSION_NULL``)."""
        self._s()
        self._h = None

    def Get_num_psets(self, info: Any = None) -> int:
        """Number of available process sets."""
        self._s()
        return len(PSETS)

    def Get_nth_pset(self, n: int, info: Any = None) -> str:
        """Name of the ``n``-th process set."""
        self._s()
        if not 0 <= int(n) < len(PSETS):
            raise MPIException(C.ERR_ARG, f"Invalid argument: no process set {n} ({len(PSETS)})")
        return PSETS[int(n)]

    def _pset(self, name: str) -> str:
        self._s()
        key = {p.lower(): p for p in PSETS}.get(str(name).lower())
        if key is None:
            raise MPIException(
                C.ERR_ARG, f"Invalid argument: no process set {name!r} (there are {PSETS})"
            )
        return key

    def Get_info(self) -> Info:
        """Return the current hints for a session."""
        self._s()
        level = _THREAD_LEVELS[Query_thread()]
        return Info.Create({"mpi_thread_support_level": level})

    def Get_pset_info(self, pset_name: str) -> Info:
        """Return the current hints for a session and process set."""
        key = self._pset(pset_name)
        size = COMM_WORLD.Get_size() if key == PSETS[0] else 1
        return Info.Create({"mpi_size": str(size)})

    def Create_group(self, pset_name: str) -> Group:
        """Create a new group from session and process set."""
        key = self._pset(pset_name)
        group: Group = (COMM_WORLD if key == PSETS[0] else COMM_SELF).Get_group()
        return group

    # -- error handlers, as a communicator's ---------------------------------------------------
    @classmethod
    def Create_errhandler(cls, errhandler_fn: Any) -> Errhandler:
        """Create a new error handler for sessions."""
        return Errhandler._user(errhandler_fn)

    def Get_errhandler(self) -> Errhandler:
        """Get the error handler for a session."""
        return Errhandler(self._s().errhandler)

    def Set_errhandler(self, errhandler: Errhandler) -> None:
        """Set the error handler for a session."""
        live = self._s()
        if not errhandler:
            raise MPIException(C.ERR_ARG, "Invalid argument: the null error handler")
        live.errhandler = Errhandler(errhandler)

    def Call_errhandler(self, errorcode: int) -> None:
        """Call the error handler installed on a session."""
        self._s().errhandler._call(self, int(errorcode))

    # -- MPI 4.1 -------------------------------------------------------------------------------
    Attach_buffer = runner.unsupported("Session.Attach_buffer", "MPI 4.1")
    Detach_buffer = runner.unsupported("Session.Detach_buffer", "MPI 4.1")
    Flush_buffer = runner.unsupported("Session.Flush_buffer", "MPI 4.1")
    Iflush_buffer = runner.unsupported("Session.Iflush_buffer", "MPI 4.1")

    def __repr__(self) -> str:
        return "<mpi4py.MPI.Session SESSION_NULL>" if self._h is None else "<mpi4py.MPI.Session>"


SESSION_NULL = Session()
