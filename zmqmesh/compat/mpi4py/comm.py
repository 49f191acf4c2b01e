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
import secrets
import socket
import sys
import threading
from collections.abc import Awaitable
from typing import Any

import zmqmesh
from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import coop, runner
from zmqmesh.compat.mpi4py.attributes import KeyvalCalls
from zmqmesh.compat.mpi4py.bsend import PROCESS_BUFFER, attach_to, detach_from, flush
from zmqmesh.compat.mpi4py.collectives import CollectiveCalls
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.exceptions import last_used_code
from zmqmesh.compat.mpi4py.groups import Group
from zmqmesh.compat.mpi4py.handles import Handle
from zmqmesh.compat.mpi4py.objects import ERRORS_RETURN, Errhandler, Info
from zmqmesh.compat.mpi4py.p2p import PointToPointCalls
from zmqmesh.compat.mpi4py.partition import PartitionedCalls
from zmqmesh.compat.mpi4py.requests import Request
from zmqmesh.compat.mpi4py.sync import BsendSpace
from zmqmesh.compat.mpi4py.ulfm import FaultCalls
from zmqmesh.runtime.comm import Comm as ZComm
from zmqmesh.runtime.p2p import TAG_UB
from zmqmesh.runtime.spawned import PARENTS

__all__ = [
    "COMM_NULL",
    "COMM_SELF",
    "COMM_WORLD",
    "Comm",
    "Intracomm",
]


class _Box:
    """What a communicator handle names: a zmqmesh communicator (maybe
    later), its shadow (a duplicate that carries the layer's own messages,
    the acknowledgements of synchronous sends), its own buffered-send
    space when one is attached, and its process topology (``topospec``)
    when it has one."""

    __slots__ = (
        "comm",
        "errhandler",
        "info",
        "locks",
        "members",
        "name",
        "shadow",
        "space",
        "topo",
    )
    inter = False  # an intercommunicator's box (``inter``) says True
    handle_class: Any = None  # and names its handles' class

    def __init__(self, pair: Made | None, name: str = "") -> None:
        self.comm: ZComm | None = None if pair is None else pair[0]
        self.shadow: ZComm | None = None if pair is None else pair[1]
        self.members: tuple[int, ...] = () if pair is None else pair[2]  # world ranks
        self.info: dict[str, str] = {}
        self.locks: dict[Any, threading.Lock] = {}  # mpi4py's per-call locks
        self.name = name
        self.errhandler: Errhandler = ERRORS_RETURN
        self.space: BsendSpace | None = None
        self.topo: Any = None

    def get(self) -> ZComm:
        if self.comm is None:
            raise MPIException(C.ERR_COMM, "Invalid communicator (freed)")
        return self.comm

    def get_shadow(self) -> ZComm:
        self.get()
        assert self.shadow is not None
        return self.shadow


# a zmqmesh communicator, its shadow, and its members' world ranks
Made = tuple[ZComm, ZComm, tuple[int, ...]]


async def _paired(
    made: Awaitable[ZComm | None], world_rank: int | None = None, members: Any = None
) -> Made | None:
    """A new communicator with its shadow and its members (None where the
    rank is left out). ``members`` known (a duplicate's are its parent's)
    or gathered from every member's ``world_rank`` (the world's own rank
    when None)."""
    comm = await made
    if comm is None:
        return None
    shadow = await comm.dup()
    if members is None:
        members = await comm.allgather(comm.rank if world_rank is None else world_rank)
    return comm, shadow, tuple(int(r) for r in members)


# A spawned process's link to its parents, once it joined: the union's
# communicator, its shadow and its collectives' one, and how many parents
# come first in it (``spawn`` makes the intercommunicator of them).
SPAWNED: list[tuple[tuple[ZComm, ZComm, ZComm], int]] = []


