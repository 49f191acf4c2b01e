"""The mesh (Cartesian) topology, as MPI_Cart_create without reordering.

Theory of operation. ``dims`` gives the extent of each dimension and
``periodic`` whether it wraps (a torus dimension). Ranks are laid out in
row-major order: the last dimension varies fastest, so
``rank = sum(coords[i] * prod(dims[i+1:]))``. ``shift(dim, disp)`` returns
``(source, dest)`` as MPI_Cart_shift: ``dest`` is the rank ``disp`` steps up
dimension ``dim``, ``source`` the rank ``disp`` steps down, ``None`` (MPI's
PROC_NULL) past the edge of a non-periodic dimension, both the rank itself
for ``disp == 0``. ``neighbors`` lists, for dim 0, 1, ...: source then dest
of ``shift(dim, 1)``, skipping ``None`` -- MPI's neighborhood order, so a rank
may appear twice (a periodic dimension of 2) or be itself (of 1).

Invariants: ``rank_of(coords) == rank``; ``dest`` of ``shift(d, k)`` at ``r``
is ``s`` exactly when ``source`` of ``shift(d, k)`` at ``s`` is ``r``; each
rank appears in another's ``neighbors`` as often as the other in its own; at
most ``2 * len(dims)`` neighbors.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import ClassVar

from ._check import as_int

__all__ = ["MeshTopo"]


@dataclasses.dataclass(frozen=True, slots=True)
class MeshTopo:
    """A Cartesian grid of ``prod(dims)`` ranks, seen from ``rank``.

    ``dims`` and ``periodic`` are stored as tuples (``periodic`` of bools).
    Raises ``ValueError`` unless every dim is ``>= 1``, ``len(periodic) ==
    len(dims)`` and ``0 <= rank < prod(dims)``; ``TypeError`` for non-integer
    dims or rank.
    """

    kind: ClassVar[str] = "mesh"

    dims: tuple[int, ...]
    periodic: tuple[bool, ...]
    rank: int

    def __post_init__(self) -> None:
        if isinstance(self.dims, (str, bytes)) or not isinstance(self.dims, Sequence):
            raise TypeError(f"dims must be a sequence of ints, got {type(self.dims).__name__}")
        if isinstance(self.periodic, (str, bytes)) or not isinstance(self.periodic, Sequence):
            raise TypeError(
                f"periodic must be a sequence of bools, got {type(self.periodic).__name__}"
            )
        dims = tuple(as_int("dims entry", d) for d in self.dims)
        if any(d < 1 for d in dims):
            raise ValueError(f"every dim must be >= 1, got dims={dims}")
        if len(self.periodic) != len(dims):
            raise ValueError(
                f"periodic has {len(self.periodic)} entries for {len(dims)} dims: {self.periodic}"
            )
        periodic = tuple(bool(p) for p in self.periodic)
        rank = as_int("rank", self.rank)
        size = math.prod(dims)
        if not 0 <= rank < size:
            raise ValueError(f"rank must be in [0, {size}) for dims={dims}, got {rank}")
        object.__setattr__(self, "dims", dims)
        object.__setattr__(self, "periodic", periodic)
        object.__setattr__(self, "rank", rank)

    @property
    def size(self) -> int:
        """``prod(dims)``."""
        return math.prod(self.dims)

    @property
    def ndims(self) -> int:
        """``len(dims)``."""
        return len(self.dims)

    @property
    def coords(self) -> tuple[int, ...]:
        """This rank's coordinates, row-major (the last dimension fastest)."""
        return self.coords_of(self.rank)

    def coords_of(self, rank: int) -> tuple[int, ...]:
        """The coordinates of ``rank``; ``ValueError`` if it is out of range."""
        rank = as_int("rank", rank)
        if not 0 <= rank < self.size:
            raise ValueError(f"rank must be in [0, {self.size}), got {rank}")
        out = [0] * len(self.dims)
        for i in range(len(self.dims) - 1, -1, -1):
            rank, out[i] = divmod(rank, self.dims[i])
        return tuple(out)

    def rank_of(self, coords: Sequence[int]) -> int:
        """The rank at ``coords``. Coordinates on a periodic dimension wrap;
        one outside ``[0, dims[i])`` on a non-periodic dimension raises
        ``ValueError``, as does a wrong number of coordinates."""
        if len(coords) != len(self.dims):
            raise ValueError(f"expected {len(self.dims)} coordinates, got {len(coords)}")
        rank = 0
        for i, (c, d, wrap) in enumerate(zip(coords, self.dims, self.periodic, strict=True)):
            c = as_int("coordinate", c)
            if wrap:
                c %= d
            elif not 0 <= c < d:
                raise ValueError(f"coordinate {c} is off non-periodic dimension {i} of extent {d}")
            rank = rank * d + c
        return rank

    def shift(self, dim: int, disp: int) -> tuple[int | None, int | None]:
        """``(source, dest)`` as MPI_Cart_shift: ``dest`` is ``disp`` steps up
        dimension ``dim``, ``source`` is ``disp`` steps down; ``None`` past the
        edge of a non-periodic dimension; ``(rank, rank)`` for ``disp == 0``.
        Raises ``ValueError`` unless ``0 <= dim < len(dims)``."""
        dim = as_int("dim", dim)
        disp = as_int("disp", disp)
        if not 0 <= dim < len(self.dims):
            raise ValueError(f"dim must be in [0, {len(self.dims)}), got {dim}")
        coords = list(self.coords)
        here = coords[dim]
        coords[dim] = here - disp
        source = self._rank_or_none(coords, dim)
        coords[dim] = here + disp
        dest = self._rank_or_none(coords, dim)
        return source, dest

    def _rank_or_none(self, coords: list[int], dim: int) -> int | None:
        if not self.periodic[dim] and not 0 <= coords[dim] < self.dims[dim]:
            return None
        return self.rank_of(coords)

    @property
    def neighbors(self) -> tuple[int, ...]:
        """For dim 0, 1, ...: source then dest of ``shift(dim, 1)``, skipping
        ``None`` (MPI's neighborhood order; duplicates and self kept)."""
        out: list[int] = []
        for dim in range(len(self.dims)):
            for r in self.shift(dim, 1):
                if r is not None:
                    out.append(r)
        return tuple(out)

    def at(self, rank: int) -> MeshTopo:
        """The same grid seen from ``rank``."""
        return dataclasses.replace(self, rank=rank)
