"""Payload rules of the codec: exact round trips, sender-side TypeErrors, pickle
opt-in, and a clear DecodeError for every kind of malformed message."""

from __future__ import annotations

import collections
import enum
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import msgpack  # type: ignore[import-untyped]
import numpy as np
import pytest

from zmqmesh.errors import DecodeError
from zmqmesh.wire import (
    ENVELOPE_SIZE,
    Envelope,
    Kind,
    decode,
    encode,
    pack_envelope,
    payload_nbytes,
)

from .strict import holds_a_set, same

ENV = Envelope(Kind.COLL, 3, 1, 42, 7)


def payload(frames: list[Any], **kw: Any) -> Any:
    """The decoded object alone, typed loosely for the assertions."""
    return decode(frames, **kw)[1]


PICKLE_MARKER = b"\xc7\x00\x15"  # the empty ext record 21 heading a pickled value


def roundtrip(obj: Any, **kw: Any) -> Any:
    """Encode as a job that allows pickle does, so values beyond API.md's list
    (sets, string arrays, ...) are accepted; decode with ``kw``, where pickle
    is off unless asked for, so a value that fell back to pickle fails. Sets
    decode only where pickle is allowed: there the header must hold no
    pickled value instead."""
    frames = encode(ENV, obj, allow_pickle=True)
    if holds_a_set(obj) and not kw.get("allow_pickle"):
        with pytest.raises(DecodeError, match="set, which needs pickle"):
            decode(frames, **kw)
        assert PICKLE_MARKER not in bytes(frames[0])
        kw = {**kw, "allow_pickle": True}
    env, out = decode(frames, **kw)
    assert env == ENV
    return out


@dataclass
class Point:
    x: float
    y: float


@dataclass
class Holder:
    name: str
    data: np.ndarray[Any, Any]


class Color(enum.IntEnum):
    RED = 1


class Pair(NamedTuple):
    a: int
    b: int


class MyArray(np.ndarray[Any, Any]):
    pass


NAN = float("nan")
CORPUS: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**63 - 1,
    -(2**63),
    2**64 - 1,
    2**64,
    -(2**63) - 1,
    2**1000,
    -(2**1000) + 1,
    0.0,
    -0.0,
    1.5,
    NAN,
    math.inf,
    -math.inf,
    5e-324,
    1 + 2j,
    complex(-0.0, NAN),
    "",
    "héllo wörld ✓ 🎉",
    "lone \ud800 surrogate",
    b"",
    b"\x00\xff" * 10,
    bytearray(),
    bytearray(b"mutable"),
    [],
    (),
    (1,),
    [1, [2, [3, (4, 5)]]],
    (1, (2, (3, ())), [4]),
    {},
    {"a": 1, 2: "b", (1, 2): [3], b"k": None, None: 0.5, 1.5: True, True: 0},
    {frozenset({1, 2}): "fs", (1, (2, "x")): {"nested": (b"y",)}, -(2**70): "big"},
    set(),
    {1, "a", (2, 3), None, b"z"},
    frozenset({1.5, frozenset({2})}),
    [bytearray(b"a"), b"a", (bytearray(b"b"),), {"k": bytearray(b"c")}],
    {"weights": np.arange(1000.0).reshape(10, 100), "meta": ("sgd", 0.1)},
    [np.arange(5), (np.ones(3, dtype=np.uint8), "x"), {np.int64(3), np.float32(2.5)}],
    (np.float64(1.0), 1.0, np.int64(1), 1, np.bool_(True), True),
]


def test_strict_equality_helper_is_strict() -> None:
    assert same([1, (2.0, b"x")], [1, (2.0, b"x")])
    assert same(float("nan"), float("nan"))
    assert not same(1, True)
    assert not same(1, 1.0)
    assert not same(0.0, -0.0)
    assert not same((1,), [1])
    assert not same(b"a", bytearray(b"a"))
    assert not same({1: 2, 3: 4}, {3: 4, 1: 2})  # order is part of a dict's value
    assert not same(np.zeros(2, "<f8"), np.zeros(2, ">f8"))
    assert not same(np.float32(1), np.float64(1))
    assert same({(1, 2), frozenset({3})}, {frozenset({3}), (1, 2)})


@pytest.mark.parametrize("obj", CORPUS, ids=lambda o: type(o).__name__)
def test_payloads_round_trip_exactly(obj: Any) -> None:
    assert same(obj, roundtrip(obj))
    assert same(obj, roundtrip(obj, allow_pickle=True))  # pickle is not used for them


def test_types_are_not_conflated() -> None:
    out = roundtrip([b"x", bytearray(b"x"), (1,), [1], 1, True, 1.0, {1}, frozenset({1})])
    expected = [bytes, bytearray, tuple, list, int, bool, float, set, frozenset]
    assert [type(x) for x in out] == expected
    assert math.copysign(1.0, roundtrip(-0.0)) == -1.0