async def _joined() -> tuple[Made | None, ZComm, ZComm]:
    """This process's world: its job's; for a process that a job spawned,
    the children's part of the new job, whose first ranks are the parents
    (with the parents' matching calls in ``spawn``). With it, the world's
    meeting context, where ranks that share no communicator meet
    (``intergroup``), and the context of large same-host copies
    (``coop``)."""
    world = await zmqmesh.init()
    parents = int(os.environ.get(PARENTS, "") or 0)
    if not parents:
        got = await _paired(_ready(world))
    else:
        got = await _paired(world.split(1, world.rank))
        SPAWNED.append(((world, await world.dup(), await world.dup()), parents))
    assert got is not None
    return got, await got[0].dup(), await got[0].dup()


async def _ready(comm: ZComm) -> ZComm:
    return comm


_JOINING = threading.RLock()  # the world's and the self communicator's making


class _WorldBox(_Box):
    __slots__ = ("meet",)

    def get(self) -> ZComm:
        if self.comm is None:
            with _JOINING:  # threads whose first calls overlap join once
                if self.comm is None:
                    self._join()
        assert self.comm is not None
        return self.comm

    def _join(self) -> None:
        # mpi4py's object calls pickle whatever they are given: so may the
        # layer's, unless the job said otherwise (ZMQMESH_PICKLE=0)
        os.environ.setdefault("ZMQMESH_PICKLE", "1")
        got, self.meet, copies = runner.run(_joined())
        assert got is not None
        coop.attach(copies)
        comm, self.shadow, self.members = got
        runner.sleep_with(comm.wait_input)
        self.comm = comm  # last: another thread may look without the lock


class _SelfBox(_Box):
    __slots__ = ()

    def get(self) -> ZComm:
        if self.comm is None:
            world = COMM_WORLD._comm
            with _JOINING:
                if self.comm is None:
                    # made here alone, in slots free in this process: a process
                    # may use COMM_SELF first while the others do something else
                    me, ident = (world._ranks[world.rank],), secrets.randbits(48)
                    self.shadow = world.join(me, _lowest_free(world.used_slots()), ident + 1)
                    self.members = (world.rank,)
                    self.comm = world.join(me, _lowest_free(world.used_slots()), ident)
        return self.comm


def _lowest_free(mask: int) -> int:
    slot = 0
    while mask >> slot & 1:
        slot += 1
    return slot


