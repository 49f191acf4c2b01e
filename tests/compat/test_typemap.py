"""Datatypes of the mpi4py layer, without processes: typemaps, packing
against NumPy references, and the Datatype objects' answers (numbers are
those mpi4py 4.1 gives on MPICH 4)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqmesh.compat.mpi4py import MPI
from zmqmesh.compat.mpi4py import typemap as T

pytestmark = pytest.mark.timeout(60)

SETTINGS = settings(max_examples=60, deadline=None)


def _pack(dt: MPI.Datatype, buf: np.ndarray, count: int, offset: int = 0) -> np.ndarray:
    mem = buf.reshape(-1).view(np.uint8)
    return T.pack(mem, T.plan(dt.typemap, count, offset)).copy()


def _roundtrip_selected(dt: MPI.Datatype, buf: np.ndarray, count: int) -> None:
    """Unpacking what was packed into a zeroed buffer restores exactly the
    bytes the type selects, and leaves every other byte zero."""
    packed = _pack(dt, buf, count)
    src = buf.reshape(-1).view(np.uint8)
    mem = np.zeros(src.size, np.uint8)
    T.unpack(mem, T.plan(dt.typemap, count), packed)
    sel = np.zeros(mem.size, bool)
    sel[_selected_bytes(dt, count)] = True
    assert np.array_equal(mem[sel], src[sel])
    assert not mem[~sel].any()


def _selected_bytes(dt: MPI.Datatype, count: int) -> list[int]:
    """Reference: the byte offsets of every entry of every element, by the
    typemap's definition (a loop, fine for a test)."""
    tm = dt.typemap
    out = []
    for k in range(count):
        for kind, disp in zip(tm.kinds.tolist(), tm.disps.tolist(), strict=True):
            size = T.BASES[kind].itemsize
            out.extend(range(k * tm.extent + disp, k * tm.extent + disp + size))
    return out


@given(
    count=st.integers(1, 5),
    bl=st.integers(1, 4),
    stride=st.integers(1, 7),
    n=st.integers(1, 3),
)
@SETTINGS
def test_vector_pack_is_numpy_fancy_indexing(count: int, bl: int, stride: int, n: int) -> None:
    stride = max(stride, bl)
    vec = MPI.DOUBLE.Create_vector(count, bl, stride).Commit()
    ext = vec.Get_extent()[1] // 8
    a = np.arange(ext * n + 3, dtype="f8")
    start = (np.arange(n)[:, None] * ext + (np.arange(count) * stride)[None, :]).reshape(-1)
    ref = a[(start[:, None] + np.arange(bl)[None, :]).reshape(-1)]
    assert np.array_equal(_pack(vec, a, n).view("f8"), ref)
    _roundtrip_selected(vec, a, n)


@given(blocks=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 12)), min_size=1, max_size=5))
@SETTINGS
def test_indexed_pack_is_concatenated_slices(blocks: list[tuple[int, int]]) -> None:
    bls = [b for b, _ in blocks]
    dps = [d for _, d in blocks]
    t = MPI.INT.Create_indexed(bls, dps)
    a = np.arange(32, dtype="i4")
    ref = np.concatenate([a[d : d + b] for b, d in blocks] + [np.zeros(0, "i4")])
    assert np.array_equal(_pack(t, a, 1).view("i4"), ref)
    h = MPI.INT.Create_hindexed(bls, [4 * d for d in dps])
    assert np.array_equal(_pack(h, a, 1).view("i4"), ref)
    if sum(bls):
        _roundtrip_selected(t, a, 1)


@given(
    shape=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    data=st.data(),
    fortran=st.booleans(),
)
@SETTINGS
def test_subarray_pack_is_a_numpy_slice(
    shape: list[int], data: st.DataObject, fortran: bool
) -> None:
    sub = [data.draw(st.integers(1, n)) for n in shape]
    starts = [data.draw(st.integers(0, n - m)) for n, m in zip(shape, sub, strict=True)]
    order = MPI.ORDER_F if fortran else MPI.ORDER_C
    t = MPI.FLOAT.Create_subarray(shape, sub, starts, order=order)
    o = "F" if fortran else "C"
    a = np.arange(int(np.prod(shape)), dtype="f4")
    view = a.reshape(shape, order=o)[
        tuple(slice(s, s + m) for s, m in zip(starts, sub, strict=True))
    ]
    assert np.array_equal(_pack(t, a, 1).view("f4"), view.ravel(order=o))
    assert t.Get_extent() == (0, a.nbytes)
    _roundtrip_selected(t, a, 1)


