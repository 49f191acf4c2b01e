"""Reduction ops against NumPy and Python references: every op x dtype x
layout, operand order, in-place and no-aliasing guarantees, MAXLOC/MINLOC
ties, and property tests."""

from __future__ import annotations

import copy
import functools
import operator
import pickle
import tracemalloc
import zlib
from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqmesh.collectives.ops import (
    BAND,
    BOR,
    BUILTINS,
    BXOR,
    LAND,
    LOR,
    LXOR,
    MAX,
    MIN,
    PROD,
    SUM,
    Op,
    op_id,
    working_copy,
)

PROPERTY = settings(max_examples=120, deadline=None, database=None)

INTS = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
FLOATS = [np.float16, np.float32, np.float64]
COMPLEX = [np.complex64, np.complex128]
DTYPES = [np.dtype(t) for t in [*INTS, *FLOATS, *COMPLEX, np.bool_]]

# (op, ufunc reference, logical: result cast back to the operands' dtype, bitwise)
ELEMENTWISE: list[tuple[Op, np.ufunc, bool, bool]] = [
    (SUM, np.add, False, False),
    (PROD, np.multiply, False, False),
    (MAX, np.maximum, False, False),
    (MIN, np.minimum, False, False),
    (LAND, np.logical_and, True, False),
    (LOR, np.logical_or, True, False),
    (LXOR, np.logical_xor, True, False),
    (BAND, np.bitwise_and, False, True),
    (BOR, np.bitwise_or, False, True),
    (BXOR, np.bitwise_xor, False, True),
]


def sample(dtype: np.dtype[Any], shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Small values (so float products cannot overflow and warn), with zeros
    and repeats (so logical ops and ties are exercised)."""
    if dtype.kind == "b":
        x = rng.integers(0, 2, shape)
    elif dtype.kind == "u":
        x = rng.integers(0, 6, shape)
    elif dtype.kind == "i":
        x = rng.integers(-3, 4, shape)
    elif dtype.kind == "f":
        x = rng.integers(-6, 7, shape) / 2
    else:
        x = rng.integers(-3, 4, shape) + 1j * rng.integers(-3, 4, shape)
    return np.asarray(x).astype(dtype)  # asarray: shape () gives a 0-d array


def layouts(dtype: np.dtype[Any], seed: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, a, b) operand pairs of one shape in every layout that matters."""
    rng = np.random.default_rng(seed)
    out = []
    for shape in [(), (0,), (3, 0), (1,), (7,), (3, 4), (2, 3, 2)]:
        out.append((f"C{shape}", sample(dtype, shape, rng), sample(dtype, shape, rng)))
    out.append(
        (
            "fortran",
            np.asfortranarray(sample(dtype, (3, 5), rng)),
            np.asfortranarray(sample(dtype, (3, 5), rng)),
        )
    )
    out.append(("strided", sample(dtype, (14,), rng)[::2], sample(dtype, (21,), rng)[::3]))
    swapped = dtype.newbyteorder()
    out.append(("byteswapped", sample(dtype, (5,), rng).astype(swapped), sample(dtype, (5,), rng)))
    return out


def readonly(x: np.ndarray) -> np.ndarray:
    v = x.view()
    v.flags.writeable = False
    return v


def reference(ufunc: np.ufunc, logical: bool, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    res = np.asarray(ufunc(a, b))
    return res.astype(np.result_type(a, b)) if logical else res


# -- built-ins on arrays ----------------------------------------------------


# bitwise ops on float/complex raise: test_bitwise_on_floats_raises
DEFINED = [
    pytest.param(op, ufunc, logical, dtype, id=f"{op.name}-{dtype}")
    for op, ufunc, logical, bitwise in ELEMENTWISE
    for dtype in DTYPES
    if not (bitwise and dtype.kind in "fc")
]


@pytest.mark.parametrize(("op", "ufunc", "logical", "dtype"), DEFINED)
def test_elementwise_against_numpy(
    op: Op, ufunc: np.ufunc, logical: bool, dtype: np.dtype[Any]
) -> None:
    for name, a, b in layouts(dtype, seed=zlib.crc32(f"{op.name}{dtype.str}".encode())):
        a_before, b_before = a.copy(), b.copy()
        for left in (True, False):
            want = reference(ufunc, logical, a, b) if left else reference(ufunc, logical, b, a)
            acc = working_copy(a)
            res = op.combine_into(acc, readonly(b), left=left)
            assert res is acc, name
            assert res.dtype == a.dtype, name  # acc's own dtype, byte order included
            assert res.shape == a.shape, name
            np.testing.assert_array_equal(res, want, err_msg=f"{op} {dtype} {name} left={left}")
            if name == "fortran":
                assert res.flags.f_contiguous
        new = op(readonly(a), readonly(b))
        assert isinstance(new, np.ndarray), name  # 0-d operands give a 0-d array
        assert not np.shares_memory(new, a)
        assert not np.shares_memory(new, b)
        np.testing.assert_array_equal(new, reference(ufunc, logical, a, b), err_msg=name)
        np.testing.assert_array_equal(a, a_before, err_msg=name)
        np.testing.assert_array_equal(b, b_before, err_msg=name)


@pytest.mark.parametrize("op", [LAND, LOR, LXOR], ids=str)
@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.float32, np.complex128], ids=str)
def test_logical_ops_keep_dtype_and_write_0_1(op: Op, dtype: type) -> None:
    a = np.array([0, 3, 0, -2 if dtype != np.uint8 else 2], dtype=dtype)
    b = np.array([0, 0, 5, 7], dtype=dtype)
    want = {LAND: [0, 0, 0, 1], LOR: [0, 1, 1, 1], LXOR: [0, 1, 1, 0]}[op]
    res = op.combine_into(working_copy(a), readonly(b), left=True)
    assert res.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(res, np.array(want, dtype=dtype))
    assert op(a, b).dtype == np.dtype(dtype)


