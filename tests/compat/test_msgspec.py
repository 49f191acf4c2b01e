"""Buffer specifications read as mpi4py reads them, and the module's
surface (constants, handles, environment calls, ``mpi4py.rc``), without
processes."""

from __future__ import annotations

import array
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import zmqmesh.compat.mpi4py as mpi4py
from zmqmesh.compat.mpi4py import MPI
from zmqmesh.compat.mpi4py.msgspec import parse, parse_counted, parse_plain, parse_vector

pytestmark = pytest.mark.timeout(60)


class _Interface:
    """A host array seen only through ``__array_interface__``."""

    def __init__(self, a: np.ndarray) -> None:
        self._a = a
        self.__array_interface__ = a.__array_interface__


@pytest.mark.parametrize(
    ("spec", "name", "count"),
    [
        (np.zeros(3), "MPI_DOUBLE", 3),
        (np.zeros((2, 3), "i4"), "MPI_INT", 6),
        (np.zeros(4, bool), "MPI_C_BOOL", 4),
        (np.zeros(2, complex), "MPI_C_DOUBLE_COMPLEX", 2),
        (bytearray(5), "MPI_BYTE", 5),
        (b"abc", "MPI_BYTE", 3),
        (array.array("i", [1, 2]), "MPI_INT", 2),
        (array.array("d", [1.0]), "MPI_DOUBLE", 1),
        (memoryview(np.zeros(6, "f4")), "MPI_FLOAT", 6),
        (_Interface(np.zeros(5, "i8")), "MPI_LONG", 5),
        (np.asfortranarray(np.zeros((2, 3), "i2")), "MPI_SHORT", 6),
    ],
)
def test_plain_buffers_give_type_and_count(spec: object, name: str, count: int) -> None:
    m = parse(spec, writable=False)
    assert (m.datatype.Get_name(), m.count, m.offset) == (name, count, 0)


def test_dlpack_objects_are_buffers() -> None:
    class _DL:
        def __init__(self, a: np.ndarray) -> None:
            self._a = a

        def __dlpack__(self, **kwargs: object) -> object:
            return self._a.__dlpack__(**kwargs)

        def __dlpack_device__(self) -> tuple[int, int]:
            return self._a.__dlpack_device__()

    m = parse(_DL(np.arange(4.0)), writable=False)
    assert (m.datatype, m.count, m.pack().view("f8").tolist()) == (MPI.DOUBLE, 4, [0, 1, 2, 3])


def test_list_forms() -> None:
    a = np.arange(10, dtype="f8")
    assert parse([a, MPI.DOUBLE], writable=False).count == 10
    assert parse([a, "d"], writable=False).datatype == MPI.DOUBLE
    assert parse([a, 4, MPI.DOUBLE], writable=False).count == 4
    m = parse([a, (3, 2), MPI.DOUBLE], writable=False)
    assert (m.count, m.offset, m.pack().view("f8").tolist()) == (3, 16, [2.0, 3.0, 4.0])
    m = parse([a, 3, 2, "d"], writable=False)
    assert m.pack().view("f8").tolist() == [2.0, 3.0, 4.0]
    assert parse([a, (3, 2)], writable=False).count == 3  # [buf, (count, displ)]
    assert parse([a, 5], writable=False).count == 5
    m = parse([a, MPI.BYTE], writable=False)
    assert (m.count, m.datatype) == (80, MPI.BYTE)
    assert parse([a.view("u1"), 8, MPI.INT], writable=False).nbytes == 32
    assert parse([None, MPI.INT], writable=False).count == 0
    assert parse([MPI.BOTTOM, 0, MPI.INT], writable=False).count == 0
    assert parse(a, writable=False, blocks=5).count == 2
    vec = MPI.DOUBLE.Create_vector(2, 1, 3)
    assert parse([a, 1, vec], writable=False).pack().view("f8").tolist() == [0.0, 3.0]