def test_each_array_is_its_own_frame() -> None:
    arrays = [np.arange(3), np.zeros((2, 2)), np.array(1.0)]
    frames = encode(ENV, {"a": arrays, "t": (arrays[0],)})
    assert len(frames) == 5
    assert isinstance(frames[0], bytes)
    assert frames[0][:ENVELOPE_SIZE] == pack_envelope(ENV)


def test_payload_nbytes() -> None:
    frames = encode(ENV, [np.arange(100, dtype=np.int32), b"abc"])
    expected = len(frames[0]) - ENVELOPE_SIZE + 400
    assert payload_nbytes(frames) == expected
    assert payload_nbytes([bytearray(f) for f in frames]) == expected
    assert payload_nbytes([np.frombuffer(f, np.uint8).data for f in frames]) == expected
    assert payload_nbytes(encode(ENV, None)) == 1


OTHER_OBJECTS: list[Any] = [
    Point(1.0, 2.0),
    Color.RED,
    collections.OrderedDict(a=1),
    Pair(1, 2),
    np.arange(3).view(MyArray),
    msgpack.ExtType(16, b""),  # must not be packed as a raw ext record (forgery)
    object,
]


@pytest.mark.parametrize("obj", OTHER_OBJECTS, ids=lambda o: type(o).__name__)
def test_other_objects_raise_type_error_naming_the_type(obj: Any) -> None:
    t = type(obj)
    name = t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"
    for payload in (obj, [1, {"k": (obj,)}]):
        with pytest.raises(TypeError, match=f"type '{name}' without pickle") as info:
            encode(ENV, payload)
        assert "ZMQMESH_PICKLE=1" in str(info.value)
        assert "--pickle" in str(info.value)


# Outside API.md's list, so refused without pickle; with it they keep wire
# forms of their own (no pickle: roundtrip decodes with pickle off).
BEYOND_API: list[tuple[Any, str]] = [
    ({1, 2}, "'set'"),
    (frozenset(), "'frozenset'"),
    ({frozenset({1}): 1}, "'frozenset'"),
    (bytearray(b"x"), "'bytearray'"),
    (np.array(["ab"]), r"'numpy.ndarray' \(dtype <U2\)"),
    (np.array([b"ab"]), r"'numpy.ndarray' \(dtype \|S2\)"),
    (np.zeros(2, "M8[s]"), r"'numpy.ndarray' \(dtype datetime64\[s\]\)"),
    (np.zeros(2, [("x", "<i4")]), r"'numpy.ndarray' \(dtype \[\('x', '<i4'\)\]\)"),
    (np.zeros(2, "V4"), r"'numpy.ndarray' \(dtype \|V4\)"),
    (np.str_("x"), r"'numpy.str_' \(dtype <U1\)"),
    (np.datetime64("2020-01-01"), r"'numpy.datetime64' \(dtype datetime64\[D\]\)"),
]


@pytest.mark.parametrize(("obj", "name"), BEYOND_API, ids=lambda o: type(o).__name__)
def test_values_beyond_the_api_need_pickle_and_then_keep_their_own_form(
    obj: Any, name: str
) -> None:
    for payload in (obj, [1, {"k": (obj,)}]):
        with pytest.raises(TypeError, match=f"type {name} without pickle"):
            encode(ENV, payload)
    out = roundtrip([obj])[0]  # pickle off on the way in: no pickle was used
    assert same(out, obj)


@pytest.mark.parametrize("obj", OTHER_OBJECTS, ids=lambda o: type(o).__name__)
def test_other_objects_travel_by_pickle_when_allowed(obj: Any) -> None:
    out = roundtrip({"x": [obj]}, allow_pickle=True)["x"][0]
    assert type(out) is type(obj)
    if isinstance(obj, np.ndarray):
        assert np.array_equal(out, obj)
    else:
        assert out == obj


def test_pickled_large_array_goes_out_of_band() -> None:
    big = np.arange(2**20, dtype=np.float64)
    holder = Holder("w", big)
    frames = encode(ENV, holder, allow_pickle=True)
    assert len(frames) == 2
    assert len(frames[0]) < 1000
    assert np.shares_memory(np.frombuffer(frames[1], np.uint8), big)
    out = payload(frames, allow_pickle=True)
    assert type(out) is Holder
    assert np.array_equal(out.data, big)
    received = [frames[0], bytearray(frames[1])]
    view = payload(received, allow_pickle=True).data
    assert np.shares_memory(view, np.frombuffer(received[1], np.uint8))
    copied = payload(received, allow_pickle=True, copy=True).data
    assert copied.flags.writeable
    assert not np.shares_memory(copied, received[1])


def test_pickled_data_is_refused_unless_allowed() -> None:
    frames = encode(ENV, [Point(1, 2)], allow_pickle=True)
    with pytest.raises(DecodeError, match="pickle"):
        decode(frames)


def test_unpicklable_objects_raise_type_error() -> None:
    with pytest.raises(TypeError, match="cannot pickle an object of type 'generator'"):
        encode(ENV, [np.arange(3), (i for i in range(3))], allow_pickle=True)
    with pytest.raises(TypeError, match="memoryview"):
        encode(ENV, memoryview(b"abc"))
    # with pickle allowed, cloudpickle sends a memoryview as its bytes
    frames = encode(ENV, memoryview(b"abc"), allow_pickle=True)
    assert decode(frames, allow_pickle=True)[1] == b"abc"


