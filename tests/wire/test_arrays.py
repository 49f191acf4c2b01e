"""ndarray and NumPy scalar edge cases: dtypes, layouts, zero copy."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from zmqmesh.wire import Envelope, Kind, decode, encode
from zmqmesh.wire.arrays import (
    Unsendable,
    array_to_wire,
)

from .strict import same

ENV = Envelope(Kind.P2P, 1, 0, 5)
RNG = np.random.default_rng(1234)


def payload(frames: list[Any], **kw: Any) -> Any:
    """The decoded object alone, typed loosely for the assertions."""
    return decode(frames, **kw)[1]


def roundtrip(obj: Any, **kw: Any) -> Any:
    """Encode as a job that allows pickle does, so values beyond API.md's list
    (sets, string arrays, ...) are accepted; decode with ``kw``, where pickle
    is off unless asked for, so a value that fell back to pickle fails."""
    env, out = decode(encode(ENV, obj, allow_pickle=True), **kw)
    assert env == ENV
    return out


def filled(dtype: str | np.dtype[Any], shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
    """An array with arbitrary (but valid) content of any dtype."""
    dt = np.dtype(dtype)
    n = int(np.prod(shape))
    if dt.itemsize == 0:
        return np.zeros(shape, dt)
    if dt.kind == "b":
        return RNG.integers(0, 2, shape).astype(dt)
    if dt.kind == "U":
        return np.array(["héllo", "", "z" * 9, "ab"] * n, dtype=dt)[:n].reshape(shape)
    if dt.kind == "S":
        return np.array([b"\x00x", b"", b"abc\xff"] * n, dtype=dt)[:n].reshape(shape)
    # Random bits: includes NaNs, NaTs, signed zeros; compared bit for bit.
    return np.frombuffer(RNG.bytes(n * dt.itemsize), dt).reshape(shape).copy()


INTS = ["?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"]
FLOATS = ["f2", "f4", "f8", "g", "c8", "c16", "G"]
OTHER = ["M8[ns]", "M8[D]", "M8", "m8[us]", "m8[25s]", "S1", "S7", "U1", "U5", "V3", "V16"]
BIG_ENDIAN = [">i2", ">i8", ">u4", ">f4", ">f8", ">c8", ">c16", ">M8[s]", ">m8[ms]", ">U3"]


@pytest.mark.parametrize("dtype", INTS + FLOATS + OTHER + BIG_ENDIAN)
@pytest.mark.parametrize("shape", [(), (0,), (5,), (3, 4), (2, 0, 3), (2, 3, 4)])
def test_dtype_and_shape_round_trip(dtype: str, shape: tuple[int, ...]) -> None:
    a = filled(dtype, shape)
    b = roundtrip(a)
    assert same(a, b)
    assert b.dtype.str == np.dtype(dtype).str  # byte order, unit and width kept


STRUCTURED = [
    np.dtype([("x", "<f8"), ("n", "<i2"), ("name", "U4")]),
    np.dtype([("a", "u1"), ("b", "<i4")], align=True),  # padding inside
    np.dtype({"names": ["a"], "formats": ["<i4"], "itemsize": 12}),  # trailing padding
    np.dtype([("m", ">f4", (2, 3)), ("inner", [("p", "?"), ("q", "S3")])]),
    np.dtype([(("Title of t", "t"), "<M8[s]"), ("d", ">m8[ns]")]),
    np.dtype([]),
]


@pytest.mark.parametrize("dt", STRUCTURED, ids=str)
@pytest.mark.parametrize("shape", [(), (0,), (4,), (2, 3)])
def test_structured_round_trip(dt: np.dtype[Any], shape: tuple[int, ...]) -> None:
    a = filled(dt, shape)
    b = roundtrip(a)
    assert same(a, b)
    assert b.dtype.itemsize == dt.itemsize
    assert b.dtype.fields == dt.fields
    if a.size:  # elements are np.void scalars of the same dtype
        assert same(a.reshape(-1)[0], b.reshape(-1)[0])


@pytest.mark.parametrize(
    "view",
    [
        lambda a: a[::2, ::3],
        lambda a: a[::-1],
        lambda a: a[:, 1],
        lambda a: a.T[::2],
        lambda a: a.reshape(6, 2, 5).transpose(1, 0, 2),
        lambda a: np.broadcast_to(a[0], (4, 10)),
    ],
)
def test_non_contiguous_views_are_copied_once(view: Any) -> None:
    a = view(np.arange(60, dtype="<i8").reshape(6, 10))
    assert not a.flags.c_contiguous
    assert not a.flags.f_contiguous
    frames = encode(ENV, a)
    assert not np.shares_memory(np.frombuffer(frames[1], np.uint8), a)
    b = payload(frames)
    assert same(np.ascontiguousarray(a), b)
    assert b.flags.c_contiguous


@pytest.mark.parametrize("dtype", ["<f8", ">i4", "c8", "U3", "M8[s]"])
def test_fortran_order_is_kept_without_copy(dtype: str) -> None:
    a = np.asfortranarray(filled(dtype, (3, 4, 5)))
    frames = encode(ENV, a, allow_pickle=True)  # U3, M8: beyond API.md's list
    assert np.shares_memory(np.frombuffer(frames[1], np.uint8), a)
    b = payload(frames)
    assert same(a, b)
    assert b.flags.f_contiguous
    assert not b.flags.c_contiguous
    c = payload(frames, copy=True)
    assert same(a, c)
    assert c.flags.f_contiguous
    assert c.flags.writeable
    assert c.flags.owndata


SCALARS = [
    np.bool_(True),
    np.int8(-128),
    np.int16(-2),
    np.int32(2**31 - 1),
    np.int64(-(2**63)),
    np.uint8(255),
    np.uint16(7),
    np.uint32(2**32 - 1),
    np.uint64(2**64 - 1),
    np.float16(-0.0),
    np.float32(1.5),
    np.float64("nan"),
    np.longdouble("1.25"),
    np.complex64(1 - 2j),
    np.complex128(complex("inf-0j")),
    np.clongdouble(3 + 4j),
    np.datetime64("2024-02-29T12:34:56.789", "ms"),
    np.datetime64("NaT"),
    np.timedelta64(-5, "h"),
    np.bytes_(b"ab\x00c"),
    np.bytes_(b""),
    np.str_("héllo"),
    np.str_(""),
    np.zeros((), dtype=[("x", "<i4"), ("y", "U2")])[()],
]


@pytest.mark.parametrize("s", SCALARS, ids=lambda s: f"{type(s).__name__}-{s.dtype}")
def test_numpy_scalars_arrive_as_the_same_scalar_type(s: np.generic) -> None:
    frames = encode(ENV, s, allow_pickle=True)
    assert len(frames) == 1  # inlined in the header, no buffer frame
    out = roundtrip(s)
    assert type(out) is type(s)
    assert same(s, out)
    assert same([s, {"k": (s,)}], roundtrip([s, {"k": (s,)}]))


def test_float32_scalar_is_not_a_0d_array_or_float() -> None:
    out = roundtrip(np.float32(1.5))
    assert type(out) is np.float32
    assert out == 1.5
    out0 = roundtrip(np.array(1.5, dtype=np.float32))
    assert type(out0) is np.ndarray
    assert out0.shape == ()
    assert out0.dtype == np.float32


def test_large_arrays_are_sent_without_copy() -> None:
    a = np.ones(8 * 2**20, dtype=np.float64)  # 64 MiB, C order
    f = np.asfortranarray(np.ones((2048, 4096), dtype=np.float64))  # 64 MiB, F order
    frames = encode(ENV, {"c": a, "f": f})
    assert len(frames) == 3
    assert np.shares_memory(np.frombuffer(frames[1], np.uint8), a)
    assert np.shares_memory(np.frombuffer(frames[2], np.uint8), f)
    assert len(frames[0]) < 200  # the header holds meta only


def test_received_arrays_are_views_of_the_frames_unless_copied() -> None:
    c = np.arange(2**17, dtype=np.float64)
    f = np.asfortranarray(np.arange(2**17, dtype=">i8").reshape(256, 512))
    sent = encode(ENV, [c, f])
    received = [sent[0], bytearray(sent[1]), bytearray(sent[2])]
    views = payload(received)
    copies = payload(received, copy=True)
    assert same([c, f], views)
    assert same([c, f], copies)
    for view, copy, frame in zip(views, copies, received[1:], strict=True):
        assert np.shares_memory(view, np.frombuffer(frame, np.uint8))
        assert view.flags.writeable  # bytearray frames are writable
        assert not np.shares_memory(copy, np.frombuffer(frame, np.uint8))
        assert copy.flags.writeable
        assert copy.flags.owndata


def test_arrays_over_read_only_frames_are_read_only() -> None:
    frames = [bytes(f) for f in encode(ENV, np.arange(10))]
    out = payload(frames)
    assert not out.flags.writeable
    assert payload(frames, copy=True).flags.writeable


def test_memoryview_and_odd_buffer_frames() -> None:
    frames = encode(ENV, np.arange(6, dtype="<i4").reshape(2, 3))
    as_views = [memoryview(bytes(frames[0])), np.frombuffer(frames[1], "<i4").data]
    assert same(np.arange(6, dtype="<i4").reshape(2, 3), payload(as_views))


@pytest.mark.parametrize(
    "a",
    [
        np.array([1, "x", None], dtype=object),
        np.zeros(2, dtype=[("a", "<i4"), ("o", "O")]),
        np.zeros(3, dtype={"names": ["a", "b"], "formats": ["<i4", "<i2"], "offsets": [0, 2]}),
    ],
    ids=["object", "object-field", "overlapping"],
)
def test_unsendable_dtypes_need_pickle(a: np.ndarray[Any, Any]) -> None:
    with pytest.raises(TypeError, match=r"type 'numpy\.ndarray' \(dtype .*\) without pickle"):
        encode(ENV, {"x": [a]})
    with pytest.raises(Unsendable):
        array_to_wire(a)
    b = roundtrip(a, allow_pickle=True)
    assert type(b) is np.ndarray
    assert b.dtype == a.dtype
    assert b.tolist() == a.tolist()


def test_string_dtype_needs_pickle() -> None:
    a = np.array(["variable", "width"], dtype=np.dtypes.StringDType())
    with pytest.raises(TypeError, match="without pickle"):
        encode(ENV, a)
    assert list(roundtrip(a, allow_pickle=True)) == ["variable", "width"]