class Comm(KeyvalCalls, Handle, PointToPointCalls, CollectiveCalls, PartitionedCalls, FaultCalls):
    """A communicator with mpi4py's methods."""

    __slots__ = ()

    @classmethod
    def _of(cls, pair: Made | None) -> Any:
        c = cls()
        c._h = _Box(pair)
        return c

    @classmethod
    def _class_for(cls, target: Any) -> type[Handle]:
        # as mpi4py, a communicator comes back as its kind: an
        # intercommunicator's or a topology's class, else an
        # intracommunicator (the null one as asked)
        if target is None:
            return cls
        if target.inter:  # an intercommunicator's box names its class
            kind: type[Handle] = target.handle_class if cls is Comm else cls
            return kind
        topo = getattr(target, "topo", None)
        if topo is not None:
            kinds = list(cls.__subclasses__())
            for kind in kinds:  # breadth first: the layer's own classes first
                if getattr(kind, "_kind", None) == topo.kind:
                    return kind
                kinds.extend(kind.__subclasses__())
        return Intracomm if cls is Comm else cls

    @property
    def _comm(self) -> ZComm:
        box: _Box | None = self._h
        if box is None:
            raise MPIException(C.ERR_COMM, "Invalid communicator (the null communicator)")
        return box.get()

    def _z(self) -> ZComm:
        box: _Box | None = self._h
        z = None if box is None else box.comm
        return z if z is not None else self._comm

    def _shadow(self) -> ZComm:
        self._comm  # noqa: B018 (checks the handle, joins the job)
        shadow: ZComm = self._h.get_shadow()
        return shadow

    def _lock(self, key: Any) -> threading.Lock:
        """The lock of ``key`` (``"bcast"``...) on this communicator, as
        mpi4py's ``_comm_lock``: object collectives hold theirs, so threads
        that share a communicator do not interleave one call's messages."""
        with _LOCKS_LOCK:
            locks: dict[Any, threading.Lock] = self._h.locks
            lock = locks.get(key)
            if lock is None:
                lock = locks[key] = threading.Lock()
            return lock

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
        """Deliver what this communicator's attached buffer holds."""
        flush(self._space())

    def __repr__(self) -> str:
        if self._h is None:
            return "<mpi4py.MPI.Comm COMM_NULL>"
        return f"<mpi4py.MPI.{type(self).__name__} {self._h.name or ''}>".replace(" >", ">")

    # -- who ------------------------------------------------------------------------------------
    def Get_rank(self) -> int:
        """The rank of this process in the communicator."""
        return self._comm.rank

    def Get_size(self) -> int:
        """The number of processes in the communicator."""
        return self._comm.size

    rank = property(Get_rank)
    size = property(Get_size)

    def Get_name(self) -> str:
        """The communicator's name."""
        box: _Box = self._h
        return box.name if box is not None else "MPI_COMM_NULL"

    def Set_name(self, name: str) -> None:
        """Give the communicator a name."""
        self._h.name = str(name)

    name = property(Get_name, Set_name)

    def Is_inter(self) -> bool:
        """Whether this is an intercommunicator (see ``inter``)."""
        self._comm  # noqa: B018 (ERR_COMM for the null communicator)
        return bool(self._h.inter)

    def Is_intra(self) -> bool:
        """Whether this is an intracommunicator."""
        return not self.Is_inter()

    is_inter = property(Is_inter)
    is_intra = property(Is_intra)

    def Get_topology(self) -> int:
        """Return ``CART``, ``GRAPH``, ``DIST_GRAPH`` or ``UNDEFINED`` (``MPI_Topo_test``)."""
        self._comm  # noqa: B018 (ERR_COMM for the null communicator)
        topo = self._h.topo
        return C.UNDEFINED if topo is None else int(topo.kind)

    @property
    def is_topo(self) -> bool:
        """Whether the communicator has a process topology."""
        return self.Get_topology() != C.UNDEFINED

    topology = property(Get_topology)

    def Get_attr(self, keyval: int) -> Any:
        """Return the value of attribute ``keyval``: ``TAG_UB`` gives the
        largest tag, ``UNIVERSE_SIZE`` the world's size, ``WTIME_IS_GLOBAL``
        0; a user keyval its value (None unset)."""
        self._comm  # noqa: B018 (ERR_COMM for the null communicator)
        if keyval == C.TAG_UB:
            return TAG_UB
        if keyval == C.UNIVERSE_SIZE:
            return int(COMM_WORLD.Get_size())
        if keyval == C.WTIME_IS_GLOBAL:
            return 0
        if keyval == C.LASTUSEDCODE:
            return last_used_code()
        if self._h is None:
            raise MPIException(C.ERR_COMM, "Invalid communicator (the null communicator)")
        return self._user_attr(keyval)

    def Get_errhandler(self) -> Errhandler:
        """The communicator's error handler."""
        self._comm  # noqa: B018 (ERR_COMM for the null communicator)
        return Errhandler(self._h.errhandler)

    @classmethod
    def Create_errhandler(cls, errhandler_fn: Any) -> Errhandler:
        """An error handler calling ``errhandler_fn(comm, errorcode)``."""
        return Errhandler._user(errhandler_fn)

    def Call_errhandler(self, errorcode: int) -> None:
        """Run this communicator's error handler with ``errorcode`` (a user
        one is called; the predefined ones do nothing here)."""
        self._comm  # noqa: B018 (checks the handle)
        self._h.errhandler._call(self, int(errorcode))

    def Set_errhandler(self, errhandler: Errhandler) -> None:
        """Kept for ``Call_errhandler``; errors raise whatever the handler
        (see ``objects``)."""
        self._comm  # noqa: B018 (ERR_COMM for the null communicator)
        if not errhandler:
            raise MPIException(C.ERR_ARG, "Invalid argument: the null error handler")
        self._h.errhandler = Errhandler(errhandler)  # its own reference, as MPI

    # -- life -----------------------------------------------------------------------------------
    def Dup(self, info: Any = None) -> Any:
        """A new communicator of the same group (with the attributes its keyvals copy)."""
        members = self._members()
        new = type(self)._of(runner.run(_paired(self._comm.dup(), members=members)))
        self._copy_attrs_to(new)
        return new

    Clone = Dup

    def Dup_with_info(self, info: Any) -> Any:
        """Duplicate the communicator (``Dup``) with the hints of ``info``."""
        return self.Dup(info)

    def Idup(self, info: Any = None) -> tuple[Any, Request]:
        """Nonblocking ``Dup``, with a request complete at once (the duplicate
        is made at the call: zmqmesh makes communicators collectively, at once)."""
        return self.Dup(info), Request._of(None)

    def Idup_with_info(self, info: Any) -> tuple[Any, Request]:
        """Nonblocking duplicate (``Idup``) with the hints of ``info``."""
        return self.Idup(info)

    def Split(self, color: int = 0, key: int = 0) -> Any:
        """New communicators by ``color`` (``UNDEFINED``: ``COMM_NULL``), ranked by ``key``."""
        made = self._comm.split(None if color == C.UNDEFINED else color, key)
        got = runner.run(_paired(made, world_rank=_world_rank()))
        return COMM_NULL if got is None else Intracomm._of(got)

    def Split_type(self, split_type: int, key: int = 0, info: Any = None) -> Any:
        """Split by where ranks run: ``COMM_TYPE_SHARED`` gives the ranks of
        this host; ``COMM_TYPE_HW_GUIDED`` the same when ``info`` asks for
        ``mpi_hw_resource_type=mpi_shared_memory`` (``COMM_NULL`` for any
        other resource); ``COMM_TYPE_HW_UNGUIDED`` a strictly smaller
        level (the host, else each rank alone; ``COMM_NULL`` below that),
        naming it in ``info``; ``UNDEFINED`` (or another kind): ``COMM_NULL``."""
        kind, host = int(split_type), socket.gethostname()
        hosts = runner.run(self._comm.allgather(host))  # every rank, whatever its kind
        color, level = C.UNDEFINED, ""
        guided = kind == C.COMM_TYPE_HW_GUIDED and info and info.Get(_HW) == _SHARED
        if kind == C.COMM_TYPE_SHARED or guided:
            color = hosts.index(host)
        elif kind == C.COMM_TYPE_HW_UNGUIDED:
            if hosts.count(host) < len(hosts):
                color, level = hosts.index(host), _SHARED
            elif len(hosts) > 1:
                color, level = self._comm.rank, "core"
        if level and info:
            info.Set(_HW, level)
        return self.Split(color, key)

    def Create(self, group: Group) -> Any:
        """The communicator of ``group`` (a subgroup of this one's: the same
        on every rank, or, as MPI-2.2 allows, disjoint groups, one
        communicator each); ``COMM_NULL`` where the rank is in none."""
        g = group._m()
        mine = _world_rank()
        if mine not in g.ranks:
            return self.Split(C.UNDEFINED, 0)
        # a group's lowest member names it: disjoint groups differ there
        return self.Split(min(g.ranks), g.ranks.index(mine))

    def Create_group(self, group: Group, tag: int = 0) -> Any:
        """A communicator of ``group``, made by its members only."""
        return self.Create(group)

    def _members(self) -> tuple[int, ...]:
        self._comm  # noqa: B018 (checks the handle, joins the job)
        members: tuple[int, ...] = self._h.members
        return members

    def Get_group(self) -> Group:
        """The group of the communicator's processes."""
        return Group._of(self._members(), _world_rank())

    group = property(Get_group)

    def Compare(self, other: Comm) -> int:
        """Compare two communicators: ``IDENT`` (the same communicator),
        ``CONGRUENT`` (same members in the same order), ``SIMILAR`` (same
        members) or ``UNEQUAL``."""
        a, b = self._members(), other._members()  # (ERR_COMM for a null one)
        if self._h is other._h:
            return C.IDENT
        if self._h.inter:  # an intercommunicator's own Compare
            return int(self._h.handle_class.Compare(self, other))
        if other._h.inter:
            return C.UNEQUAL
        if a == b:
            return C.CONGRUENT
        return C.SIMILAR if sorted(a) == sorted(b) else C.UNEQUAL

    def Set_info(self, info: Any) -> None:
        """Set the communicator's hints."""
        self._h.info = dict(info.items()) if info else {}

    def Get_info(self) -> Info:
        """A copy of the communicator's hints."""
        out = Info.Create()
        for k, v in self._h.info.items():
            out.Set(k, v)
        return out

    info = property(Get_info, Set_info)

    def Iflush_buffer(self) -> Request:
        """Nonblocking ``Flush_buffer``, as a request."""
        self.Flush_buffer()
        return Request._of(None)

    def __reduce__(self) -> Any:
        # the predefined communicators pickle as themselves, copies of them
        # as copies; others cannot travel (as in mpi4py)
        for name in ("COMM_NULL", "COMM_SELF", "COMM_WORLD"):
            known = globals()[name]
            if self is known:
                return name
            if self._h is known._h:
                return type(self), (known,)
        raise ValueError(f"cannot pickle {type(self).__name__} handle")

    def Disconnect(self) -> None:
        """Disconnect the communicator: ``Free`` (the layer's communicators have
        no connection of their own to end)."""
        self.Free()

    def Free(self) -> None:
        """Free the communicator (the handle becomes ``COMM_NULL``)."""
        if self._h is None:
            raise MPIException(C.ERR_COMM, "Invalid communicator (the null communicator)")
        if self._h is COMM_WORLD._h or self._h is COMM_SELF._h:
            raise MPIException(C.ERR_COMM, "Invalid communicator (a predefined one)")
        self._free_attrs()
        self._h = None

    def Abort(self, errorcode: int = 1) -> None:
        """End the whole job with ``errorcode``."""
        print(f"MPI.Abort({errorcode}) on rank {self._comm.rank}", file=sys.stderr, flush=True)
        sys.stdout.flush()  # os._exit would drop what the program printed last
        os._exit(errorcode or 1)


