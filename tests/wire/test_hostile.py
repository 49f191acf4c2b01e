"""Hostile payloads that aim at the decoder's running time, not its parser.

Keys that collide in ``hash()`` make a dict or set quadratic to build
(``k * (2**61 - 1)`` all hash to 0); the decoder refuses more than
``MAX_SAME_HASH`` members sharing one hash. Sets need pickle, as on the
sending side. An empty frame vouches for no shape. These tests assert the
refusals; tests/fuzz bounds their cost.
"""

from __future__ import annotations

import struct
from typing import Any

import msgpack  # type: ignore[import-untyped]
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqmesh.errors import DecodeError
from zmqmesh.wire import Envelope, Kind, decode, encode, pack_envelope
from zmqmesh.wire.arrays import MAX_EMPTY_SPAN, Unsendable, array_to_wire
from zmqmesh.wire.codec import MAX_SAME_HASH
from zmqmesh.wire.tags import MAX_DEPTH

from .strict import same

ENV = Envelope(Kind.P2P, 1, 2, 3)
HEAD = pack_envelope(ENV)
P = 2**61 - 1  # hash(k * P) == 0 for every int k


def colliding(n: int, start: int = 2**8) -> list[int]:
    """``n`` ints of one hash, beyond 64 bits by default: values the decoder
    makes itself, so that more than MAX_SAME_HASH of them get every dict
    and set checked (msgpack's own 64-bit ints share a hash at most 9 at a
    time and are not counted)."""
    return [k * P for k in range(start, start + n)]