@given(n=st.integers(1, 6), gap=st.integers(0, 8))
@SETTINGS
def test_struct_pack_is_the_fields_of_a_structured_array(n: int, gap: int) -> None:
    t = MPI.Datatype.Create_struct([1, 2], [0, 8 + gap], [MPI.INT, MPI.DOUBLE])
    ext = t.Get_extent()[1]
    assert ext % 8 == 0
    assert ext >= 24 + gap
    dt = np.dtype(
        {
            "names": ["i", "d"],
            "formats": ["i4", ("f8", 2)],
            "offsets": [0, 8 + gap],
            "itemsize": ext,
        }
    )
    a = np.zeros(n, dt)
    a["i"] = np.arange(n) + 100
    a["d"] = np.arange(2 * n).reshape(n, 2) / 4
    raw = a.view(np.uint8).reshape(n, ext)
    ref = np.concatenate([raw[:, 0:4], raw[:, 8 + gap : 24 + gap]], axis=1).reshape(-1)
    assert np.array_equal(_pack(t, a, n), ref)
    _roundtrip_selected(t, a, n)


@given(count=st.integers(0, 6), lb=st.integers(0, 8), extra=st.integers(0, 8))
@SETTINGS
def test_resized_moves_elements_by_the_new_extent(count: int, lb: int, extra: int) -> None:
    t = MPI.INT.Create_resized(0, 4 + extra)
    a = np.arange(64, dtype="u1")
    ref = np.concatenate(
        [a[k * (4 + extra) : k * (4 + extra) + 4] for k in range(count)] + [np.zeros(0, "u1")]
    )
    assert np.array_equal(_pack(t, a, count), ref)


def test_contiguous_pack_is_a_view() -> None:
    a = np.arange(10.0)
    p = T.plan(MPI.DOUBLE.Create_contiguous(5).typemap, 2)
    assert p.kind == "slice"
    out = T.pack(a.view(np.uint8), p)
    assert np.shares_memory(out, a)


def test_plans_pick_strided_views_and_index_gathers() -> None:
    assert T.plan(MPI.DOUBLE.Create_vector(4, 2, 5).typemap, 3).kind == "strided"
    assert T.plan(MPI.INT.Create_indexed([1, 2], [0, 5]).typemap, 2).kind == "index"
    p = T.plan(MPI.DOUBLE.Create_vector(4, 2, 5).typemap, 3)
    assert p.word == 8  # whole doubles move, not bytes


def test_pack_refuses_reaching_outside_the_buffer() -> None:
    vec = MPI.DOUBLE.Create_vector(3, 1, 4)
    with pytest.raises(ValueError, match="reaches bytes"):
        _pack(vec, np.zeros(4), 2)
    with pytest.raises(ValueError, match="truncated"):
        T.unpack(np.zeros(8, np.uint8), T.plan(MPI.DOUBLE.typemap, 1), np.zeros(16, np.uint8))


def test_short_message_fills_the_first_entries() -> None:
    t = MPI.INT.Create_vector(3, 1, 2)
    out = np.zeros(6, "i4")
    T.unpack(out.view(np.uint8), T.plan(t.typemap, 1), np.array([7, 8], "i4").view(np.uint8))
    assert out.tolist() == [7, 0, 8, 0, 0, 0]
    assert T.elements_in(t.typemap, 8) == 2
    assert T.elements_in(t.typemap, 6) is None


