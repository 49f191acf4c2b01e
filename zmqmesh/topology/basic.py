"""Ring, tree and full topologies: which ranks one rank talks to.

Theory of operation. A topology is a frozen value ``(shape parameters,
rank)``; every attribute is arithmetic on those, so any rank can compute any
other rank's view (:meth:`at`) without communicating. ``.neighbors`` is the
ordered tuple a topology communicator connects to and that
``neighbor_allgather``/``neighbor_alltoall`` index by.

Invariants (checked by the tests for every size):

* symmetry: ``b`` appears in ``at(a).neighbors`` as often as ``a`` appears in
  ``at(b).neighbors``;
* degree: ring 2 entries (a rank may appear twice, or be itself, for
  ``size <= 2``), tree at most ``arity + 1``, full ``size - 1``.

The mesh (Cartesian) topology lives in :mod:`zmqmesh.topology.cart`.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from ._check import as_int, check_size_rank

__all__ = ["FullTopo", "RingTopo", "TreeTopo"]


@dataclasses.dataclass(frozen=True, slots=True)
class RingTopo:
    """A ring: rank ``r`` talks to ``(r - 1) % size`` and ``(r + 1) % size``.

    Raises ``ValueError`` unless ``size >= 1`` and ``0 <= rank < size``.
    """

    kind: ClassVar[str] = "ring"

    size: int
    rank: int

    def __post_init__(self) -> None:
        size, rank = check_size_rank(self.size, self.rank)
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "rank", rank)

    @property
    def left(self) -> int:
        """``(rank - 1) % size``: the rank itself when ``size == 1``."""
        return (self.rank - 1) % self.size

    @property
    def right(self) -> int:
        """``(rank + 1) % size``: the rank itself when ``size == 1``."""
        return (self.rank + 1) % self.size

    @property
    def neighbors(self) -> tuple[int, ...]:
        """``(left, right)``: always two entries, equal when ``size <= 2``."""
        return (self.left, self.right)

    def at(self, rank: int) -> RingTopo:
        """The same ring seen from ``rank``."""
        return dataclasses.replace(self, rank=rank)


@dataclasses.dataclass(frozen=True, slots=True)
class TreeTopo:
    """A k-ary tree in heap order, rooted at ``root``.

    With ``v = (rank - root) % size`` (the relative rank), the parent is
    relative rank ``(v - 1) // arity`` (``None`` at the root) and the children
    are relative ranks ``v*arity + 1 .. v*arity + arity`` that are below
    ``size``, in that order; relative ranks map back as ``(rel + root) % size``.
    ``arity=1`` is a chain. Raises ``ValueError`` unless ``size >= 1``,
    ``0 <= rank, root < size`` and ``arity >= 1``.
    """

    kind: ClassVar[str] = "tree"

    size: int
    rank: int
    arity: int = 2
    root: int = 0

    def __post_init__(self) -> None:
        size, rank = check_size_rank(self.size, self.rank)
        arity = as_int("arity", self.arity)
        root = as_int("root", self.root)
        if arity < 1:
            raise ValueError(f"arity must be >= 1, got {arity}")
        if not 0 <= root < size:
            raise ValueError(f"root must be in [0, {size}), got {root}")
        for name, value in (("size", size), ("rank", rank), ("arity", arity), ("root", root)):
            object.__setattr__(self, name, value)

    @property
    def parent(self) -> int | None:
        """The parent's rank, ``None`` at the root."""
        v = (self.rank - self.root) % self.size
        return None if v == 0 else ((v - 1) // self.arity + self.root) % self.size

    @property
    def children(self) -> tuple[int, ...]:
        """The children's ranks, in heap order (possibly empty)."""
        v = (self.rank - self.root) % self.size
        first = v * self.arity + 1
        last = min(first + self.arity, self.size)
        return tuple((c + self.root) % self.size for c in range(first, last))

    @property
    def neighbors(self) -> tuple[int, ...]:
        """``(parent,) + children`` without the ``None`` of the root."""
        parent = self.parent
        return self.children if parent is None else (parent, *self.children)

    def at(self, rank: int) -> TreeTopo:
        """The same tree seen from ``rank``."""
        return dataclasses.replace(self, rank=rank)


@dataclasses.dataclass(frozen=True, slots=True)
class FullTopo:
    """All-to-all: every rank talks to every other rank.

    Raises ``ValueError`` unless ``size >= 1`` and ``0 <= rank < size``.
    """

    kind: ClassVar[str] = "full"

    size: int
    rank: int

    def __post_init__(self) -> None:
        size, rank = check_size_rank(self.size, self.rank)
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "rank", rank)

    @property
    def neighbors(self) -> tuple[int, ...]:
        """Every other rank, ascending (empty when ``size == 1``)."""
        return (*range(self.rank), *range(self.rank + 1, self.size))

    def at(self, rank: int) -> FullTopo:
        """The same topology seen from ``rank``."""
        return dataclasses.replace(self, rank=rank)
