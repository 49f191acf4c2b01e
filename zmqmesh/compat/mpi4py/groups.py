"""``MPI.Group``: process groups as ordered tuples of world ranks.

A group handle names a :class:`Members` (the world ranks in group order,
and this process's world rank), or nothing (``GROUP_NULL``). Everything
here is local and pure, as MPI's group calls are: a group is made from a
communicator (``Comm.Get_group``) or from other groups, never by talking
to other ranks. ``GROUP_EMPTY`` has no members.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.handles import Handle

__all__ = ["GROUP_EMPTY", "GROUP_NULL", "Group", "Members"]


class Members:
    """World ranks in group order, and the calling process's world rank."""

    __slots__ = ("me", "ranks")

    def __init__(self, ranks: Sequence[int], me: int) -> None:
        self.ranks = tuple(int(r) for r in ranks)
        self.me = int(me)


class Group(Handle):
    """An ordered set of processes (MPI_Group)."""

    __slots__ = ()

    @classmethod
    def _of(cls, ranks: Sequence[int], me: int) -> Group:
        g = cls()
        g._h = Members(ranks, me)
        return g

    def _m(self) -> Members:
        m: Members | None = self._h
        if m is None:
            raise MPIException(C.ERR_GROUP, "Invalid group (the null group)")
        return m

    def __repr__(self) -> str:
        if self._h is None:
            return "<mpi4py.MPI.Group GROUP_NULL>"
        if self._h is GROUP_EMPTY._h:
            return "<mpi4py.MPI.Group GROUP_EMPTY>"
        return super().__repr__()

    def __reduce__(self) -> Any:
        for name in ("GROUP_NULL", "GROUP_EMPTY"):
            known = globals()[name]
            if self is known:
                return name
            if self._h is known._h:
                return type(self), (known,)
        raise ValueError("cannot pickle Group handle")

    # -- who --------------------------------------------------------------------------------
    def Get_size(self) -> int:
        """The number of processes in the group."""
        return len(self._m().ranks)

    def Get_rank(self) -> int:
        """This process's rank in the group, ``UNDEFINED`` when not in it."""
        m = self._m()
        return m.ranks.index(m.me) if m.me in m.ranks else C.UNDEFINED

    size = property(Get_size)
    rank = property(Get_rank)

    def Translate_ranks(
        self, ranks: Sequence[int] | None = None, group: Group | None = None
    ) -> list[int]:
        """The ranks in ``group`` (default: the world's order) of the
        processes of ``ranks`` in this group (default: all of them);
        ``UNDEFINED`` for one not in ``group``, ``PROC_NULL`` stays."""
        mine = self._m().ranks
        asked = range(len(mine)) if ranks is None else [int(r) for r in ranks]
        other = None if group is None else group._m().ranks
        out = []
        for r in asked:
            if r == C.PROC_NULL:
                out.append(C.PROC_NULL)
                continue
            if not 0 <= r < len(mine):
                raise MPIException(C.ERR_RANK, f"Invalid rank {r} in a group of {len(mine)}")
            world = mine[r]
            if other is None:
                out.append(world)
            else:
                out.append(other.index(world) if world in other else C.UNDEFINED)
        return out

    def Compare(self, group: Group) -> int:
        """Compare two groups: ``IDENT`` (same members, same order),
        ``SIMILAR`` (same members) or ``UNEQUAL``."""
        a, b = self._m().ranks, group._m().ranks
        if a == b:
            return C.IDENT
        return C.SIMILAR if sorted(a) == sorted(b) else C.UNEQUAL

    # -- new groups -------------------------------------------------------------------------
    def _new(self, ranks: Sequence[int]) -> Group:
        out = Group._of(ranks, self._m().me)
        return Group(GROUP_EMPTY) if not out._h.ranks else out

    def Dup(self) -> Group:
        """A new group with the same processes."""
        return self._new(self._m().ranks)

    def Incl(self, ranks: Sequence[int]) -> Group:
        """The group of the processes at ``ranks`` in this one, in that order."""
        mine = self._m().ranks
        picked = [int(r) for r in ranks]
        if len(set(picked)) != len(picked) or any(not 0 <= r < len(mine) for r in picked):
            raise MPIException(C.ERR_RANK, f"Invalid ranks {picked} for a group of {len(mine)}")
        return self._new([mine[r] for r in picked])

    def Excl(self, ranks: Sequence[int]) -> Group:
        """This group without the processes at ``ranks``."""
        mine = self._m().ranks
        dropped = {int(r) for r in ranks}
        if any(not 0 <= r < len(mine) for r in dropped):
            raise MPIException(C.ERR_RANK, f"Invalid ranks {sorted(dropped)} for a group")
        return self._new([w for i, w in enumerate(mine) if i not in dropped])

    @staticmethod
    def _ranges(ranges: Sequence[Sequence[int]]) -> list[int]:
        out: list[int] = []
        for first, last, stride in ranges:
            if stride == 0:
                raise MPIException(C.ERR_ARG, "Invalid argument: range stride 0")
            out.extend(range(first, last + (1 if stride > 0 else -1), stride))
        return out

    def Range_incl(self, ranks: Sequence[Sequence[int]]) -> Group:
        """The processes in the ``(first, last, stride)`` ranges of this group."""
        return self.Incl(self._ranges(ranks))

    def Range_excl(self, ranks: Sequence[Sequence[int]]) -> Group:
        """This group without the processes in the ``(first, last, stride)`` ranges."""
        return self.Excl(self._ranges(ranks))

    @classmethod
    def Union(cls, group1: Group, group2: Group) -> Group:
        """The union of two groups: the processes of ``group1``, then those
        of ``group2`` not in it."""
        a, b = group1._m().ranks, group2._m().ranks
        return group1._new([*a, *(w for w in b if w not in a)])

    @classmethod
    def Intersection(cls, group1: Group, group2: Group) -> Group:
        """The intersection of two groups: the processes of ``group1`` that
        are in ``group2``, in ``group1``'s order."""
        b = group2._m().ranks
        return group1._new([w for w in group1._m().ranks if w in b])

    Intersect = Intersection

    @classmethod
    def Difference(cls, group1: Group, group2: Group) -> Group:
        """The difference of two groups: the processes of ``group1`` that are
        not in ``group2``, in ``group1``'s order."""
        b = group2._m().ranks
        return group1._new([w for w in group1._m().ranks if w not in b])

    def Free(self) -> None:
        """Free the group (the handle becomes ``GROUP_NULL``)."""
        if self._h is None:
            raise MPIException(C.ERR_GROUP, "Invalid group (the null group)")
        self._h = None

    @classmethod
    def Create_from_session_pset(cls, session: Any, pset_name: str) -> Group:
        """Create a new group from session and process set."""
        group: Group = session.Create_group(pset_name)
        return group


GROUP_NULL = Group()
GROUP_EMPTY = Group._of((), -1)
