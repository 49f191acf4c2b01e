"""``MPI.Intercomm``: two disjoint groups, where ranks name the other one.

An intercommunicator is a zmqmesh communicator over the union of its two
groups, the *low* group first (the group whose lowest world rank is the
lower), in three contexts: one for point to point, its shadow for the
acknowledgements of synchronous sends, and one for the collectives
(``intercoll``). A :class:`Remote` view of the first two is what the
layer's point-to-point calls see: its rank and size are the local
group's, the ranks it is given and reports name the remote group, so
every call of ``p2p`` works on it unchanged. A message on those contexts
can only come from the remote group (a member never addresses its own),
so ``ANY_SOURCE`` matches the remote group only, as MPI says.

``Intracomm.Create_intercomm`` makes one with no communicator spanning
both groups: each group ORs its members' used context slots, the leaders
swap members, masks and a random identity over ``peer_comm``, and every
member takes the three lowest slots free on all of them
(``zmqmesh.Comm.join``). ``Dup``, ``Split``, ``Create`` and ``Merge`` are
collectives over the union, so they make their communicators as any other.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Awaitable, Sequence
from typing import Any

import zmqmesh
from zmqmesh.collectives.ops import BOR
from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import runner
from zmqmesh.compat.mpi4py.comm import (
    COMM_NULL,
    Comm,
    Intracomm,
    _Box,
    _paired,
    _world_rank,
)
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.groups import Group
from zmqmesh.compat.mpi4py.intercoll import InterCollectiveCalls, Links
from zmqmesh.runtime.comm import Comm as ZComm

__all__ = ["Intercomm", "Remote", "intercomm_of"]

_SIDE = 1 << 40  # in a union's split key: the high group after the low one


class Remote:
    """A zmqmesh communicator over both groups, seen from one of them:
    ``rank`` and ``size`` are the local group's, and the ranks that the
    point-to-point calls take and report name the remote group."""

    __slots__ = ("_at", "_n", "_z", "rank", "size")

    def __init__(self, z: ZComm, at: int, n: int, rank: int, size: int) -> None:
        self._z, self._at, self._n = z, at, n  # remote rank r is union rank at + r
        self.rank, self.size = rank, size

    def _to(self, r: Any) -> Any:
        if r is None or r == zmqmesh.ANY_SOURCE:
            return r
        if not 0 <= int(r) < self._n:
            raise MPIException(
                C.ERR_RANK, f"Invalid rank {r} (the remote group has {self._n} processes)"
            )
        return self._at + int(r)

    def _back(self, st: zmqmesh.Status) -> zmqmesh.Status:
        if st.source is not None:
            st.source -= self._at
        return st

    def union(self, rank: int) -> tuple[ZComm, int]:
        """The communicator over both groups, and its rank of remote rank ``rank``."""
        return self._z, self._to(rank)

    def on_this_host(self, rank: int) -> bool:
        return self._z.on_this_host(self._to(rank))

    def peek(self, source: int, tag: int) -> Any:
        return self._z.peek(self._to(source), tag)

    async def send(self, obj: Any, dest: int | None, tag: int = 0) -> None:
        await self._z.send(obj, self._to(dest), tag)

    def isend(self, obj: Any, dest: int | None, tag: int = 0) -> Any:
        return self._z.isend(obj, self._to(dest), tag)

    def start_send(self, obj: Any, dest: int, tag: int = 0) -> Any:
        return self._z.start_send(obj, self._to(dest), tag)

    async def recv(
        self,
        source: int | None = zmqmesh.ANY_SOURCE,
        tag: int = zmqmesh.ANY_TAG,
        status: Any = None,
    ) -> Any:
        st = zmqmesh.Status() if status is None else status
        got = await self._z.recv(self._to(source), tag, st)
        self._back(st)
        return got

    def irecv(self, source: int | None = zmqmesh.ANY_SOURCE, tag: int = zmqmesh.ANY_TAG) -> Any:
        """(The request's status keeps the union's rank: only the
        acknowledgements of synchronous sends use it, and read no status.)"""
        return self._z.irecv(self._to(source), tag)

    async def probe(self, source: int = zmqmesh.ANY_SOURCE, tag: int = zmqmesh.ANY_TAG) -> Any:
        return self._back(await self._z.probe(self._to(source), tag))

    def iprobe(self, source: int = zmqmesh.ANY_SOURCE, tag: int = zmqmesh.ANY_TAG) -> Any:
        st = self._z.iprobe(self._to(source), tag)
        return None if st is None else self._back(st)


class _InterBox(_Box):
    """What an intercommunicator handle names: besides a ``_Box``'s (the
    ``Remote`` views as its communicator and shadow, the local group as
    its members), the union itself, the remote group's world ranks,
    whether the local group is the low one, and the collectives' links."""

    __slots__ = ("links", "low", "remote", "union")
    inter = True

    def __init__(
        self, three: Sequence[ZComm], low: bool, nlow: int, names: Sequence[int] | None = None
    ) -> None:
        union, shadow, coll = three
        n = union.size
        mine = range(0, nlow) if low else range(nlow, n)
        theirs = range(nlow, n) if low else range(0, nlow)
        ranks = _union_ranks(union) if names is None else tuple(names)
        at, size, rank = theirs.start, len(mine), union.rank - mine.start
        views: Any = (Remote(union, at, len(theirs), rank, size),)
        views += (Remote(shadow, at, len(theirs), rank, size), tuple(ranks[i] for i in mine))
        super().__init__(views)
        self.union, self.low = union, low
        self.remote = tuple(ranks[i] for i in theirs)
        self.links = Links(coll, mine.start, at, rank, size, len(theirs))

    def nlow(self) -> int:
        return len(self.members if self.low else self.remote)

    def names(self) -> tuple[int, ...]:
        """The union's ranks as the groups name them, in union order."""
        both: tuple[int, ...] = (
            self.members + self.remote if self.low else self.remote + self.members
        )
        return both