def test_lambdas_and_closures_travel_by_cloudpickle() -> None:
    k = 7

    def scale(x: int) -> int:  # a closure: plain pickle refuses it
        return k * x

    class Local:  # defined in a function: plain pickle refuses it too
        pass

    data = np.arange(3.0)
    frames = encode(ENV, [lambda x: x + 1, scale, Local, data], allow_pickle=True)
    _, (inc, sc, cls, arr) = decode(frames, allow_pickle=True)
    assert inc(1) == 2
    assert sc(6) == 42
    assert cls.__name__ == "Local"
    assert arr.tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(TypeError, match="pickle"):  # and only with pickle allowed
        encode(ENV, scale)


def test_self_reference_and_deep_nesting_raise_value_error() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    with pytest.raises(ValueError, match="nested deeper"):
        encode(ENV, loop)
    deep: Any = 1
    for _ in range(90):  # 180 levels
        deep = [(deep,)]
    assert same(deep, roundtrip(deep))
    for _ in range(200):
        deep = [deep]
    with pytest.raises(ValueError, match="nested deeper"):
        encode(ENV, deep)


HEAD = pack_envelope(ENV)


def ext(code: int, data: bytes = b"") -> msgpack.ExtType:
    return msgpack.ExtType(code, data)


def packed(obj: Any) -> bytes:
    return HEAD + bytes(msgpack.packb(obj, use_bin_type=True))


ARRAY, PICKLE, TUPLE, SET = 19, 21, 16, 17
GOOD_ARRAY = [ext(ARRAY), 0, "<f8", [2], False]
MALFORMED: list[tuple[list[Any], str]] = [
    ([], "empty message"),
    ([HEAD], "invalid payload"),
    ([HEAD[:10]], "too short"),
    ([b"\x00" * 40], "magic"),
    ([HEAD + b"\x92\x01"], "invalid payload"),  # truncated array
    ([HEAD + b"\x01\x02"], "invalid payload"),  # extra data
    ([HEAD + b"\xc1"], "invalid payload"),  # reserved msgpack byte
    ([HEAD + b"\xa2\xff\xfe"], "invalid payload"),  # invalid UTF-8
    ([packed(ext(99))], "unknown ext"),
    ([packed(ext(TUPLE, b"x"))], "unknown ext"),
    ([packed(ext(1, b"\x00" * 15))], "unknown ext"),  # complex of the wrong size
    ([packed([1, ext(TUPLE)])], "marker outside"),
    ([packed({"k": ext(TUPLE)})], "marker outside"),
    ([packed([ext(TUPLE), ext(TUPLE)])], "marker outside"),
    ([packed(GOOD_ARRAY)], "but the message has"),
    ([packed(GOOD_ARRAY), bytes(16), bytes(16)], "references 1"),
    ([packed([GOOD_ARRAY, GOOD_ARRAY]), bytes(16)], "twice"),
    ([packed([ext(ARRAY), -1, "<f8", [2], False]), bytes(16)], "but the message has"),
    ([packed([ext(ARRAY), True, "<f8", [2], False]), bytes(16)], "invalid buffer"),
    ([packed([ext(ARRAY), 0, "<f8", [2]]), bytes(16)], "malformed tagged"),
    ([packed([ext(ARRAY), 0, "|O8", [2], False]), bytes(16)], "dtype"),
    ([packed([ext(ARRAY), 0, "<f8", [3], False]), bytes(16)], "needs 24 bytes"),
    ([packed([ext(PICKLE), 0, 0, b"\x80\x05N."])], "pickle"),
    ([packed([ext(SET), 1])], "set, which needs pickle"),
    ([HEAD + b"\x81\x91\x01\x02"], "unhashable"),  # {[1]: 2}
    ([packed([ext(20), "<f4", b"\x00"])], "scalar"),
    ([packed(None), 12345], "not a buffer|buffer"),
]


@pytest.mark.parametrize(("frames", "match"), MALFORMED)
def test_malformed_messages_raise_decode_error(frames: list[Any], match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        decode(frames)


def test_unhashable_set_members_raise_decode_error() -> None:
    with pytest.raises(DecodeError, match="unhashable"):
        decode([packed([ext(SET), [1]])], allow_pickle=True)


def test_pickle_garbage_raises_decode_error_even_when_allowed() -> None:
    with pytest.raises(DecodeError):
        decode([packed([ext(PICKLE), 0, 0, b"\x80\x05garbage"])], allow_pickle=True)
    with pytest.raises(DecodeError, match="but the message has"):
        decode([packed([ext(PICKLE), 0, 1, b"\x80\x05N."])], allow_pickle=True)


def test_non_sequence_input_raises_decode_error() -> None:
    with pytest.raises(DecodeError):
        decode(None)  # type: ignore[arg-type]
    with pytest.raises(DecodeError):
        decode([None])  # type: ignore[list-item]
