"""``MPI.Comm``: communicators, their point-to-point calls, and the
process-wide ``COMM_WORLD``/``COMM_SELF``.

A communicator handle names a box holding a zmqmesh communicator; the
world's and self's boxes join the job on first use, so that importing the
module (or comparing ``COMM_WORLD``) starts nothing. Ranks cross the
boundary translated: mpi4py's ``PROC_NULL`` (-1) is zmqmesh's None, its
``ANY_SOURCE`` (-2) zmqmesh's ``ANY_SOURCE``. Upper-case calls move the
packed bytes of their buffer specification (``msgspec``) as one ``uint8``
array, so that any datatype, derived or not, travels as its bytes and
lands in the receiver's layout.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np
import numpy.typing as npt

import zmqmesh
from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import runner
from zmqmesh.compat.mpi4py.collectives import CollectiveCalls
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.handles import Handle
from zmqmesh.compat.mpi4py.msgspec import Message, parse
from zmqmesh.compat.mpi4py.objects import ERRORS_RETURN, Errhandler
from zmqmesh.compat.mpi4py.requests import Request, Status
from zmqmesh.runtime.comm import Comm as ZComm
from zmqmesh.runtime.p2p import TAG_UB
from zmqmesh.wire import Envelope, Kind, encode, payload_nbytes

__all__ = [
    "COMM_NULL",
    "COMM_SELF",
    "COMM_WORLD",
    "Cartcomm",
    "Comm",
    "Intercomm",
    "Intracomm",
    "Topocomm",
]


def source_in(source: int | None) -> int | None:
    """mpi4py's source rank as zmqmesh's."""
    if source is None or source == C.PROC_NULL:
        return None
    return zmqmesh.ANY_SOURCE if source == C.ANY_SOURCE else int(source)


def dest_in(dest: int | None) -> int | None:
    return None if dest is None or dest == C.PROC_NULL else int(dest)


def rank_out(rank: int | None) -> int:
    return C.PROC_NULL if rank is None else rank


_WIDTHS = (0, 128, 256, 65536, 2**32)  # where msgpack's width of a length grows
_HEADERS: dict[int, int] = {}


def _width(n: int) -> int:
    return max(w for w in _WIDTHS if w <= n)


def _header(width: int) -> int:
    """Payload bytes beyond the data of a ``uint8`` array message whose
    length has msgpack width class ``width``."""
    if width not in _HEADERS:
        if width == 2**32:  # a uint64 length: four bytes more than a uint32 one
            _HEADERS[width] = _header(65536) + 4
        else:
            frames = encode(Envelope(Kind.P2P, 0, 0, 0), np.zeros(width, np.uint8))
            _HEADERS[width] = payload_nbytes(frames) - width
    return _HEADERS[width]


def data_bytes(nbytes: int) -> int:
    """The array bytes of a buffer message whose encoded payload is ``nbytes``.

    A probe reports the encoded payload (header and array); the header of a
    ``uint8`` array grows with msgpack's width of its length, so the one
    length that is consistent with its header is found by trying each width.
    """
    for w in _WIDTHS:
        n = nbytes - _header(w)
        if n >= 0 and _width(n) == w:
            return n
    return max(nbytes - _header(0), 0)


def _unpack_into(msg: Message, got: Any, status: Status | None) -> int:
    data = _as_bytes(got)
    msg.unpack(data)
    if status is not None:
        status.count = data.size
    return data.size


def _as_bytes(got: Any) -> npt.NDArray[np.uint8]:
    if got is None:
        return np.zeros(0, np.uint8)
    if isinstance(got, np.ndarray):
        return np.ascontiguousarray(got).reshape(-1).view(np.uint8)
    return np.frombuffer(memoryview(got), np.uint8)


class _Box:
    """What a communicator handle names: a zmqmesh communicator, maybe later."""

    __slots__ = ("comm", "errhandler", "name")

    def __init__(self, comm: ZComm | None, name: str = "") -> None:
        self.comm = comm
        self.name = name
        self.errhandler: Errhandler = ERRORS_RETURN

    def get(self) -> ZComm:
        if self.comm is None:
            raise MPIException(C.ERR_COMM, "Invalid communicator (freed)")
        return self.comm


class _WorldBox(_Box):
    __slots__ = ()

    def get(self) -> ZComm:
        if self.comm is None:
            self.comm = runner.run(zmqmesh.init())
        return self.comm


class _SelfBox(_Box):
    __slots__ = ()

    def get(self) -> ZComm:
        if self.comm is None:
            world = COMM_WORLD._comm
            self.comm = runner.run(world.split(world.rank, 0))
        return self.comm


class Comm(Handle, CollectiveCalls):
    """A communicator with mpi4py's methods."""

    __slots__ = ()

    @classmethod
    def _of(cls, comm: ZComm | None) -> Any:
        c = cls()
        c._h = _Box(comm)
        return c

    @property
    def _comm(self) -> ZComm:
        box: _Box | None = self._h
        if box is None:
            raise MPIException(C.ERR_COMM, "Invalid communicator (the null communicator)")
        return box.get()

    def _z(self) -> ZComm:
        return self._comm

    def __repr__(self) -> str:
        if self._h is None:
            return "<mpi4py.MPI.Comm COMM_NULL>"
        return f"<mpi4py.MPI.{type(self).__name__} {self._h.name or ''}>".replace(" >", ">")

    # -- who ------------------------------------------------------------------------------------
    def Get_rank(self) -> int:
        return self._comm.rank

    def Get_size(self) -> int:
        return self._comm.size

    rank = property(Get_rank)
    size = property(Get_size)

    def Get_name(self) -> str:
        box: _Box = self._h
        return box.name if box is not None else ""

    def Set_name(self, name: str) -> None:
        self._h.name = str(name)

    name = property(Get_name, Set_name)

    def Is_inter(self) -> bool:
        return False

    def Is_intra(self) -> bool:
        return True

    is_inter = property(Is_inter)
    is_intra = property(Is_intra)

    def Get_topology(self) -> int:
        return C.UNDEFINED

    topology = property(Get_topology)

    def Get_attr(self, keyval: int) -> int | None:
        """``TAG_UB`` gives the largest tag; other keys None."""
        if keyval == C.TAG_UB:
            return TAG_UB
        if keyval == C.UNIVERSE_SIZE:
            return int(COMM_WORLD.Get_size())
        if keyval == C.WTIME_IS_GLOBAL:
            return 0
        return None

    def Get_errhandler(self) -> Errhandler:
        return Errhandler(self._h.errhandler)

    def Set_errhandler(self, errhandler: Errhandler) -> None:
        """Accepted; errors raise whatever the handler (see ``objects``)."""
        self._h.errhandler = errhandler

    # -- life -----------------------------------------------------------------------------------
    def Dup(self, info: Any = None) -> Any:
        return type(self)._of(runner.run(self._comm.dup()))

    Clone = Dup

    def Split(self, color: int = 0, key: int = 0) -> Any:
        got = runner.run(self._comm.split(None if color == C.UNDEFINED else color, key))
        return COMM_NULL if got is None else Intracomm._of(got)

    def Free(self) -> None:
        if self._h is None:
            raise MPIException(C.ERR_COMM, "Invalid communicator (the null communicator)")
        self._h = None

    def Abort(self, errorcode: int = 1) -> None:
        print(f"MPI.Abort({errorcode}) on rank {self._comm.rank}", file=sys.stderr, flush=True)
        os._exit(errorcode or 1)

    # -- point to point, objects ------------------------------------------------------------------
    def send(self, obj: Any, dest: int, tag: int = 0) -> None:
        runner.run(self._comm.send(obj, dest_in(dest), tag))

    ssend = send

    def recv(
        self,
        buf: Any = None,
        source: int = C.ANY_SOURCE,
        tag: int = C.ANY_TAG,
        status: Status | None = None,
    ) -> Any:
        st = zmqmesh.Status()
        got = runner.run(self._comm.recv(source_in(source), tag, st))
        if status is not None:
            status._fill(st.source, st.tag, max(st.nbytes, 0))
        return got

    def sendrecv(
        self,
        sendobj: Any,
        dest: int,
        sendtag: int = 0,
        recvbuf: Any = None,
        source: int = C.ANY_SOURCE,
        recvtag: int = C.ANY_TAG,
        status: Status | None = None,
    ) -> Any:
        st = zmqmesh.Status()
        got = runner.run(
            self._comm.sendrecv(
                sendobj,
                dest_in(dest),
                sendtag=sendtag,
                source=source_in(source),
                recvtag=recvtag,
                status=st,
                copy=False,
            )
        )
        if status is not None:
            status._fill(st.source, st.tag, max(st.nbytes, 0))
        return got

    def isend(self, obj: Any, dest: int, tag: int = 0) -> Request:
        return Request._of(runner.now(lambda: self._comm.isend(obj, dest_in(dest), tag)))

    issend = isend

    def irecv(self, buf: Any = None, source: int = C.ANY_SOURCE, tag: int = C.ANY_TAG) -> Request:
        return Request._of(runner.now(lambda: self._comm.irecv(source_in(source), tag)))

    def probe(
        self, source: int = C.ANY_SOURCE, tag: int = C.ANY_TAG, status: Status | None = None
    ) -> bool:
        src = source_in(source)
        if src is None:  # PROC_NULL: at once, an empty message
            if status is not None:
                status._fill(None, C.ANY_TAG, 0)
            return True
        st = runner.run(self._comm.probe(src, tag))
        if status is not None:
            status._fill(st.source, st.tag, data_bytes(st.nbytes))
        return True

    def iprobe(
        self, source: int = C.ANY_SOURCE, tag: int = C.ANY_TAG, status: Status | None = None
    ) -> bool:
        runner.poll()  # take in what has arrived
        src = source_in(source)
        if src is None:
            if status is not None:
                status._fill(None, C.ANY_TAG, 0)
            return True
        st = runner.now(lambda: self._comm.iprobe(src, tag))
        if st is not None and status is not None:
            status._fill(st.source, st.tag, data_bytes(st.nbytes))
        return st is not None

    Probe, Iprobe = probe, iprobe

    # -- point to point, buffers ------------------------------------------------------------------
    def Send(self, buf: Any, dest: int, tag: int = 0) -> None:
        """Send the buffer specification ``buf`` (returns once handed off)."""
        d = dest_in(dest)
        data = parse(buf, writable=False).pack() if d is not None else None
        runner.run(self._comm.send(data, d, tag))

    Ssend = Rsend = Send

    def Recv(
        self,
        buf: Any,
        source: int = C.ANY_SOURCE,
        tag: int = C.ANY_TAG,
        status: Status | None = None,
    ) -> None:
        """Receive into the buffer specification ``buf``; raises
        ``ValueError`` when the message is longer than the buffer."""
        src = source_in(source)
        msg = parse(buf, writable=True) if src is not None else None
        st = zmqmesh.Status()
        got = runner.run(self._comm.recv(src, tag, st))
        if status is not None:
            status._fill(st.source, st.tag, 0)
        if msg is not None:
            _unpack_into(msg, got, status)

    def Isend(self, buf: Any, dest: int, tag: int = 0) -> Request:
        """Start sending ``buf``; it must not change before the request completes."""
        d = dest_in(dest)
        data = parse(buf, writable=False).pack() if d is not None else None
        return Request._of(runner.now(lambda: self._comm.isend(data, d, tag)))

    Issend = Irsend = Isend

    def Irecv(self, buf: Any, source: int = C.ANY_SOURCE, tag: int = C.ANY_TAG) -> Request:
        """Start receiving into ``buf``; it is filled when the request completes."""
        src = source_in(source)
        msg = parse(buf, writable=True) if src is not None else None

        def finish(got: Any, status: Status) -> None:
            if msg is not None:
                _unpack_into(msg, got, status)

        return Request._of(runner.now(lambda: self._comm.irecv(src, tag)), finish)

    def Sendrecv(
        self,
        sendbuf: Any,
        dest: int,
        sendtag: int = 0,
        recvbuf: Any = None,
        source: int = C.ANY_SOURCE,
        recvtag: int = C.ANY_TAG,
        status: Status | None = None,
    ) -> None:
        d, src = dest_in(dest), source_in(source)
        data = parse(sendbuf, writable=False).pack() if d is not None else None
        msg = parse(recvbuf, writable=True) if src is not None and recvbuf is not None else None
        got = self.sendrecv(data, dest, sendtag, None, source, recvtag, status)
        if msg is not None:
            _unpack_into(msg, got, status)

    def Sendrecv_replace(
        self,
        buf: Any,
        dest: int,
        sendtag: int = 0,
        source: int = C.ANY_SOURCE,
        recvtag: int = C.ANY_TAG,
        status: Status | None = None,
    ) -> None:
        msg = parse(buf, writable=True)
        data = np.array(msg.pack(), copy=True)  # the buffer is overwritten next
        got = self.sendrecv(data, dest, sendtag, None, source, recvtag, status)
        if source_in(source) is not None:
            _unpack_into(msg, got, status)

    # -- not here ----------------------------------------------------------------------------------
    Bsend = Ibsend = runner.unsupported("Comm.Bsend", "buffered sends")
    Send_init = Recv_init = Bsend_init = Ssend_init = Rsend_init = runner.unsupported(
        "Comm.Send_init", "persistent requests"
    )
    Mprobe = Improbe = mprobe = improbe = runner.unsupported("Comm.Mprobe", "matched probe")
    Get_group = runner.unsupported("Comm.Get_group", "groups")
    Create_graph = Create_dist_graph = Create_dist_graph_adjacent = runner.unsupported(
        "Comm.Create_graph", "graph topologies"
    )
    Spawn = Spawn_multiple = Accept = Connect = runner.unsupported(
        "Comm process management", "spawning and ports"
    )
    Create_intercomm = runner.unsupported("Comm.Create_intercomm", "intercommunicators")

    def py2f(self) -> int:
        raise NotImplementedError("Comm.py2f: zmqmesh's mpi4py layer has no Fortran handles")

    @classmethod
    def f2py(cls, arg: int) -> Comm:
        raise NotImplementedError("Comm.f2py: zmqmesh's mpi4py layer has no Fortran handles")