def _tag(o: Any) -> Any:
    if type(o) is int:
        return msgpack.ExtType(2, o.to_bytes(o.bit_length() // 8 + 1, "little", signed=True))
    if type(o) is tuple:
        return [msgpack.ExtType(16, b""), *o]
    if type(o) is complex:
        return msgpack.ExtType(1, struct.pack("<dd", o.real, o.imag))
    raise TypeError(type(o))


def wire_map(pairs: list[tuple[Any, Any]]) -> bytes:
    """A msgpack map as the codec writes one, built without a Python dict
    (building a dict of colliding keys is itself quadratic)."""
    packer = msgpack.Packer(default=_tag, strict_types=True, use_bin_type=True)
    return packer.pack_map_header(len(pairs)) + b"".join(
        packer.pack(k) + packer.pack(v) for k, v in pairs
    )


def refused(frames: list[Any], match: str, **kw: Any) -> None:
    with pytest.raises(DecodeError, match=match):
        decode(frames, **kw)


@pytest.mark.parametrize(
    "make",
    [
        lambda ks: wire_map([(k, 0) for k in ks]),  # big ints
        lambda ks: wire_map([((k,), 0) for k in ks]),  # tuples of them
        lambda ks: wire_map([((k, "x", (k,)), 0) for k in ks]),
        lambda ks: wire_map([(0j, 0), *((k, None) for k in ks)]),
        lambda ks: b"\x92\x01\x91\x81\xa1k" + wire_map([(k, k) for k in ks]),  # nested
    ],
    ids=["bigint", "tuple", "nested-tuple", "mixed", "deep-dict"],
)
@pytest.mark.parametrize("n", [MAX_SAME_HASH + 1, 50_000])
def test_colliding_dict_keys_are_refused(make: Any, n: int) -> None:
    refused([HEAD + make(colliding(n))], f"at most {MAX_SAME_HASH} may share")


@pytest.mark.parametrize("n", [MAX_SAME_HASH + 1, 50_000])
@pytest.mark.parametrize("code", [17, 18])  # set, frozenset
def test_colliding_set_members_are_refused(n: int, code: int) -> None:
    packer = msgpack.Packer(default=_tag, strict_types=True, use_bin_type=True)
    frames = [HEAD + packer.pack([msgpack.ExtType(code, b""), *colliding(n)])]
    refused(frames, f"at most {MAX_SAME_HASH} may share", allow_pickle=True)
    refused(frames, "needs pickle")


def test_colliding_complex_keys_are_refused() -> None:
    # hash(complex(x, y)) == hash(x) + 1000003 * hash(y): shifting y by a
    # colliding float keeps the hash.
    keys = [complex(1.0, 2.0**61 * 2.0 ** (61 * k)) for k in range(-17, 16)]
    assert len({hash(k) for k in keys}) == 1
    refused(encode(ENV, {k: 0 for k in keys}), "may share")


def test_a_few_chosen_values_are_not_checked() -> None:
    # 8 native 64-bit ints and 25 big ints share hash 0: 33 keys, but with at
    # most MAX_SAME_HASH values of chosen hash the build stays linear anyway.
    obj = {k: 0 for k in colliding(MAX_SAME_HASH + 1, start=1)}
    assert same(decode(encode(ENV, obj))[1], obj)
    obj[2**8 * P * 7] = 1  # one more value of chosen hash: now checked
    refused(encode(ENV, [obj, *((i,) for i in range(10))]), "may share")


def test_up_to_the_limit_and_other_hashes_still_decode() -> None:
    obj = {k: 0 for k in colliding(MAX_SAME_HASH, start=1)}
    obj |= {k + 1: 1 for k in colliding(MAX_SAME_HASH)}  # hash 1
    obj |= {(i, str(i)): i for i in range(1000)}
    obj |= {-(2**70) - i: i for i in range(100)}
    assert same(decode(encode(ENV, obj))[1], obj)
    many = {k + i: i for i, k in enumerate(colliding(5000))}  # distinct hashes
    assert same(decode(encode(ENV, many))[1], many)


def test_keys_of_every_payload_type_still_decode() -> None:
    obj = {
        None: 0,
        True: 1,
        2: 2,
        2**100: 3,
        -(2**64): 4,
        1.5: 5,
        1 + 2j: 6,
        "s": 7,
        b"b": 8,
        (1, (2, "x"), b"y"): 9,
        np.int64(7): 10,
        np.float32(0.25): 11,
    }
    assert same(decode(encode(ENV, obj))[1], obj)


@settings(max_examples=60, deadline=None, database=None)
@given(
    n=st.integers(MAX_SAME_HASH + 1, 400),
    wrap=st.sampled_from(["int", "tuple", "pair"]),
    noise=st.lists(st.text(max_size=3), max_size=20, unique=True),
)
def test_any_crowd_of_colliding_keys_is_refused(n: int, wrap: str, noise: list[str]) -> None:
    ks: list[Any] = colliding(n)
    if wrap == "tuple":
        ks = [(k,) for k in ks]
    elif wrap == "pair":
        ks = [(k, -k) for k in ks]
    obj: dict[Any, Any] = {s: s for s in noise}
    obj |= {k: None for k in ks}
    refused(encode(ENV, obj), "may share")


@settings(max_examples=60, deadline=None, database=None)
@given(keys=st.sets(st.one_of(st.integers(), st.text(max_size=4), st.floats(allow_nan=False))))
def test_ordinary_keys_round_trip(keys: set[Any]) -> None:
    obj = {k: i for i, k in enumerate(keys)}
    assert same(decode(encode(ENV, obj))[1], obj)


def test_sets_need_pickle_on_the_way_in() -> None:
    for obj in ({1, 2}, frozenset({3}), [1, {"k": {4}}], set()):
        frames = encode(ENV, obj, allow_pickle=True)
        refused(frames, "set, which needs pickle")
        assert same(decode(frames, allow_pickle=True)[1], obj)


def test_timestamps_are_not_msgpack_timestamps() -> None:
    _, obj = decode([HEAD + msgpack.packb([msgpack.Timestamp(5, 0)])])
    assert type(obj[0]).__name__ == "datetime"


# -- arrays of no bytes --------------------------------------------------------


def array_message(dtype: Any, shape: Any) -> list[bytes]:
    packer = msgpack.Packer(default=_tag, strict_types=True, use_bin_type=True)
    return [HEAD + packer.pack([msgpack.ExtType(19, b""), 0, dtype, shape, False]), b""]


@pytest.mark.parametrize("dtype", ["|V0", [], [("a", [])]])
@pytest.mark.parametrize(
    "shape", [[2**62], [2**40, 2**20], [MAX_EMPTY_SPAN + 1], [2**62, 0], [0, 2**30]]
)
def test_arrays_of_no_bytes_cannot_claim_any_shape(dtype: Any, shape: list[int]) -> None:
    refused(array_message(dtype, shape), f"at most {MAX_EMPTY_SPAN}")


def test_empty_arrays_with_huge_dims_are_refused_for_every_dtype() -> None:
    for dtype in ("<f8", "|b1", ">c16", "|u1", "<M8[s]"):
        refused(array_message(dtype, [2**62, 0]), f"at most {MAX_EMPTY_SPAN}")


def test_subarrays_of_zero_itemsize_items_are_refused() -> None:
    refused(array_message([("a", "|V0", (2**62,))], [1]), "zero-itemsize")
    refused(array_message([("a", [], (3,))], [1]), "zero-itemsize")


def test_senders_refuse_what_receivers_would() -> None:
    with pytest.raises(TypeError, match="span at most"):
        encode(ENV, np.zeros((2**30, 0)))
    with pytest.raises(Unsendable, match="span at most"):
        array_to_wire(np.zeros(MAX_EMPTY_SPAN + 1, dtype=[]))
    with pytest.raises(Unsendable, match="zero-itemsize"):
        array_to_wire(np.zeros(2, dtype=[("a", [], (3,))]))
    # Where pickle is allowed, such arrays travel pickled instead.
    a = np.zeros(MAX_EMPTY_SPAN + 1, dtype="V0")
    assert same(decode(encode(ENV, a, allow_pickle=True), allow_pickle=True)[1], a)


@pytest.mark.parametrize(
    "a",
    [
        np.array(1.5),
        np.zeros((0, 5)),
        np.zeros((3, 0, 2)),
        np.zeros(5, dtype=[]),
        np.zeros(MAX_EMPTY_SPAN, dtype="V0"),
        np.zeros((2**10, 0, 2**10)),
        np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        np.arange(20)[::3],
        np.arange(4, dtype=">i8"),
        np.array([True, False]),
        np.arange(3) * (1 + 1j),
        np.zeros(2, dtype=[("a", "<f8", (0,)), ("b", "|u1")]),
    ],
    ids=lambda a: f"{a.dtype}-{a.shape}",
)
def test_array_edge_cases_still_round_trip(a: np.ndarray[Any, Any]) -> None:
    for copy in (False, True):
        got = decode(encode(ENV, a, allow_pickle=True), copy=copy)[1]
        assert same(got, a)


# -- nesting ---------------------------------------------------------------------


def test_nesting_limits() -> None:
    deep: Any = 0
    for _ in range(MAX_DEPTH):
        deep = [deep]
    assert same(decode(encode(ENV, deep))[1], deep)
    with pytest.raises(ValueError, match="nested deeper"):
        encode(ENV, [[deep]])
    # A receiver takes what msgpack's stack holds (1,024 levels), no more.
    refused([HEAD + b"\x91" * 2000 + b"\xc0"], "invalid payload")
    refused([HEAD + b"\x81\xc0" * 2000 + b"\xc0"], "invalid payload")
    tuple_marker = b"\xc7\x00\x10"
    refused([HEAD + (b"\x92" + tuple_marker) * 2000 + b"\xc0"], "invalid payload")