def test_bad_specifications_say_what_is_wrong() -> None:
    a = np.arange(10, dtype="f8")
    with pytest.raises(ValueError, match="2 to 4 items"):
        parse([a, 1, 2, 3, 4], writable=False)
    with pytest.raises(TypeError, match="expecting buffer"):
        parse(object(), writable=False)
    with pytest.raises(KeyError, match="cannot map"):
        parse([a, "nope"], writable=False)
    with pytest.raises(ValueError, match="not a multiple"):
        parse([a, MPI.DOUBLE.Create_contiguous(3)], writable=False)
    with pytest.raises(ValueError, match="blocks"):
        parse(a, writable=False, blocks=3)
    with pytest.raises(ValueError, match="negative count"):
        parse([a, -1, MPI.DOUBLE], writable=False)
    with pytest.raises(ValueError, match="out of bounds"):
        parse([a, (1, 11), MPI.DOUBLE], writable=False)
    with pytest.raises(BufferError):
        parse(b"abc", writable=True)
    with pytest.raises(ValueError, match="absolute address"):
        parse([MPI.BOTTOM, 2, MPI.INT], writable=False)  # address 0 is no one's
    with pytest.raises(ValueError, match="None but count"):
        parse([None, 2, MPI.INT], writable=False)
    with pytest.raises(BufferError, match="contiguous"):
        parse([np.zeros((3, 4))[:, 1:], 1, MPI.DOUBLE.Create_vector(3, 1, 4)], writable=False)
    with pytest.raises(BufferError, match="byte order"):
        parse(np.zeros(2, ">f8"), writable=False)


def test_vector_forms() -> None:
    a = np.arange(10, dtype="i4")
    v = parse_vector([a, [1, 2, 3], [0, 4, 7], MPI.INT], writable=False, blocks=3)
    assert (v.counts, v.displs) == ((1, 2, 3), (0, 4, 7))
    assert v.pack(2).view("i4").tolist() == [7, 8, 9]
    v = parse_vector([a, ([2, 3], None), "i"], writable=False, blocks=2)
    assert v.displs == (0, 2)
    v = parse_vector([a, 2, MPI.INT], writable=False, blocks=3)
    assert (v.counts, v.displs) == ((2, 2, 2), (0, 2, 4))
    v = parse_vector([a, (2, 5), MPI.INT], writable=False, blocks=2)
    assert v.displs == (0, 5)
    v = parse_vector(a, writable=False, blocks=3)
    assert v.counts == (4, 3, 3)
    with pytest.raises(ValueError, match="expecting 3 counts"):
        parse_vector([a, [1, 2], MPI.INT], writable=False, blocks=3)


@given(n=st.integers(0, 40), displ=st.integers(0, 10), data=st.data())
@settings(max_examples=50, deadline=None)
def test_pack_then_unpack_restores_the_described_items(
    n: int, displ: int, data: st.DataObject
) -> None:
    a = np.arange(n + displ + 3, dtype="i8")
    count = data.draw(st.integers(0, n))
    m = parse([a, (count, displ), MPI.INT64_T], writable=False)
    out = np.zeros_like(a)
    parse([out, (count, displ), "i8"], writable=True).unpack(np.array(m.pack()))
    assert np.array_equal(out[displ : displ + count], a[displ : displ + count])
    assert not out[:displ].any()
    assert not out[displ + count :].any()


def test_non_contiguous_memory_is_refused_as_mpi4py_refuses_it() -> None:
    # mpi4py takes buffers with PyBUF_ANY_CONTIGUOUS: a strided view is a BufferError
    a = np.zeros(8)
    for bad in (a[::2], memoryview(a)[::2]):
        with pytest.raises(BufferError):
            parse(bad, writable=False)
    assert parse(np.zeros((3, 2), order="F"), writable=True).count == 6


# -- the surface ------------------------------------------------------------------------------
def test_constants() -> None:
    assert (MPI.ANY_SOURCE, MPI.ANY_TAG, MPI.PROC_NULL, MPI.ROOT) == (-2, -1, -1, -3)
    assert (MPI.UNDEFINED, MPI.SUCCESS, MPI.VERSION, MPI.SUBVERSION) == (-32766, 0, 4, 0)
    assert MPI.THREAD_SINGLE < MPI.THREAD_FUNNELED < MPI.THREAD_SERIALIZED < MPI.THREAD_MULTIPLE
    assert MPI.ERR_TRUNCATE == 14
    assert MPI.MAX_PROCESSOR_NAME == 128
    assert MPI.BSEND_OVERHEAD == 96
    for name in ("KEYVAL_INVALID", "TAG_UB", "MAX_ERROR_STRING", "ERR_OTHER", "ORDER_C"):
        assert isinstance(getattr(MPI, name), int), name
    assert repr(MPI.BOTTOM) == "BOTTOM"
    assert repr(MPI.IN_PLACE) == "IN_PLACE"
    assert pickle.loads(pickle.dumps(MPI.IN_PLACE)) is MPI.IN_PLACE