@pytest.mark.parametrize("op", [BAND, BOR, BXOR], ids=str)
@pytest.mark.parametrize("dtype", [*FLOATS, *COMPLEX], ids=str)
def test_bitwise_on_floats_raises(op: Op, dtype: type) -> None:
    a = np.ones(3, dtype=dtype)
    dt = str(np.dtype(dtype))
    with pytest.raises(TypeError, match=rf"zmqmesh\.{op.name} .*{dt}"):
        op.combine_into(working_copy(a), readonly(a), left=True)
    with pytest.raises(TypeError, match=rf"zmqmesh\.{op.name} .*{dt}"):
        op(a, a)
    with pytest.raises(TypeError, match=rf"zmqmesh\.{op.name}"):
        op(1.5, 2.5)


def test_max_min_propagate_nan_on_arrays() -> None:
    a = np.array([np.nan, 1.0, np.nan])
    b = np.array([2.0, np.nan, np.nan])
    for op in (MAX, MIN):
        for left in (True, False):
            assert np.isnan(op.combine_into(working_copy(a), b, left=left)).all()


def test_shape_and_dtype_mismatch() -> None:
    with pytest.raises(ValueError, match=r"zmqmesh\.SUM .*\(3,\).*\(2, 3\)"):
        SUM.combine_into(np.zeros(3), np.zeros((2, 3)), left=True)
    with pytest.raises(ValueError, match="one shape"):
        SUM.combine_into(np.zeros((2, 3)), np.zeros(3), left=True)  # no silent broadcast
    with pytest.raises(ValueError, match="one shape"):
        MAX(np.zeros(3), np.zeros((1, 3)))
    # acc's dtype is the result's: a wider operand would be truncated, so it raises
    with pytest.raises(TypeError, match=r"zmqmesh\.SUM .*int32.*int64"):
        SUM.combine_into(np.zeros(3, np.int32), np.ones(3, np.int64), left=True)
    with pytest.raises(TypeError, match=r"zmqmesh\.SUM .*int64.*float64"):
        SUM.combine_into(np.zeros(3, np.int64), np.ones(3), left=False)
    acc = np.zeros(3, np.int64)
    assert SUM.combine_into(acc, np.ones(3, np.int32), left=True) is acc
    # a Python scalar is a weak operand, as in NumPy
    acc8 = np.array([1, 2], np.int8)
    assert SUM.combine_into(acc8, 3, left=True) is acc8
    assert acc8.tolist() == [4, 5]


def test_object_arrays() -> None:
    a = np.array([[1], "x"], dtype=object)
    b = np.array([[2], "y"], dtype=object)
    acc = working_copy(a)
    assert SUM.combine_into(acc, b, left=False) is acc
    assert acc.tolist() == [[2, 1], "yx"]
    assert a.tolist() == [[1], "x"]


