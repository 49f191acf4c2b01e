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
from collections.abc import Awaitable
from typing import Any

import zmqmesh
from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import runner
from zmqmesh.compat.mpi4py.bsend import PROCESS_BUFFER, attach_to, detach_from, flush
from zmqmesh.compat.mpi4py.collectives import CollectiveCalls
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.handles import Handle
from zmqmesh.compat.mpi4py.objects import ERRORS_RETURN, Errhandler
from zmqmesh.compat.mpi4py.p2p import PointToPointCalls
from zmqmesh.compat.mpi4py.ranks import rank_out
from zmqmesh.compat.mpi4py.sync import BsendSpace
from zmqmesh.runtime.comm import Comm as ZComm
from zmqmesh.runtime.p2p import TAG_UB

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


class _Box:
    """What a communicator handle names: a zmqmesh communicator (maybe
    later), its shadow (a duplicate that carries the layer's own messages,
    the acknowledgements of synchronous sends), and its own buffered-send
    space when one is attached."""

    __slots__ = ("comm", "errhandler", "name", "shadow", "space")

    def __init__(self, pair: tuple[ZComm, ZComm] | None, name: str = "") -> None:
        self.comm: ZComm | None = None if pair is None else pair[0]
        self.shadow: ZComm | None = None if pair is None else pair[1]
        self.name = name
        self.errhandler: Errhandler = ERRORS_RETURN
        self.space: BsendSpace | None = None

    def get(self) -> ZComm:
        if self.comm is None:
            raise MPIException(C.ERR_COMM, "Invalid communicator (freed)")
        return self.comm

    def get_shadow(self) -> ZComm:
        self.get()
        assert self.shadow is not None
        return self.shadow


async def _paired(made: Awaitable[ZComm | None]) -> tuple[ZComm, ZComm] | None:
    """A new communicator with its shadow (None where the rank is left out)."""
    comm = await made
    return None if comm is None else (comm, await comm.dup())


class _WorldBox(_Box):
    __slots__ = ()

    def get(self) -> ZComm:
        if self.comm is None:
            # mpi4py's object calls pickle whatever they are given: so may the
            # layer's, unless the job said otherwise (ZMQMESH_PICKLE=0)
            os.environ.setdefault("ZMQMESH_PICKLE", "1")
            self.comm, self.shadow = runner.run(_paired(zmqmesh.init()))
        return self.comm


class _SelfBox(_Box):
    __slots__ = ()

    def get(self) -> ZComm:
        if self.comm is None:
            world = COMM_WORLD._comm
            self.comm, self.shadow = runner.run(_paired(world.split(world.rank, 0)))
        return self.comm


class Comm(Handle, PointToPointCalls, CollectiveCalls):
    """A communicator with mpi4py's methods."""

    __slots__ = ()

    @classmethod
    def _of(cls, pair: tuple[ZComm, ZComm] | None) -> Any:
        c = cls()
        c._h = _Box(pair)
        return c

    @property
    def _comm(self) -> ZComm:
        box: _Box | None = self._h
        if box is None:
            raise MPIException(C.ERR_COMM, "Invalid communicator (the null communicator)")
        return box.get()

    def _z(self) -> ZComm:
        return self._comm

    def _shadow(self) -> ZComm:
        self._comm  # noqa: B018 (checks the handle, joins the job)
        shadow: ZComm = self._h.get_shadow()
        return shadow

    def _space(self) -> BsendSpace:
        own: BsendSpace | None = self._h.space if self._h is not None else None
        return PROCESS_BUFFER if own is None or own.buf is None else own

    # -- buffered-send space of this communicator (MPI 4.1) ---------------------------------------
    def Attach_buffer(self, buf: Any) -> None:
        """Attach ``buf`` (or ``BUFFER_AUTOMATIC``) for this communicator's ``Bsend``."""
        if self._h.space is None:
            self._h.space = BsendSpace()
        attach_to(self._h.space, buf)

    def Detach_buffer(self) -> Any:
        """Wait for this communicator's buffered sends; the buffer detached."""
        return detach_from(self._h.space or BsendSpace())

    def Flush_buffer(self) -> None:
        flush(self._space())

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
        return type(self)._of(runner.run(_paired(self._comm.dup())))

    Clone = Dup

    def Split(self, color: int = 0, key: int = 0) -> Any:
        got = runner.run(_paired(self._comm.split(None if color == C.UNDEFINED else color, key)))
        return COMM_NULL if got is None else Intracomm._of(got)

    def Free(self) -> None:
        if self._h is None:
            raise MPIException(C.ERR_COMM, "Invalid communicator (the null communicator)")
        if self._h is COMM_WORLD._h or self._h is COMM_SELF._h:
            raise MPIException(C.ERR_COMM, "Invalid communicator (a predefined one)")
        self._h = None

    def Abort(self, errorcode: int = 1) -> None:
        print(f"MPI.Abort({errorcode}) on rank {self._comm.rank}", file=sys.stderr, flush=True)
        sys.stdout.flush()  # os._exit would drop what the program printed last
        os._exit(errorcode or 1)

    # -- not here ----------------------------------------------------------------------------------
    Get_group = runner.unsupported("Comm.Get_group", "groups")
    Create_graph = Create_dist_graph = Create_dist_graph_adjacent = runner.unsupported(
        "Comm.Create_graph", "graph topologies"
    )
    Spawn = Spawn_multiple = Accept = Connect = runner.unsupported(
        "Comm process management", "spawning and ports"
    )
    Create_intercomm = runner.unsupported("Comm.Create_intercomm", "intercommunicators")
    Psend_init = Precv_init = runner.unsupported("Comm.Psend_init", "partitioned communication")


class Intracomm(Comm):
    """A communicator of one group (every zmqmesh communicator)."""

    __slots__ = ()

    def Create_cart(self, dims: Any, periods: Any = None, reorder: bool = False) -> Cartcomm:
        """A Cartesian grid over this communicator's ranks (row-major, as MPI)."""
        periodic = tuple(bool(p) for p in (periods or [False] * len(dims)))
        made = self._comm.create_topology("mesh", dims=tuple(dims), periodic=periodic)
        topo = runner.run(_paired(made))
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