class Intracomm(Comm):
    """A communicator of one group."""

    __slots__ = ()

    def __new__(cls, other: Any = None, *args: Any, **kwargs: Any) -> Any:
        # ``Intracomm(intercomm)`` raises, as in mpi4py
        obj = super().__new__(cls, other, *args, **kwargs)
        if obj._h is not None and obj._h.inter:
            raise TypeError("expecting an intracommunicator")
        return obj


_HW, _SHARED = "mpi_hw_resource_type", "mpi_shared_memory"
_LOCKS_LOCK = threading.Lock()


def _comm_lock(comm: Comm, key: Any = None) -> threading.Lock:
    """Return the lock of ``key`` on ``comm`` (mpi4py's ``MPI._comm_lock``)."""
    return comm._lock(key)


def _comm_lock_table(comm: Comm) -> dict[Any, threading.Lock]:
    """Return every lock of ``comm``, by key (mpi4py's ``MPI._comm_lock_table``)."""
    comm._comm  # noqa: B018 (checks the handle)
    table: dict[Any, threading.Lock] = comm._h.locks
    return table


def _world_rank() -> int:
    return int(COMM_WORLD._comm.rank)


def _named(cls: type[Comm], box: _Box) -> Any:
    c = cls()
    c._h = box
    return c


COMM_NULL = Comm()
COMM_WORLD = _named(Intracomm, _WorldBox(None, "MPI_COMM_WORLD"))
COMM_SELF = _named(Intracomm, _SelfBox(None, "MPI_COMM_SELF"))
