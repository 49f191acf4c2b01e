"""``dims_create``: a balanced Cartesian grid for ``nnodes`` ranks, as
MPI_Dims_create.

Theory of operation. The free entries of ``dims`` (the zeros) must multiply
to ``m = nnodes / product(fixed entries)``. MPI asks for dimensions "as close
to each other as possible" in non-increasing order; following Träff and
Lübbe ("Specification guideline violations by MPI_Dims_create", EuroMPI'15),
whose criterion MPICH implements, "close" means the smallest spread
``max - min`` over the free entries. The standard leaves ties to the
implementation; here the lexicographically smallest non-increasing tuple
wins (the one with the smaller leading dimensions), so the answer is a
function of the arguments alone.

The search is a depth-first walk over non-increasing factorizations
``d1 >= d2 >= ... >= dk`` of ``m`` drawn from its divisors, in lexicographic
order, pruned by a bound: with ``r`` left to split into ``j`` factors, the
last factor is at most ``floor(r ** (1/j))``, so the spread is at least
``d1 - floor(r ** (1/j))``. Walking in lexicographic order and keeping only
strictly better spreads makes the first best tuple found the answer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ._check import as_int

__all__ = ["dims_create"]


def dims_create(nnodes: int, ndims: int, dims: Sequence[int] | None = None) -> tuple[int, ...]:
    """A grid of ``ndims`` dimensions whose product is ``nnodes``.

    Entries of ``dims`` greater than 0 are kept; entries equal to 0 are
    filled with the most balanced choice (smallest ``max - min``), in
    non-increasing order among the filled entries. ``dims=None`` means all
    free. ``dims_create(6, 2) == (3, 2)``, ``dims_create(7, 2) == (7, 1)``,
    ``dims_create(12, 3, [0, 3, 0]) == (2, 3, 2)``.

    Raises ``ValueError`` if ``nnodes < 1``, ``ndims < 0``, ``len(dims) !=
    ndims``, an entry is negative, or the fixed entries do not divide
    ``nnodes`` (or, with none free, do not multiply to it); ``TypeError`` for
    non-integer arguments.
    """
    nnodes = as_int("nnodes", nnodes)
    ndims = as_int("ndims", ndims)
    if nnodes < 1:
        raise ValueError(f"dims_create: nnodes must be >= 1, got {nnodes}")
    if ndims < 0:
        raise ValueError(f"dims_create: ndims must be >= 0, got {ndims}")
    given = [0] * ndims if dims is None else [as_int("dims entry", d) for d in dims]
    if len(given) != ndims:
        raise ValueError(f"dims_create: dims has {len(given)} entries, ndims is {ndims}")
    if any(d < 0 for d in given):
        raise ValueError(f"dims_create: dims entries must be >= 0 (0 = free), got {given}")
    fixed = 1
    for d in given:
        if d > 0:
            fixed *= d
    free = given.count(0)
    if nnodes % fixed or (free == 0 and fixed != nnodes):
        raise ValueError(
            f"dims_create: cannot split {nnodes} nodes into dims {given}: "
            f"the fixed entries multiply to {fixed}"
        )
    chosen = iter(_balanced(nnodes // fixed, free))
    return tuple(d if d > 0 else next(chosen) for d in given)


def _balanced(m: int, k: int) -> tuple[int, ...]:
    """The most balanced non-increasing ``k``-factorization of ``m`` (see the
    module docstring for the order)."""
    if k == 0:
        return ()
    divisors = _divisors(m)
    best: tuple[int, ...] | None = None
    best_spread = 0

    def walk(prefix: list[int], rest: int, left: int) -> None:
        nonlocal best, best_spread
        if left == 1:
            if not prefix or rest <= prefix[-1]:
                first = prefix[0] if prefix else rest
                if best is None or first - rest < best_spread:
                    best, best_spread = (*prefix, rest), first - rest
            return
        hi = prefix[-1] if prefix else rest
        lo = _iroot_ceil(rest, left)  # the largest of `left` factors is at least this
        for d in divisors:
            if d < lo or rest % d:
                continue
            if d > hi:
                break
            # The last factor is at most the geometric mean of the ones after d,
            # and this bound only grows with d: stop once it cannot improve.
            first = prefix[0] if prefix else d
            if best is not None and first - _iroot(rest // d, left - 1) >= best_spread:
                break
            prefix.append(d)
            walk(prefix, rest // d, left - 1)
            prefix.pop()

    walk([], m, k)
    assert best is not None  # (m, 1, ..., 1) is always a candidate
    return best


def _divisors(m: int) -> list[int]:
    """The divisors of ``m >= 1``, ascending."""
    small: list[int] = []
    large: list[int] = []
    d = 1
    while d * d <= m:
        if m % d == 0:
            small.append(d)
            if d * d != m:
                large.append(m // d)
        d += 1
    return small + large[::-1]


def _iroot(n: int, k: int) -> int:
    """``floor(n ** (1/k))`` exactly, for ``n >= 1``, ``k >= 1``."""
    if k == 1 or n < 2:
        return n
    r = int(math.exp(math.log(n) / k))  # a guess, made exact below
    while r**k > n:
        r -= 1
    while (r + 1) ** k <= n:
        r += 1
    return r


def _iroot_ceil(n: int, k: int) -> int:
    """``ceil(n ** (1/k))`` exactly."""
    r = _iroot(n, k)
    return r if r**k == n else r + 1
