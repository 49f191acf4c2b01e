"""``MPI.Message``: a message taken out of matching by a matched probe.

``Comm.mprobe``/``improbe`` take the message they match out of the
communicator's queue at once (see ``p2p._claim``), so no other receive can
take it; the ``Message`` handle holds it until ``recv``/``Recv`` (or their
``I`` forms, which complete at once) hand it over and make the handle
``MESSAGE_NULL``. ``MESSAGE_NO_PROC`` (a probe of ``PROC_NULL``) receives
nothing, with a ``PROC_NULL`` status.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.handles import Handle
from zmqmesh.compat.mpi4py.msgspec import parse
from zmqmesh.compat.mpi4py.pickling import object_of
from zmqmesh.compat.mpi4py.ranks import unpack_into
from zmqmesh.compat.mpi4py.requests import Request, Status

__all__ = ["MESSAGE_NO_PROC", "MESSAGE_NULL", "Message", "arrival_count"]

_NO_PROC = "MESSAGE_NO_PROC"
_EMPTY: tuple[Any, int | None, int, int] = (None, None, C.ANY_TAG, 0)


def arrival_count(got: tuple[Any, int | None, int, int]) -> int:
    """The count a status reports for a taken message: the bytes of a
    buffer message, the payload size of an object."""
    obj = got[0]
    return obj.nbytes if isinstance(obj, np.ndarray) and obj.dtype == np.uint8 else got[3]


class Message(Handle):
    """A matched message (``Comm.mprobe``), received once."""

    __slots__ = ()

    @classmethod
    def _of(cls, got: tuple[Any, int | None, int, int]) -> Message:
        m = cls()
        m._h = got
        return m

    @classmethod
    def _no_proc(cls) -> Message:
        m = cls()
        m._h = _NO_PROC
        return m

    def __repr__(self) -> str:
        if self._h is None:
            return "<mpi4py.MPI.Message MESSAGE_NULL>"
        return "<mpi4py.MPI.Message MESSAGE_NO_PROC>" if self._h == _NO_PROC else super().__repr__()

    def _hand_over(self, status: Status | None) -> tuple[Any, int | None, int, int]:
        h = self._h
        if h is None:
            raise MPIException(C.ERR_REQUEST, "Invalid MPI_Message (the null message)")
        got = _EMPTY if isinstance(h, str) else h
        if self is not MESSAGE_NO_PROC:  # the constant stays itself (mpi4py's copies do not)
            self._h = None
        if status is not None:
            status._fill(got[1], got[2], arrival_count(got))
        return got

    def recv(self, status: Status | None = None) -> Any:
        """The message's object; the handle becomes ``MESSAGE_NULL``."""
        return object_of(self._hand_over(status)[0])

    def irecv(self) -> Request:
        """A request complete at once, whose ``wait`` gives the object."""
        got = self._hand_over(None)

        def finish(raw: Any, status: Status) -> Any:
            status._fill(got[1], got[2], arrival_count(got))
            return object_of(got[0])

        return Request._of(None, finish)

    def Recv(self, buf: Any, status: Status | None = None) -> None:
        """Unpack the message into the buffer specification ``buf``."""
        msg = parse(buf, writable=True) if self._h != _NO_PROC else None
        got = self._hand_over(status)
        if msg is not None:
            unpack_into(msg, got[0], status)

    def Irecv(self, buf: Any) -> Request:
        """Nonblocking ``Recv``, as a request complete at once."""
        st = Status()
        self.Recv(buf, st)

        def finish(raw: Any, status: Status) -> None:
            status._copy(st)

        return Request._of(None, finish)

    # mpi4py's class-level forms: Message.probe(comm, ...)
    @classmethod
    def probe(
        cls, comm: Any, source: int = C.ANY_SOURCE, tag: int = C.ANY_TAG, status: Any = None
    ) -> Message:
        """Blocking test for a matched message on ``comm`` (``comm.mprobe``)."""
        m: Message = comm.mprobe(source, tag, status)
        return m

    @classmethod
    def iprobe(
        cls, comm: Any, source: int = C.ANY_SOURCE, tag: int = C.ANY_TAG, status: Any = None
    ) -> Message | None:
        """Nonblocking test for a matched message on ``comm`` (``comm.improbe``):
        the message, or None when none has arrived."""
        m: Message | None = comm.improbe(source, tag, status)
        return m

    Probe = probe
    Iprobe = iprobe


MESSAGE_NULL = Message()
MESSAGE_NO_PROC = Message._no_proc()