@pytest.mark.parametrize(("op", "dtype"), [(SUM, np.float64), (MAX, np.float32), (BXOR, np.int64)])
def test_combine_into_does_not_allocate(op: Op, dtype: type) -> None:
    n = 1 << 17  # 1 MiB of float64
    acc = np.ones(n, dtype=dtype)
    b = readonly(np.ones(n, dtype=dtype))
    fortran = np.asfortranarray(np.ones((256, 512), dtype=dtype))
    fb = readonly(np.asfortranarray(np.ones((256, 512), dtype=dtype)))
    op.combine_into(acc, b, left=True)  # warm up any lazy NumPy state
    tracemalloc.start()
    try:
        for left in (True, False):
            assert op.combine_into(acc, b, left=left) is acc
            assert op.combine_into(fortran, fb, left=left) is fortran
        _, peak_into = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        op(acc, b)
        _, peak_call = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak_call >= acc.nbytes  # the measurement sees NumPy's buffers
    assert peak_into < 16 * 1024


# -- built-ins on Python values and NumPy scalars -----------------------------

PY_CASES: list[tuple[Op, Any, Any, Any]] = [
    (SUM, 2, 3, 5),
    (SUM, 1.5, 2, 3.5),
    (SUM, True, True, 2),
    (SUM, "ab", "cd", "abcd"),
    (SUM, (1,), (2,), (1, 2)),
    (PROD, 4, -3, -12),
    (PROD, 2.5, 2, 5.0),
    (MAX, 3, 7, 7),
    (MAX, 7, 3, 7),
    (MAX, -1.5, -2.5, -1.5),
    (MIN, 3, 7, 3),
    (MIN, 7.5, 3, 3),
    (LAND, 0, 5, 0),
    (LAND, 3, 5, 5),
    (LAND, True, False, False),
    (LOR, 0, 5, 5),
    (LOR, 3, 5, 3),
    (LOR, 0, 0, 0),
    (LXOR, 1, 2, False),
    (LXOR, 0, 2, True),
    (LXOR, 0.0, 0, False),
    (BAND, 6, 3, 2),
    (BOR, 6, 3, 7),
    (BXOR, 6, 3, 5),
    (BAND, True, False, False),
    (BXOR, True, True, False),
]


@pytest.mark.parametrize(("op", "a", "b", "want"), PY_CASES, ids=repr)
def test_python_values(op: Op, a: Any, b: Any, want: Any) -> None:
    got = op(a, b)
    assert got == want
    assert type(got) is type(want)
    assert op.combine_into(a, b, left=True) == want
    assert op.combine_into(b, a, left=False) == want


def test_python_max_min_ties_keep_left() -> None:
    # mpi4py's MAX is `b if b > a else a`: on ties the left operand wins
    assert type(MAX(1, 1.0)) is int
    assert type(MAX(1.0, 1)) is float
    assert type(MIN(1, 1.0)) is int
    assert type(MIN(1.0, 1)) is float
    assert type(MAX.combine_into(1, 1.0, left=False)) is float  # left is b
    nan = float("nan")
    assert MAX(1.0, nan) == 1.0  # unordered: the left operand
    assert MAX(nan, 1.0) != MAX(nan, 1.0)  # nan


@pytest.mark.parametrize(
    ("op", "a", "b", "want"),
    [
        (SUM, np.int8(100), np.int8(20), np.int8(120)),
        (PROD, np.float32(1.5), np.float32(2), np.float32(3)),
        (MAX, np.uint16(3), np.uint16(9), np.uint16(9)),
        (MIN, np.float64(-1), np.float64(2), np.float64(-1)),
        (BXOR, np.int32(6), np.int32(3), np.int32(5)),
        (LAND, np.bool_(True), np.bool_(False), np.bool_(False)),
        (SUM, np.complex64(1 + 2j), np.complex64(3j), np.complex64(1 + 5j)),
    ],
    ids=repr,
)
def test_numpy_scalars(op: Op, a: Any, b: Any, want: Any) -> None:
    got = op(a, b)
    assert got == want
    assert type(got) is type(want)
    assert op.combine_into(a, b, left=False) == op(b, a)