@pytest.mark.parametrize(
    ("null", "cls"),
    [
        ("COMM_NULL", "Comm"),
        ("GROUP_NULL", "Group"),
        ("REQUEST_NULL", "Request"),
        ("OP_NULL", "Op"),
        ("DATATYPE_NULL", "Datatype"),
        ("INFO_NULL", "Info"),
        ("ERRHANDLER_NULL", "Errhandler"),
        ("MESSAGE_NULL", "Message"),
        ("WIN_NULL", "Win"),
        ("FILE_NULL", "File"),
        ("SESSION_NULL", "Session"),
    ],
)
def test_null_handles(null: str, cls: str) -> None:
    h = getattr(MPI, null)
    assert not h
    assert h == getattr(MPI, cls)()
    assert isinstance(h, getattr(MPI, cls))
    with pytest.raises(TypeError):
        hash(h)


def test_handles_compare_by_what_they_name() -> None:
    assert MPI.COMM_WORLD
    assert MPI.COMM_SELF
    assert MPI.SUM
    assert MPI.ERRORS_RETURN
    assert MPI.Comm(MPI.COMM_WORLD) == MPI.COMM_WORLD != MPI.COMM_SELF
    assert MPI.Intracomm(MPI.COMM_WORLD) == MPI.COMM_WORLD
    assert MPI.Op(MPI.SUM) == MPI.SUM != MPI.PROD
    assert MPI.COMM_WORLD != MPI.SUM
    assert MPI.GROUP_EMPTY != MPI.GROUP_NULL
    assert pickle.loads(pickle.dumps(MPI.MAX)) == MPI.MAX
    with pytest.raises(TypeError):
        _ = MPI.COMM_WORLD < MPI.COMM_SELF


def test_requests_null_complete_at_once() -> None:
    st_ = MPI.Status()
    assert MPI.REQUEST_NULL.Wait(st_)
    assert MPI.REQUEST_NULL.Test()
    assert (st_.source, st_.tag, st_.Get_count(MPI.INT)) == (MPI.ANY_SOURCE, MPI.ANY_TAG, 0)
    assert MPI.Request.Waitall([MPI.REQUEST_NULL, MPI.Request()])
    assert MPI.Request.Waitany([MPI.REQUEST_NULL]) == MPI.UNDEFINED
    assert MPI.Request.Testall([MPI.REQUEST_NULL])
    assert MPI.Request.Waitsome([MPI.REQUEST_NULL]) is None


def test_status_counts_in_the_datatypes_units() -> None:
    s = MPI.Status()
    s.Set_elements(MPI.DOUBLE, 3)
    assert (s.Get_count(MPI.DOUBLE), s.Get_count(MPI.INT), s.Get_count(), s.count) == (3, 6, 24, 24)
    assert s.Get_count("d") == 3
    assert s.Get_elements(MPI.INT) == 6
    s.Set_elements(MPI.BYTE, 7)
    assert s.Get_count(MPI.INT) == MPI.UNDEFINED == s.Get_elements(MPI.INT)
    v = MPI.INT.Create_vector(2, 1, 2)
    s.Set_elements(MPI.INT, 3)
    assert (s.Get_count(v), s.Get_elements(v)) == (MPI.UNDEFINED, 3)
    s.Set_source(3), s.Set_tag(9), s.Set_error(MPI.ERR_OTHER), s.Set_cancelled(True)
    assert (s.Get_source(), s.Get_tag(), s.Get_error(), s.Is_cancelled()) == (3, 9, 15, True)
    assert MPI.Status(s) == s


def test_environment_calls() -> None:
    assert MPI.Query_thread() == MPI.THREAD_MULTIPLE
    assert MPI.Is_thread_main()
    assert MPI.Get_version() == (4, 0)
    assert MPI.get_vendor()[0] == "zmqmesh"
    assert "zmqmesh" in MPI.Get_library_version()
    assert MPI.Is_initialized()
    t0 = MPI.Wtime()
    assert MPI.Wtime() >= t0
    assert 0 < MPI.Wtick() < 1
    mem = MPI.Alloc_mem(16)
    assert isinstance(mem, MPI.buffer)
    assert len(mem) == 16
    assert mem.nbytes == 16
    mem[0] = 7
    assert mem.tobytes()[:1] == b"\x07"
    assert parse(mem, writable=True).count == 16
    MPI.Free_mem(mem)
    assert MPI.Pcontrol(1) is None
    assert MPI.Compute_dims(6, 2) == [3, 2]
    assert MPI.Get_error_string(MPI.ERR_TRUNCATE) == "Message truncated"
    e = MPI.Exception(MPI.ERR_RANK)
    assert e.Get_error_class() == MPI.ERR_RANK
    assert isinstance(e, RuntimeError)
    info = MPI.Info.Create()
    info.Set("k", "v")
    assert info.Get("k") == "v"
    assert dict(info.items()) == {"k": "v"}
    assert len(info) == 1
    info.Free()
    assert info == MPI.INFO_NULL