class Intracomm(Comm):
    """A communicator of one group (every zmqmesh communicator)."""

    __slots__ = ()

    def Create_cart(self, dims: Any, periods: Any = None, reorder: bool = False) -> Cartcomm:
        """A Cartesian grid over this communicator's ranks (row-major, as MPI)."""
        periodic = tuple(bool(p) for p in (periods or [False] * len(dims)))
        topo = runner.run(self._comm.create_topology("mesh", dims=tuple(dims), periodic=periodic))
        cart: Cartcomm = Cartcomm._of(topo)
        return cart


class Topocomm(Intracomm):
    __slots__ = ()


class Cartcomm(Topocomm):
    """A Cartesian grid (``Create_cart``), over zmqmesh's mesh topology."""

    __slots__ = ()

    def Get_topology(self) -> int:
        return C.CART

    topology = property(Get_topology)

    @property
    def dims(self) -> list[int]:
        return list(self._comm.dims)  # type: ignore[attr-defined]

    @property
    def periods(self) -> list[bool]:
        return list(self._comm.periodic)  # type: ignore[attr-defined]

    @property
    def coords(self) -> list[int]:
        return list(self._comm.coords)  # type: ignore[attr-defined]

    @property
    def ndim(self) -> int:
        return len(self.dims)

    def Get_dim(self) -> int:
        return self.ndim

    def Get_topo(self) -> tuple[list[int], list[bool], list[int]]:
        return self.dims, self.periods, self.coords

    def Get_coords(self, rank: int) -> list[int]:
        coords, r = [], int(rank)
        for d in reversed(self.dims):  # row-major, as MPI_Cart_create
            coords.append(r % d)
            r //= d
        return coords[::-1]

    def Get_cart_rank(self, coords: Any) -> int:
        return int(self._comm.rank_of(tuple(coords)))  # type: ignore[attr-defined]

    def Shift(self, direction: int, disp: int) -> tuple[int, int]:
        """``(source, dest)``; ``PROC_NULL`` off a non-periodic edge."""
        src, dst = self._comm.shift(direction, disp)  # type: ignore[attr-defined]
        return rank_out(src), rank_out(dst)


class Intercomm(Comm):
    """An intercommunicator: not supported."""

    __slots__ = ()


def _named(cls: type[Comm], box: _Box) -> Any:
    c = cls()
    c._h = box
    return c


COMM_NULL = Comm()
COMM_WORLD = _named(Intracomm, _WorldBox(None, "MPI_COMM_WORLD"))
COMM_SELF = _named(Intracomm, _SelfBox(None, "MPI_COMM_SELF"))