# -- the Datatype objects --------------------------------------------------------------------
PREDEFINED = [
    ("BYTE", "MPI_BYTE", 1, "B"),
    ("CHAR", "MPI_CHAR", 1, "c"),
    ("SHORT", "MPI_SHORT", 2, "h"),
    ("INT", "MPI_INT", 4, "i"),
    ("LONG", "MPI_LONG", 8, "l"),
    ("LONG_LONG", "MPI_LONG_LONG_INT", 8, "q"),
    ("UNSIGNED", "MPI_UNSIGNED", 4, "I"),
    ("UNSIGNED_LONG", "MPI_UNSIGNED_LONG", 8, "L"),
    ("FLOAT", "MPI_FLOAT", 4, "f"),
    ("DOUBLE", "MPI_DOUBLE", 8, "d"),
    ("LONG_DOUBLE", "MPI_LONG_DOUBLE", 16, "g"),
    ("C_BOOL", "MPI_C_BOOL", 1, "b1"),
    ("BOOL", "MPI_C_BOOL", 1, "b1"),
    ("INT8_T", "MPI_INT8_T", 1, "i1"),
    ("UINT64_T", "MPI_UINT64_T", 8, "u8"),
    ("C_FLOAT_COMPLEX", "MPI_C_COMPLEX", 8, "F"),
    ("C_DOUBLE_COMPLEX", "MPI_C_DOUBLE_COMPLEX", 16, "D"),
    ("COMPLEX", "MPI_COMPLEX", 8, "F"),
    ("DOUBLE_COMPLEX", "MPI_DOUBLE_COMPLEX", 16, "D"),
    ("WCHAR", "MPI_WCHAR", 4, "U"),
    ("SIGNED_CHAR", "MPI_SIGNED_CHAR", 1, "b"),
    ("AINT", "MPI_AINT", 8, "p"),
    ("OFFSET", "MPI_OFFSET", 8, "p"),
    ("COUNT", "MPI_COUNT", 8, "p"),
    ("PACKED", "MPI_PACKED", 1, "B"),
]


@pytest.mark.parametrize(("attr", "name", "size", "code"), PREDEFINED)
def test_predefined_types(attr: str, name: str, size: int, code: str) -> None:
    t = getattr(MPI, attr)
    assert (t.Get_name(), t.Get_size(), t.size, t.tocode()) == (name, size, size, code)
    assert t.Get_extent() == (0, size)
    assert (t.lb, t.ub, t.extent) == (0, size, size)
    assert t.Get_true_extent() == (0, size)
    assert t.is_predefined
    assert t.is_named
    assert t.combiner == MPI.COMBINER_NAMED
    assert t.Get_envelope() == (0, 0, 0, 0, MPI.COMBINER_NAMED)
    assert t.decode()[1:] == ("NAMED", {})
    assert pickle.loads(pickle.dumps(t)) == t


@pytest.mark.parametrize(
    ("attr", "name", "size", "extent", "true_extent"),
    [
        ("TWOINT", "MPI_2INT", 8, 8, 8),
        ("DOUBLE_INT", "MPI_DOUBLE_INT", 12, 16, 12),
        ("FLOAT_INT", "MPI_FLOAT_INT", 8, 8, 8),
        ("LONG_INT", "MPI_LONG_INT", 12, 16, 12),
        ("SHORT_INT", "MPI_SHORT_INT", 6, 8, 8),
        ("LONG_DOUBLE_INT", "MPI_LONG_DOUBLE_INT", 20, 32, 20),
    ],
)
def test_pair_types(attr: str, name: str, size: int, extent: int, true_extent: int) -> None:
    t = getattr(MPI, attr)
    assert (t.Get_name(), t.size, t.extent, t.Get_true_extent()[1]) == (
        name,
        size,
        extent,
        true_extent,
    )
    with pytest.raises(ValueError, match="cannot map"):
        t.tocode()


def test_typedicts_and_typecode() -> None:
    assert MPI._typedict["d"] == MPI.DOUBLE
    assert MPI._typedict["f8"] == MPI.DOUBLE
    assert MPI._typedict["B"] == MPI.UNSIGNED_CHAR
    assert MPI._typedict["Zd"] == MPI.C_DOUBLE_COMPLEX
    assert MPI._typedict_c["i4"] == MPI.INT32_T
    assert MPI._typedict_f["r8"] == MPI.REAL8
    assert MPI._typecode(MPI.INT) == "i"
    assert MPI._typecode(MPI.TWOINT) is None
    assert MPI.Datatype.fromcode("i8") == MPI.INT64_T
    with pytest.raises(ValueError, match="cannot map"):
        MPI.Datatype.fromcode("nope")
    assert MPI.Datatype.Match_size(MPI.TYPECLASS_REAL, 8) == MPI.DOUBLE
    assert MPI.Datatype.Get_value_index(MPI.DOUBLE, MPI.INT) == MPI.DOUBLE_INT