def test_rc_and_package_calls() -> None:
    rc = mpi4py.rc
    assert (rc.initialize, rc.threads, rc.thread_level, rc.finalize) == (
        True,
        True,
        "multiple",
        None,
    )
    rc(fast_reduce=False, recv_mprobe=False)
    rc.irecv_bufsz = 1024
    assert rc.fast_reduce is False
    assert rc.irecv_bufsz == 1024
    with pytest.raises(TypeError):
        rc.not_an_option = 1  # type: ignore[attr-defined]
    rc(fast_reduce=True, recv_mprobe=True, irecv_bufsz=32768)
    assert mpi4py.get_config() == {}
    header = Path(mpi4py.get_include()) / "mpi4py" / "mpi4py.h"
    assert "#error" in header.read_text()  # no C API: a compiler says so
    assert mpi4py.MPI is MPI


@pytest.mark.parametrize(
    "call",
    [
        lambda: MPI.Request.Get_status_all([]),
        lambda: MPI.File.Open(MPI.COMM_WORLD, "x"),
        lambda: MPI._addressof(MPI.COMM_WORLD),
    ],
)
def test_what_stays_out_says_so(call: object) -> None:
    with pytest.raises(NotImplementedError, match="zmqmesh"):
        call()  # type: ignore[operator]


@pytest.mark.parametrize(
    "arr",
    [
        np.arange(6, dtype="f8").reshape(2, 3),
        np.zeros((), "i4"),
        np.zeros(0, "u1"),
        np.ones(3, "?"),
    ],
)
def test_a_plain_array_moves_the_bytes_parse_would(arr: np.ndarray) -> None:
    fast = parse_plain(arr, writable=False)
    assert fast is not None
    assert fast.pack().tobytes() == parse(arr, writable=False).pack().tobytes()
    into = np.zeros_like(arr)
    target = parse_plain(into, writable=True)
    assert target is not None
    target.unpack(fast.pack())
    assert into.tobytes() == arr.tobytes()


def test_what_is_not_a_plain_array_goes_through_parse() -> None:
    a = np.arange(8, dtype="f8")
    ro = a.copy()
    ro.flags.writeable = False
    assert parse_plain(a[::2], writable=False) is None  # not contiguous
    assert parse_plain(a.astype(">f8"), writable=False) is None  # not native order
    assert parse_plain(ro, writable=True) is None  # parse says why
    assert parse_plain(ro, writable=False) is not None
    assert parse_plain([a, "d"], writable=False) is None
    assert parse_plain(bytearray(8), writable=False) is None
    small = parse_plain(np.zeros(1, "f8"), writable=True)
    assert small is not None
    with pytest.raises(ValueError, match="message truncated: 64 bytes into a 8-byte receive"):
        small.unpack(a.view(np.uint8))


class MyDatatype(MPI.Datatype):
    pass


class MyGroup(MPI.Group):
    pass


@pytest.mark.parametrize(("cls", "named"), [(MyDatatype, MPI.INT), (MyGroup, MPI.GROUP_EMPTY)])
def test_a_copy_of_a_predefined_handle_comes_back_of_its_own_class(cls: type, named: Any) -> None:
    import copy

    mine = cls(named)
    for dup in (pickle.loads(pickle.dumps(mine)), copy.copy(mine), copy.deepcopy(mine)):
        assert type(dup) is cls
        assert dup == named


def test_a_counted_specification_of_a_flat_type_is_its_first_bytes() -> None:
    buf = bytearray(range(64))
    got = parse_counted([buf, 4, MPI.INT], writable=True)
    assert got is not None
    assert got.mem.size == 16
    assert got.mem.ctypes.data == np.frombuffer(buf, np.uint8).ctypes.data
    assert parse_counted((buf, 0, MPI.BYTE), writable=False) is not None
    # anything else is parse's to read (and to refuse)
    vec = MPI.INT.Create_vector(2, 1, 2)
    resized = MPI.INT.Create_resized(0, 8)
    for spec in (
        [buf, 17, MPI.INT],  # longer than the buffer
        [buf, -1, MPI.BYTE],
        [buf, 4, vec],
        [buf, 4, resized],
        [buf, 4.0, MPI.INT],
        [buf, 4, "i"],
        [buf, (4, 0), MPI.INT],
        [None, 0, MPI.INT],
        [MPI.BOTTOM, 0, MPI.INT],
        [buf, MPI.INT],
    ):
        assert parse_counted(spec, writable=True) is None, spec
    vec.Free()
    resized.Free()
    with pytest.raises(BufferError):
        parse_counted([bytes(8), 2, MPI.INT], writable=True)  # read-only
