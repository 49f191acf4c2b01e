"""MAXLOC and MINLOC: pairs of (value, index), ties to the lowest index, on
Python values and in place on arrays (the other ops are test_ops.py's)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqmesh.collectives.ops import (
    MAXLOC,
    MINLOC,
    Op,
    working_copy,
)

PROPERTY = settings(max_examples=120, deadline=None, database=None)


def readonly(x: np.ndarray) -> np.ndarray:
    v = x.view()
    v.flags.writeable = False
    return v


# -- MAXLOC / MINLOC ------------------------------------------------------------


def test_loc_scalars() -> None:
    assert MAXLOC((3, 2), (3, 1)) == (3, 1)
    assert MAXLOC((3, 1), (3, 2)) == (3, 1)
    assert MAXLOC((5, 9), (3, 1)) == (5, 9)
    assert MAXLOC((3, 1), (5, 9)) == (5, 9)
    assert MINLOC((5, 9), (3, 1)) == (3, 1)
    assert MINLOC((2.0, 7), (2.0, 4)) == (2.0, 4)
    assert MAXLOC((np.float32(1.5), np.int64(0)), (np.float32(1.5), np.int64(3))) == (1.5, 0)
    assert MAXLOC.combine_into((3, 4), (3, 1), left=True) == (3, 1)
    assert MAXLOC.combine_into((3, 4), (3, 1), left=False) == (3, 1)
    assert MINLOC.combine_into((0, 4), (3, 1), left=False) == (0, 4)
    # equal values: the left operand's value, the lowest index
    got = MAXLOC.combine_into((1, 5), (1.0, 2), left=False)
    assert got == (1.0, 2)
    assert type(got[0]) is float
    nan = float("nan")
    v, k = MAXLOC((nan, 4), (1.0, 2))
    assert v != v
    assert k == 2


def test_loc_arrays_in_place() -> None:
    av = np.array([1.0, 5.0, 5.0, 2.0, np.nan])
    ai = np.array([3, 3, 1, 0, 0])
    bv = np.array([2.0, 5.0, 5.0, 1.0, 1.0])
    bi = np.array([1, 1, 4, 9, 9])
    acc = working_copy((av, ai))
    res = MAXLOC.combine_into(acc, (readonly(bv), readonly(bi)), left=True)
    assert res is acc
    assert res[0].tolist()[:4] == [2.0, 5.0, 5.0, 2.0]
    assert np.isnan(res[0][4])
    assert res[1].tolist() == [1, 1, 1, 0, 0]
    acc = working_copy((av, ai))
    res = MINLOC.combine_into(acc, (bv, bi), left=False)
    assert res[0].tolist() == [1.0, 5.0, 5.0, 1.0, 1.0]  # the NaN tie takes b's (left) value
    assert res[1].tolist() == [3, 1, 1, 9, 0]
    assert av.tolist()[:4] == [1.0, 5.0, 5.0, 2.0]
    assert ai.tolist() == [3, 3, 1, 0, 0]
    new = MAXLOC((av, ai), (bv, bi))
    assert type(new) is tuple
    assert not np.shares_memory(new[0], av)


def test_loc_malformed() -> None:
    for bad in [3, [1, 2], (1, 2, 3), (1,), "ab", np.array([1, 2])]:
        with pytest.raises(TypeError, match=r"zmqmesh\.MAXLOC takes \(value, index\) tuples"):
            MAXLOC(bad, (1, 2))
        with pytest.raises(TypeError, match=r"zmqmesh\.MINLOC takes \(value, index\) tuples"):
            MINLOC.combine_into((1, 2), bad, left=True)
    with pytest.raises(ValueError, match="one shape"):
        MAXLOC.combine_into(
            (np.zeros(3), np.zeros(3, int)), (np.zeros(2), np.zeros(2, int)), left=True
        )
    with pytest.raises(TypeError, match=r"zmqmesh\.MAXLOC is not defined"):
        MAXLOC((1j, 0), (2j, 1))


def loc_reference(better: Callable[[Any, Any], bool], x: Any, y: Any) -> tuple[Any, Any]:
    (u, i), (v, j) = x, y
    if better(u, v):
        return u, i
    if better(v, u):
        return v, j
    return u, min(i, j)


@PROPERTY
@given(
    st.data(),
    st.sampled_from([(MAXLOC, operator.gt), (MINLOC, operator.lt)]),
    st.sampled_from([np.int32, np.float64, np.uint8]),
    st.integers(0, 12),
)
def test_loc_arrays_match_scalar_rule(
    data: st.DataObject, case: tuple[Op, Callable[[Any, Any], bool]], dtype: type, n: int
) -> None:
    op, better = case
    vals = st.integers(0, 3)  # few distinct values: many ties
    idxs = st.integers(0, 5)
    xv, yv = (np.array(data.draw(st.lists(vals, min_size=n, max_size=n)), dtype) for _ in "xy")
    xi, yi = (np.array(data.draw(st.lists(idxs, min_size=n, max_size=n)), np.int64) for _ in "xy")
    for left in (True, False):
        acc = working_copy((xv, xi))
        res = op.combine_into(acc, (readonly(yv), readonly(yi)), left=left)
        assert res is acc
        for k in range(n):
            a, b = (xv[k], xi[k]), (yv[k], yi[k])
            want = loc_reference(better, a, b) if left else loc_reference(better, b, a)
            assert (res[0][k], res[1][k]) == want
            assert op(a, b) == loc_reference(better, a, b)