def _union_ranks(z: ZComm) -> tuple[int, ...]:
    ranks: tuple[int, ...] = z._ranks  # world ranks, in union order
    return ranks


async def _three(made: Awaitable[ZComm | None]) -> tuple[ZComm, ZComm, ZComm] | None:
    """A new union with its shadow and its collectives' context (None
    where the rank is left out)."""
    union = await made
    if union is None:
        return None
    return union, await union.dup(), await union.dup()


class Intercomm(InterCollectiveCalls, Comm):
    """An intercommunicator: a local and a remote group.

    Point-to-point ranks and collective roots name the remote group."""

    __slots__ = ()

    def __new__(cls, other: Any = None, *args: Any, **kwargs: Any) -> Any:
        # ``Intercomm(intracomm)`` raises, as in mpi4py
        obj = super().__new__(cls, other, *args, **kwargs)
        if obj._h is not None and not obj._h.inter:
            raise TypeError("expecting an intercommunicator")
        return obj

    def _box(self) -> _InterBox:
        self._comm  # noqa: B018 (ERR_COMM for the null communicator)
        box = self._h
        if not isinstance(box, _InterBox):
            raise MPIException(C.ERR_COMM, "Invalid communicator (not an intercommunicator)")
        return box

    def _links(self) -> Links:
        return self._box().links

    # -- the remote group ---------------------------------------------------------------------
    def Get_remote_size(self) -> int:
        """The number of processes in the remote group."""
        return len(self._box().remote)

    def Get_remote_group(self) -> Group:
        """The remote group."""
        return Group._of(self._box().remote, _world_rank())

    remote_size = property(Get_remote_size)
    remote_group = property(Get_remote_group)

    # -- new communicators --------------------------------------------------------------------
    def Dup(self, info: Any = None) -> Intercomm:
        """A new intercommunicator of the same two groups (with the
        attributes its keyvals copy). Collective over both groups."""
        box = self._box()
        got = runner.run(_three(box.union.dup()))
        assert got is not None
        new: Intercomm = _made(
            type(self), got, box.low, len(box.members if box.low else box.remote)
        )
        self._copy_attrs_to(new)
        return new

    Clone = Dup

    def Split(self, color: int = 0, key: int = 0) -> Any:
        """Intercommunicators by ``color``: the local members of a colour
        (ranked by ``key``) with the remote members of the same colour;
        ``COMM_NULL`` for ``UNDEFINED`` and for a colour that only one
        group has. Collective over both groups."""
        box = self._box()
        mine = None if color == C.UNDEFINED else int(color)
        entries = runner.run(box.union.allgather((mine, int(key))))
        nlow = box.nlow()
        low = [e for e in enumerate(entries[:nlow]) if e[1][0] == mine]
        high = [e for e in enumerate(entries[nlow:], nlow) if e[1][0] == mine]
        if mine is None or not low or not high:
            runner.run(box.union.split(None))
            return COMM_NULL
        side = sorted(low if box.low else high, key=lambda e: (e[1][1], e[0]))
        place = [u for u, _ in side].index(box.union.rank)
        made = box.union.split(mine, (0 if box.low else _SIDE) + place)
        got = runner.run(_three(made))
        assert got is not None
        names = box.names()
        order = sorted(low, key=lambda e: (e[1][1], e[0])) + sorted(
            high, key=lambda e: (e[1][1], e[0])
        )
        return _made(Intercomm, got, box.low, len(low), [names[u] for u, _ in order])

    def Create(self, group: Group) -> Any:
        """The intercommunicator of ``group`` (a subgroup of the local
        group) and the remote side's; ``COMM_NULL`` outside it, or when
        either is empty. Collective over both groups."""
        g = group._m()
        me = _world_rank()
        if me not in g.ranks:
            return self.Split(C.UNDEFINED)
        return self.Split(0, g.ranks.index(me))

    def Create_group(self, group: Group, tag: int = 0) -> Any:
        """Create a communicator of ``group``, as ``Create`` does."""
        return self.Create(group)

    def Merge(self, high: bool = False) -> Intracomm:
        """An intracommunicator of both groups: the group that passed
        ``high`` false first (the low group first when both passed the
        same), each in its own order. Collective over both groups."""
        box = self._box()
        got = runner.run(_paired(box.union.split(0, 1 if high else 0), world_rank=_world_rank()))
        return Intracomm._of(got)  # type: ignore[no-any-return]

    def Disconnect(self) -> None:
        """Wait until both groups are here (so what was sent has been
        received), then free the intercommunicator; every handle to it
        becomes invalid. Collective over both groups."""
        box = self._box()
        self.barrier()
        self.Free()
        box.comm = None

    def Compare(self, other: Comm) -> int:
        """Compare two communicators: ``IDENT`` (the same communicator),
        ``CONGRUENT`` (the same local and remote groups in the same order),
        ``SIMILAR`` (the same members) or ``UNEQUAL`` (also against an
        intracommunicator)."""
        self._comm  # noqa: B018 (ERR_COMM for a null one)
        box = self._h  # (self may be a Comm handle of an intercommunicator)
        other._comm  # noqa: B018 (ERR_COMM for a null one)
        theirs = other._h
        if theirs is box:
            return C.IDENT
        if not isinstance(theirs, _InterBox):
            return C.UNEQUAL
        if (box.members, box.remote) == (theirs.members, theirs.remote):
            return C.CONGRUENT
        same = sorted(box.members) == sorted(theirs.members)
        return C.SIMILAR if same and sorted(box.remote) == sorted(theirs.remote) else C.UNEQUAL

    def Split_type(self, split_type: int, key: int = 0, info: Any = None) -> Any:
        """Split the communicator, as ``Split``, by host for
        ``COMM_TYPE_SHARED`` (the local and remote processes of each host);
        ``COMM_NULL`` for any other kind, and where a host has processes of
        one group only."""
        box = self._box()
        hosts = runner.run(box.union.allgather(socket.gethostname()))
        mine = hosts[box.union.rank]
        shared = int(split_type) == C.COMM_TYPE_SHARED
        return self.Split(hosts.index(mine) if shared else C.UNDEFINED, key)