def test_derived_type_answers() -> None:
    v = MPI.DOUBLE.Create_vector(3, 2, 4)
    assert (v.size, v.extent, v.lb, v.ub, v.true_extent) == (48, 80, 0, 80, 80)
    assert v.Get_envelope() == (0, 0, 3, 1, MPI.COMBINER_VECTOR)
    ints, addrs, counts, types = v.Get_contents()
    assert (ints, addrs, counts, types) == ([], [], [3, 2, 4], [MPI.DOUBLE])
    assert v.decode()[1:] == ("VECTOR", {"count": 3, "blocklength": 2, "stride": 4})
    assert v.Get_name() == ""
    assert not v.is_predefined
    assert v.Commit() is v
    s = MPI.Datatype.Create_struct([1, 2], [0, 8], [MPI.INT, MPI.DOUBLE])
    assert (s.size, s.extent, s.Get_envelope()) == (20, 24, (0, 0, 5, 2, MPI.COMBINER_STRUCT))
    r = MPI.INT.Create_resized(-4, 16)
    assert (r.lb, r.ub, r.extent, r.true_lb, r.true_extent) == (-4, 12, 16, 0, 4)
    sa = MPI.INT.Create_subarray([4, 5], [2, 3], [1, 1])
    assert (sa.size, sa.Get_extent(), sa.Get_true_extent()) == (24, (0, 80), (24, 32))
    sa = MPI.INT.Create_subarray([4, 5], [2, 3], [1, 1], order=MPI.ORDER_F)
    assert sa.Get_true_extent() == (20, 40)
    assert sa.Get_contents()[0] == [2, MPI.ORDER_F]
    assert MPI.INT.Create_hvector(2, 1, -8).Get_extent() == (-8, 12)
    assert MPI.INT.Create_indexed([0, 2], [7, 1]).Get_extent() == (4, 8)
    assert MPI.INT.Create_indexed_block(2, [0, 5]).Get_extent() == (0, 28)
    assert MPI.INT.Create_hindexed_block(2, [0, 20]).decode()[1] == "HINDEXED_BLOCK"
    assert MPI.Datatype.Create_struct([1, 1], [0, 8], [MPI.DOUBLE, MPI.INT]).extent == 16
    assert MPI.Datatype.Create_struct([1, 1], [0, 9], [MPI.DOUBLE, MPI.DOUBLE]).extent == 17
    d = MPI.DOUBLE.Dup()
    assert d != MPI.DOUBLE
    assert d.combiner == MPI.COMBINER_DUP
    assert d.size == 8
    assert MPI.INT.Create_dup().decode()[1] == "DUP"
    for t in (v, s, r, sa):
        back = pickle.loads(pickle.dumps(t))
        assert back.Get_envelope() == t.Get_envelope()
        assert back.extent == t.extent


def test_names_free_and_null() -> None:
    t = MPI.INT.Create_contiguous(3)
    t.Set_name("triple")
    assert t.name == "triple"
    same = MPI.Datatype(t)
    assert same == t
    assert bool(t)
    t.Free()
    assert t == MPI.DATATYPE_NULL
    assert not t
    assert same != MPI.DATATYPE_NULL
    with pytest.raises(MPI.Exception):
        MPI.INT.Free()
    with pytest.raises(MPI.Exception):
        MPI.DATATYPE_NULL.Get_size()
    with pytest.raises(TypeError):
        hash(MPI.INT)
    assert MPI.Datatype() == MPI.DATATYPE_NULL


def test_pack_and_unpack_calls() -> None:
    vec = MPI.INT.Create_vector(2, 1, 2)
    src = np.arange(8, dtype="i4")
    out = bytearray(vec.Pack_size(2))
    assert vec.Pack(src, out, 0, MPI.COMM_SELF) == 16
    assert np.frombuffer(out, "i4").tolist() == [0, 2, 3, 5]  # extent 12: at 0 and 12
    back = np.zeros(8, "i4")
    assert vec.Unpack(out, 0, back, MPI.COMM_SELF) == 16
    assert back.tolist() == [0, 0, 2, 3, 0, 5, 0, 0]