def test_python_type_errors_name_the_op() -> None:
    with pytest.raises(TypeError, match=r"zmqmesh\.BAND is not defined for float and float"):
        BAND(1.0, 2.0)
    with pytest.raises(TypeError, match=r"zmqmesh\.MAX is not defined for complex and complex"):
        MAX(1j, 2j)
    with pytest.raises(TypeError, match=r"zmqmesh\.SUM"):
        SUM.combine_into("a", 1, left=True)


def test_python_acc_with_array_operand() -> None:
    b = readonly(np.arange(3))
    got = MAX.combine_into(1, b, left=True)
    assert got.tolist() == [1, 1, 2]
    assert SUM.combine_into(10, b, left=False).tolist() == [10, 11, 12]


# -- user ops -----------------------------------------------------------------


def concat(a: str, b: str) -> str:
    return a + b


def test_user_op_operand_order() -> None:
    op = Op(concat, commute=False)
    assert op.commute is False
    assert op.name == "concat"
    assert op("a", "b") == "ab"
    assert op.combine_into("lo", "hi", left=True) == "lohi"
    assert op.combine_into("hi", "lo", left=False) == "lohi"
    parts = ["r0", "r1", "r2", "r3"]
    assert functools.reduce(op, parts) == "r0r1r2r3"


def test_user_op_matrix_product() -> None:
    op = Op(np.matmul, commute=False, name="matmul")
    a = np.array([[1, 2], [0, 1]])
    b = np.array([[1, 0], [3, 1]])
    assert not np.array_equal(a @ b, b @ a)
    np.testing.assert_array_equal(op.combine_into(working_copy(a), b, left=True), a @ b)
    np.testing.assert_array_equal(op.combine_into(working_copy(a), b, left=False), b @ a)
    np.testing.assert_array_equal(op(a, b), a @ b)


def test_user_op_identity_and_pickle() -> None:
    op = Op(concat, commute=False)
    assert op_id(op) == f"user:{concat.__module__}.concat"
    assert op_id(Op(operator.add)) == "user:_operator.add"
    assert repr(op).startswith("zmqmesh.Op(<function concat")
    assert "commute=False" in repr(op)
    back = pickle.loads(pickle.dumps(op))
    assert (back.name, back.commute, back("x", "y")) == ("concat", False, "xy")
    assert Op(concat, name="cat").name == "cat"
    assert Op(concat).commute is True
    with pytest.raises(TypeError, match="callable"):
        Op(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="name"):
        Op(concat, name=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"expected a zmqmesh\.Op"):
        op_id(concat)  # type: ignore[arg-type]


def test_builtins_identity() -> None:
    names = ["SUM", "PROD", "MAX", "MIN", "LAND", "LOR", "LXOR", "BAND", "BOR", "BXOR"]
    names += ["MAXLOC", "MINLOC"]
    assert list(BUILTINS) == names
    for name, op in BUILTINS.items():
        assert op.name == name == op_id(op)
        assert repr(op) == f"zmqmesh.{name}"
        assert op.commute is True
        assert pickle.loads(pickle.dumps(op)) is op
        assert copy.copy(op) is op
        assert copy.deepcopy(op) is op
    with pytest.raises(AttributeError, match="immutable"):
        SUM.commute = False  # type: ignore[misc]
    with pytest.raises(AttributeError, match="immutable"):
        SUM._into = None  # type: ignore[assignment]


# -- working_copy -------------------------------------------------------------


def test_working_copy_never_aliases() -> None:
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    cases = [
        base,
        readonly(base),
        np.asfortranarray(base),
        base[::2, 1::2],
        np.array(5.0),
        np.zeros((0, 3)),
        base.astype(">f8"),
    ]
    for x in cases:
        c = working_copy(x)
        assert type(c) is np.ndarray
        assert c.flags.writeable
        assert c.flags.owndata
        assert not np.shares_memory(c, x)
        assert c.dtype == x.dtype
        assert c.shape == x.shape
        np.testing.assert_array_equal(c, x)
    assert working_copy(np.asfortranarray(base)).flags.f_contiguous
    assert type(working_copy(np.ma.masked_array([1, 2]))) is np.ndarray


def test_working_copy_pairs_and_scalars() -> None:
    v, i = np.arange(3.0), np.arange(3)
    c = working_copy((v, i))
    assert type(c) is tuple
    assert len(c) == 2
    assert not np.shares_memory(c[0], v)
    assert not np.shares_memory(c[1], i)
    for x in [3, 2.5, "s", None, np.float32(1), (3.5, 2), [np.zeros(2)]]:
        assert working_copy(x) is x


