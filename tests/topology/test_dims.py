"""dims_create: MPI's documented values, optimality against brute force, and
properties of any answer."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqmesh.topology import dims_create

PROPERTY = settings(max_examples=200, deadline=None, database=None)


@pytest.mark.parametrize(
    ("args", "want"),
    [
        # the MPI standard's examples (MPI-4.0 section 8.5.2)
        ((6, 2), (3, 2)),
        ((7, 2), (7, 1)),
        ((6, 3, [0, 3, 0]), (2, 3, 1)),
        # and what MPICH and Open MPI return
        ((12, 3), (3, 2, 2)),
        ((16, 4), (2, 2, 2, 2)),
        ((12, 3, [0, 3, 0]), (2, 3, 2)),
        ((8, 3), (2, 2, 2)),
        ((24, 3), (4, 3, 2)),
        ((36, 3), (4, 3, 3)),
        ((64, 3), (4, 4, 4)),
        ((1, 3), (1, 1, 1)),
        ((1000, 2), (40, 25)),
        ((1000, 3), (10, 10, 10)),
        ((100_000, 2), (400, 250)),
        ((4, 1), (4,)),
        ((12, 2, [0, 0]), (4, 3)),
        ((12, 2, [4, 0]), (4, 3)),
        ((12, 2, [0, 4]), (3, 4)),
        ((12, 2, [6, 2]), (6, 2)),
        ((1, 0), ()),
        ((2**31 - 1, 2), (2**31 - 1, 1)),  # a prime: one possible grid
    ],
)
def test_known_values(args: tuple[int, ...], want: tuple[int, ...]) -> None:
    assert dims_create(*args) == want  # type: ignore[arg-type]


def test_accepts_numpy_ints_and_tuples() -> None:
    assert dims_create(np.int64(6), np.int32(2), (0, np.int16(0))) == (3, 2)
    assert all(type(d) is int for d in dims_create(np.int64(6), 2))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 2), "nnodes must be >= 1"),
        ((-4, 2), "nnodes must be >= 1"),
        ((6, -1), "ndims must be >= 0"),
        ((6, 2, [0]), "dims has 1 entries, ndims is 2"),
        ((6, 2, [0, -1]), "must be >= 0"),
        ((7, 3, [0, 3, 0]), "cannot split 7 nodes"),
        ((12, 2, [5, 0]), "cannot split 12 nodes"),
        ((12, 2, [3, 2]), "cannot split 12 nodes"),  # all fixed, wrong product
        ((2, 0), "cannot split 2 nodes"),
    ],
)
def test_bad_arguments(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dims_create(*args)  # type: ignore[arg-type]


@pytest.mark.parametrize("args", [(6.0, 2), (6, True), (6, 2, [0, 1.5]), ("6", 2)])
def test_bad_types(args: tuple[object, ...]) -> None:
    with pytest.raises(TypeError, match="must be an int"):
        dims_create(*args)  # type: ignore[arg-type]


def brute_force(m: int, k: int) -> tuple[int, ...]:
    """Every non-increasing k-factorization of m; the smallest spread, then
    the lexicographically smallest (the documented order)."""
    found: list[tuple[int, ...]] = []

    def rec(prefix: tuple[int, ...], rest: int, left: int) -> None:
        if left == 0:
            if rest == 1:
                found.append(prefix)
            return
        for d in range(1, (prefix[-1] if prefix else rest) + 1):
            if rest % d == 0:
                rec((*prefix, d), rest // d, left - 1)

    rec((), m, k)
    return min(found, key=lambda t: (t[0] - t[-1], t))


def test_most_balanced_by_brute_force() -> None:
    for n in range(1, 241):
        for k in range(1, 5):
            assert dims_create(n, k) == brute_force(n, k), (n, k)


def test_large_inputs_are_fast_enough() -> None:
    # highly composite and high-dimensional: the pruned search stays small
    assert math.prod(dims_create(735_134_400, 6)) == 735_134_400
    assert dims_create(2**30, 30) == (2,) * 30
    assert dims_create(720_720, 8) == (13, 11, 7, 5, 4, 4, 3, 3)


@PROPERTY
@given(
    st.integers(1, 5000),
    st.lists(st.sampled_from([0, 0, 0, 1, 2, 3, 4]), min_size=0, max_size=5),
)
def test_product_fixed_entries_and_order(nnodes: int, given_dims: list[int]) -> None:
    fixed = math.prod(d for d in given_dims if d)
    free = given_dims.count(0)
    if nnodes % fixed or (free == 0 and fixed != nnodes):
        with pytest.raises(ValueError, match="cannot split"):
            dims_create(nnodes, len(given_dims), given_dims)
        return
    dims = dims_create(nnodes, len(given_dims), given_dims)
    assert len(dims) == len(given_dims)
    assert math.prod(dims) == nnodes
    assert all(d >= 1 for d in dims)
    for d, g in zip(dims, given_dims, strict=True):
        if g:
            assert d == g
    filled = [d for d, g in zip(dims, given_dims, strict=True) if g == 0]
    assert filled == sorted(filled, reverse=True)
    assert tuple(filled) == dims_create(nnodes // fixed, free)


@PROPERTY
@given(st.integers(1, 100_000), st.integers(1, 4))
def test_no_better_balance_exists(nnodes: int, ndims: int) -> None:
    """No swap of a prime factor between two entries narrows the spread: a
    cheap necessary condition of optimality for any size."""
    dims = list(dims_create(nnodes, ndims))
    spread = dims[0] - dims[-1]
    for i in range(ndims):
        for j in range(ndims):
            if i == j:
                continue
            for f in range(2, dims[i] + 1):
                if dims[i] % f == 0 and all(f % q for q in range(2, math.isqrt(f) + 1)):
                    trial = dims.copy()
                    trial[i] //= f
                    trial[j] *= f
                    assert max(trial) - min(trial) >= spread, (dims, trial)