def _darray_owner(g: int, dist: int, darg: int, p: int) -> list[int]:
    """The grid coordinate that owns each index of a dimension, by the MPI
    standard's definitions, written out element by element."""
    if dist == MPI.DISTRIBUTE_NONE:
        return [0] * g
    if dist == MPI.DISTRIBUTE_BLOCK:
        b = -(-g // p) if darg == MPI.DISTRIBUTE_DFLT_DARG else darg
        return [i // b for i in range(g)]
    b = 1 if darg == MPI.DISTRIBUTE_DFLT_DARG else darg
    return [(i // b) % p for i in range(g)]


@st.composite
def _darrays(draw: st.DrawFn) -> tuple[list[int], list[int], list[int], list[int], int]:
    ndims = draw(st.integers(1, 3))
    gs, ds, da, ps = [], [], [], []
    for _ in range(ndims):
        g = draw(st.integers(1, 9))
        dist = draw(
            st.sampled_from([MPI.DISTRIBUTE_NONE, MPI.DISTRIBUTE_BLOCK, MPI.DISTRIBUTE_CYCLIC])
        )
        p = 1 if dist == MPI.DISTRIBUTE_NONE else draw(st.integers(1, 4))
        darg = MPI.DISTRIBUTE_DFLT_DARG
        if dist == MPI.DISTRIBUTE_CYCLIC and draw(st.booleans()):
            darg = draw(st.integers(1, 4))
        if dist == MPI.DISTRIBUTE_BLOCK and draw(st.booleans()):
            darg = draw(st.integers(-(-g // p), g + 2))
        gs.append(g), ds.append(dist), da.append(darg), ps.append(p)
    order = draw(st.sampled_from([MPI.ORDER_C, MPI.ORDER_F]))
    return gs, ds, da, ps, order


@SETTINGS
@given(_darrays())
def test_darray_parts_are_the_standards_and_tile_the_array(
    case: tuple[list[int], list[int], list[int], list[int], int],
) -> None:
    """Every rank's darray selects exactly the elements the standard's
    block/cyclic rules give it, in the array's memory order; the parts of
    all ranks tile the array; each extent is the whole array's."""
    gs, ds, da, ps, order = case
    size = int(np.prod(ps))
    owners = [_darray_owner(*a) for a in zip(gs, ds, da, ps, strict=True)]
    seen: list[int] = []
    for rank in range(size):
        t = MPI.INT.Create_darray(size, rank, gs, ds, da, ps, order)
        assert t.Get_extent() == (0, 4 * int(np.prod(gs)))
        coords = np.unravel_index(rank, ps)
        want = [
            int(np.ravel_multi_index(ix, gs, order="F" if order == MPI.ORDER_F else "C"))
            for ix in np.ndindex(*gs)
            if all(owners[d][ix[d]] == coords[d] for d in range(len(gs)))
        ]
        got = [int(x) // 4 for x in t.typemap.disps]
        assert got == sorted(want)
        assert t.Get_contents()[2] == gs  # the global sizes, as large counts
        assert t.decode()[1] == "DARRAY"
        again = pickle.loads(pickle.dumps(t))  # by its constructor, as mpi4py
        assert again.decode()[1:] == t.decode()[1:]
        assert again.typemap.disps.tolist() == t.typemap.disps.tolist()
        seen += got
    assert sorted(seen) == list(range(int(np.prod(gs))))


def test_darray_refuses_what_mpi_calls_erroneous() -> None:
    B, C, N, D = (
        MPI.DISTRIBUTE_BLOCK,
        MPI.DISTRIBUTE_CYCLIC,
        MPI.DISTRIBUTE_NONE,
        MPI.DISTRIBUTE_DFLT_DARG,
    )
    bad = [
        (4, 0, [8], [B], [D], [2]),  # grid of 2, size 4
        (2, 2, [8], [B], [D], [2]),  # rank out of range
        (2, 0, [8], [B], [3], [2]),  # blocks of 3 on 2 cannot hold 8
        (2, 0, [8], [N], [D], [2]),  # NONE over 2 processes
        (2, 0, [8], [C], [0], [2]),  # darg 0
        (2, 0, [8, 2], [B], [D], [2]),  # lengths differ
        (1, 0, [0], [B], [D], [1]),  # an empty dimension
    ]
    for args in bad:
        with pytest.raises(MPI.Exception) as err:
            MPI.INT.Create_darray(*args)
        assert err.value.Get_error_class() == MPI.ERR_ARG, args
    with pytest.raises(MPI.Exception):
        MPI.INT.Create_darray(1, 0, [4], [B], [D], [1], order=99)


def test_unpacking_bytes_that_lie_in_place_already_leaves_the_buffer_as_it_is() -> None:
    mem = np.arange(10_000, dtype=np.uint64).astype(np.uint8)
    before = mem.copy()
    p = T.plan(MPI.BYTE.typemap, 8000, 1000)
    T.unpack(mem, p, mem[1000:9000])  # read there already (a large same-host message)
    assert np.array_equal(mem, before)
    T.unpack(mem, p, mem[0:8000].copy())  # elsewhere: copied in
    assert np.array_equal(mem[1000:9000], before[0:8000])