def _made(
    cls: type[Intercomm],
    three: Sequence[ZComm],
    low: bool,
    nlow: int,
    names: Sequence[int] | None = None,
) -> Any:
    c = cls()
    c._h = _InterBox(three, low, nlow, names)
    return c


def intercomm_of(
    three: Sequence[ZComm], low: bool, nlow: int, names: Sequence[int] | None = None
) -> Intercomm:
    """The intercommunicator over a union (with its shadow and collective
    context) whose first ``nlow`` ranks are the low group (``low``: this
    rank is one of them); ``names``: the union's ranks as its groups name
    them (world ranks when None)."""
    got: Intercomm = _made(Intercomm, three, low, nlow, names)
    return got


def _free_slots(mask: int, n: int) -> list[int]:
    out: list[int] = []
    slot = 0
    while len(out) < n:
        if not mask >> slot & 1:
            out.append(slot)
        slot += 1
    return out


Side = tuple[tuple[int, ...], tuple[int, ...]]  # a group's engine ranks and its members' names
Deal = tuple[tuple[int, ...], tuple[int, ...], bool, list[int], int]


def leaders_deal(side: Side, mask: int, swap: Any) -> Deal:
    """At a group's leader: swap this group's ranks, names and used slots
    with the other leader (``swap(mine) -> theirs``); what every member
    needs to make the intercommunicator: the other group's ranks and
    names, whether this group is the low one, three slots free on both
    groups and the identity of the first (the low leader's random draw)."""
    mine = (side[0], side[1], mask, secrets.randbits(48))
    theirs = swap(mine)
    low = min(side[0]) < min(theirs[0])
    ident = int((mine if low else theirs)[3])
    return tuple(theirs[0]), tuple(theirs[1]), low, _free_slots(mask | theirs[2], 3), ident