# -- properties -------------------------------------------------------------------


def fold_grouped(op: Op, items: list[Any], data: st.DataObject) -> Any:
    """Reduce items[0] op ... op items[-1] under a random bracketing, as a
    reduction tree would, through combine_into on working copies."""
    if len(items) == 1:
        return working_copy(items[0])
    cut = data.draw(st.integers(1, len(items) - 1))
    lo = fold_grouped(op, items[:cut], data)
    hi = fold_grouped(op, items[cut:], data)
    if data.draw(st.booleans()):
        return op.combine_into(lo, hi, left=True)
    return op.combine_into(hi, lo, left=False)


@PROPERTY
@given(
    st.data(),
    st.sampled_from([SUM, BXOR, MAX]),
    st.sampled_from([np.int8, np.int64, np.uint32]),
    st.integers(1, 8),
    st.integers(0, 5),
)
def test_grouping_does_not_change_integer_results(
    data: st.DataObject, op: Op, dtype: type, count: int, n: int
) -> None:
    arrays = [
        data.draw(hnp.arrays(dtype, n, elements=hnp.from_dtype(np.dtype(dtype))))
        for _ in range(count)
    ]
    sequential = functools.reduce(op, arrays)
    grouped = fold_grouped(op, arrays, data)
    assert grouped.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(grouped, sequential)
    ints = [int(x) for x in data.draw(st.lists(st.integers(-(2**70), 2**70), min_size=count))]
    assert fold_grouped(op, ints, data) == functools.reduce(op, ints)
    for a in arrays:
        assert a.flags.writeable  # inputs were never used as accumulators


ARRAY_OPS = [op for op, *_ in ELEMENTWISE]


@st.composite
def operands(draw: st.DrawFn) -> tuple[Op, np.ndarray, np.ndarray]:
    op = draw(st.sampled_from(ARRAY_OPS))
    kinds = [np.int16, np.uint64, np.bool_] + ([] if op in (BAND, BOR, BXOR) else FLOATS)
    dtype = np.dtype(draw(st.sampled_from(kinds)))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    if dtype.kind == "f":
        elements = st.floats(-100, 100, width=dtype.itemsize * 8) | st.just(float("nan"))
    else:
        elements = hnp.from_dtype(dtype)
    a, b = (draw(hnp.arrays(dtype, shape, elements=elements)) for _ in "ab")
    if a.ndim >= 2 and draw(st.booleans()):
        a = np.asfortranarray(a)  # (asfortranarray would make a 0-d array 1-d)
    return op, a, b


@PROPERTY
@given(operands())
def test_combine_into_equals_call(case: tuple[Op, np.ndarray, np.ndarray]) -> None:
    op, a, b = case
    with np.errstate(all="ignore"):  # float16 products may overflow; both sides agree
        left = op.combine_into(working_copy(a), readonly(b), left=True)
        right = op.combine_into(working_copy(a), readonly(b), left=False)
        np.testing.assert_array_equal(left, op(a, b))
        np.testing.assert_array_equal(right, op(b, a))
    assert left.dtype == right.dtype == op(a, b).dtype == a.dtype


@PROPERTY
@given(
    st.sampled_from(ARRAY_OPS),
    st.integers(-(2**40), 2**40) | st.booleans(),
    st.integers(-(2**40), 2**40) | st.booleans(),
)
def test_combine_into_equals_call_python(op: Op, a: Any, b: Any) -> None:
    assert op.combine_into(a, b, left=True) == op(a, b)
    assert op.combine_into(a, b, left=False) == op(b, a)


def test_combine_to_writes_into_out_without_touching_operands() -> None:
    a = np.arange(6, dtype=np.float64)
    b = np.full(6, 2.0)
    a.flags.writeable = False
    b.flags.writeable = False
    for op, want in ((SUM, a + b), (MAX, np.maximum(a, b)), (PROD, a * b)):
        out = np.empty(6)
        op.combine_to(out, a, b)
        np.testing.assert_array_equal(out, want)
    concat = Op(lambda x, y: np.concatenate([x[:3], y[3:]]), commute=False)
    out = np.empty(6)
    concat.combine_to(out, a, b)
    np.testing.assert_array_equal(out, [0, 1, 2, 2, 2, 2])