def intercomm_dealt(z: ZComm, side: Side, deal: Deal) -> Intercomm:
    """The intercommunicator that ``leaders_deal`` agreed (``z``: any
    communicator of this process's engine)."""
    their_ranks, their_names, low, slots, ident = deal
    ranks = side[0] + their_ranks if low else their_ranks + side[0]
    names = side[1] + their_names if low else their_names + side[1]
    three = [z.join(ranks, s, ident + i) for i, s in enumerate(slots)]
    return intercomm_of(three, low, len(side[0] if low else their_ranks), names)


def _create_intercomm(
    self: Comm, local_leader: int, peer_comm: Comm, remote_leader: int, tag: int = 0
) -> Intercomm:
    """An intercommunicator of this communicator's group and the group of
    ``remote_leader`` (a rank of ``peer_comm``, which only the local leader
    reads); ``tag`` marks the leaders' messages on ``peer_comm``.
    Collective over both groups."""
    z = self._z()
    leader = int(local_leader)
    if not 0 <= leader < z.size:
        raise MPIException(C.ERR_RANK, f"Invalid rank {leader} (local leader)")
    side = (_union_ranks(z), self._members())
    mask = runner.run(z.allreduce(z.used_slots(), BOR))
    deal = None
    if z.rank == leader:

        def swap(mine: Any) -> Any:
            return peer_comm.sendrecv(mine, remote_leader, tag, None, remote_leader, tag)

        deal = leaders_deal(side, mask, swap)
    return intercomm_dealt(z, side, runner.run(z.bcast(deal, leader)))


_InterBox.handle_class = Intercomm
Intracomm.Create_intercomm = _create_intercomm  # type: ignore[attr-defined]
