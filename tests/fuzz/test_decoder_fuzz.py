"""Hostile messages for the wire decoder, judged by the resources they cost.

tests/wire/test_properties.py feeds ``decode`` small random values and
mutations of valid messages, and checks that only DecodeError escapes. These
tests aim at what a hostile or broken peer can make a receiver *spend*:
absurd array meta (a header claiming 2**60 elements, zero-width and object
dtypes, long shapes), msgpack bombs (nesting 10**5 levels deep, length
prefixes claiming 2**31 entries over a few bytes), bad envelopes and frame
counts. Every such message must raise DecodeError, and nothing else, in
milliseconds, with a tracemalloc peak under ``PEAK_LIMIT``: no MemoryError,
RecursionError, lazily allocated terabyte, or quadratic stall.

The envelope's transport-flags byte (3) is opaque here: ``decode`` ignores
it, and the transport, which owns it, is fuzzed in test_transport_flags.py.

``ZMQMESH_FUZZ_SCALE=N`` multiplies every ``max_examples`` (see README.md).
"""

from __future__ import annotations

import math
import os
from typing import Any

import msgpack  # type: ignore[import-untyped]
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zmqmesh.errors import DecodeError
from zmqmesh.wire import ENVELOPE_SIZE, VERSION, Envelope, Kind, decode, encode, pack_envelope
from zmqmesh.wire.arrays import MAX_EMPTY_SPAN
from zmqmesh.wire.tags import (
    ARRAY,
    EXT_BIGINT,
    EXT_BYTEARRAY,
    EXT_COMPLEX,
    PICKLE,
    SCALAR,
    SET,
    TUPLE,
)

from .limits import bounded as _bounded

SCALE = max(1, int(os.environ.get("ZMQMESH_FUZZ_SCALE", "1")))
pytestmark = pytest.mark.timeout(120 * SCALE)


def fuzz(n: int) -> settings:
    return settings(
        max_examples=n * SCALE,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def bounded(frames: list[Any], **kw: Any) -> Any:
    """``decode(frames)``: its result or its DecodeError, within the bounds
    of ``limits.py``; any other exception fails the test."""
    return _bounded(lambda: decode(frames, **kw))


HEADER = pack_envelope(Envelope(Kind.P2P, 3, 1, 7))
MARK = {code: msgpack.ExtType(code, b"") for code in (TUPLE, SET, ARRAY, SCALAR, PICKLE)}


def _bigint(n: int) -> msgpack.ExtType:
    return msgpack.ExtType(EXT_BIGINT, n.to_bytes(n.bit_length() // 8 + 1, "little", signed=True))


def _default(o: Any) -> Any:
    if type(o) is tuple:  # the codec's tuple: [TUPLE marker, *items]
        return [MARK[TUPLE], *o]
    if type(o) is int:  # beyond 64 bits
        return _bigint(o)
    raise TypeError(f"cannot pack {type(o).__name__}")


def packb(value: Any) -> bytes:
    """msgpack as the encoder writes it (tuples and big ints tagged), for any value."""
    return msgpack.Packer(default=_default, strict_types=True, use_bin_type=True).pack(value)


def array_message(dtype: Any, shape: Any, fortran: Any, *buffers: bytes, index: Any = 0) -> list:
    return [HEADER + packb([MARK[ARRAY], index, dtype, shape, fortran]), *buffers]


def rejected(frames: list[Any], **kw: Any) -> DecodeError:
    outcome = bounded(frames, **kw)
    assert isinstance(outcome, DecodeError), f"decoded: {outcome!r:.300}"
    # The message explains the defect; it is not an error raised while explaining it.
    assert "integer string conversion" not in str(outcome)
    return outcome


# -- absurd array headers ------------------------------------------------------

PLAIN = ["<f8", "|b1", ">i4", "<u2", "<c16", "|S3", "<U2", "|V4", "<M8[s]", ">m8[10ms]", "|u1"]
ZERO_WIDTH = ["|S0", "<U0", ">U0", "=S0", "|V0"]
OBJECT = ["O", "|O", "|O8", "<O8", ">O4", "O8", "=O"]
BIG_ITEMSIZE = [
    "|V2147483647",
    "|V2147483648",
    "|V9999999999",
    "|S4294967296",
    "|S2147483647",
    "<U1073741824",
    "<U999999999",
    ">U2147483648",
]
ODD_FORMS = [
    "",
    "f8",
    "<f8 ",
    " <f8",
    "i4,f8",
    "(2,)<f8",
    "a1",
    "<f3",
    "<f16",
    "<M8[zz]",
    "<M8[9999999999Y]",
    "<M8[0Y]",
    "<M8[]",
    "<m8[-1s]",
    "<T",
    "<O",
    "|b1\x00",
    "float64",
    "V",
    "S",
    "U",
    "<V",
    "|S-1",
    "<i0",
    "<f0",
    "<c0",
    "|b0",
    "<f8\n",
]
ANY_STR_DTYPE = [*PLAIN, *ZERO_WIDTH, *OBJECT, *BIG_ITEMSIZE, *ODD_FORMS]

dim = st.one_of(
    st.integers(0, 4),
    st.integers(-(2**70), -1),
    st.sampled_from([2**31, 2**32, 2**60, 2**62, 2**63 - 1, 2**63, 2**64 - 1, 2**100, 2**2000]),
)
junk = st.one_of(st.none(), st.booleans(), st.floats(), st.binary(max_size=4), st.text(max_size=4))
shapes = st.one_of(
    st.lists(dim, max_size=6),
    st.lists(st.one_of(dim, junk), max_size=4),
    st.integers(1, 8).map(lambda n: [1] * (64 + n)),
    st.integers(1, 5000).map(lambda n: [2**64 - 1] * n),
    st.lists(dim, max_size=3).map(tuple),  # a tuple is not a shape
    junk,
)
str_dtypes = st.one_of(
    st.sampled_from(ANY_STR_DTYPE),
    st.from_regex(r"[<>|=][a-zA-Z][0-9]{0,12}(\[[0-9]{0,12}[A-Za-z]{0,4}\])?", fullmatch=True),
    st.text(max_size=12),
)
field_names = st.one_of(
    st.text(max_size=3),
    st.tuples(st.text(max_size=2), st.text(max_size=2)),
    st.integers(),
    st.none(),
)
descr_dtypes = st.recursive(
    str_dtypes,
    lambda inner: st.lists(
        st.one_of(
            st.tuples(field_names, inner),
            st.tuples(field_names, inner, st.lists(dim, max_size=3).map(tuple)),
            st.tuples(field_names),
            junk,
        ),
        max_size=4,
    ),
    max_leaves=8,
)
wire_dtypes = st.one_of(str_dtypes, descr_dtypes, junk, st.dictionaries(st.text(max_size=2), junk))


def check_array(arr: Any, buffer: bytes) -> None:
    """A decoded array is sound: plain bytes, consistent size, and no more
    memory than its frame (zero-itemsize arrays hold none at all)."""
    assert type(arr) is np.ndarray
    assert not arr.dtype.hasobject
    assert arr.size == math.prod(arr.shape)
    assert arr.nbytes == len(buffer)


@fuzz(400)
@given(
    dtype=wire_dtypes,
    shape=shapes,
    fortran=st.one_of(st.booleans(), junk),
    buffer=st.binary(max_size=64),
    copy=st.booleans(),
)
def test_absurd_array_meta(dtype: Any, shape: Any, fortran: Any, buffer: bytes, copy: bool) -> None:
    outcome = bounded(array_message(dtype, shape, fortran, buffer), copy=copy)
    if not isinstance(outcome, DecodeError):
        check_array(outcome[1], buffer)


@fuzz(150)
@given(
    dtype=st.sampled_from(PLAIN + BIG_ITEMSIZE),
    count=st.sampled_from([2**31, 2**32 + 1, 2**60, 2**62, 2**63 - 1, 2**63, 2**64 - 1, 2**200]),
    ndim=st.integers(1, 4),
    buffer=st.binary(max_size=64),
    copy=st.booleans(),
)
def test_element_counts_beyond_the_frame_are_rejected(
    dtype: str, count: int, ndim: int, buffer: bytes, copy: bool
) -> None:
    # 2**60 elements, as one dim or spread over several (a 2**60 x 1 x 1 ... array).
    rejected(array_message(dtype, [count] + [1] * (ndim - 1), False, buffer), copy=copy)
    side = 2 ** math.ceil(math.log2(count) / ndim)
    rejected(array_message(dtype, [side] * ndim, True, buffer), copy=copy)


@pytest.mark.parametrize("dtype", ["|S0", "<U0", ">U0", "=S0"])
@pytest.mark.parametrize("count", [0, 1, 2**31, 2**40, 2**62])
@pytest.mark.parametrize("copy", [False, True])
def test_zero_width_string_arrays_are_rejected(dtype: str, count: int, copy: bool) -> None:
    # NumPy has no S0/U0 arrays: np.empty(shape, "S0") is S1, so before the
    # fix [ARRAY, 0, "<U0", [2**31], False] plus an empty frame made the
    # receiver allocate 8 GiB (16 GiB touched with copy=True).
    rejected(array_message(dtype, [count], False, b""), copy=copy)


@pytest.mark.parametrize("dtype", ["|V0", [], [("a", "|V0")], [("", "|V0")], [("s", "|S0")]])
@pytest.mark.parametrize("copy", [False, True])
def test_zero_itemsize_arrays_never_allocate(dtype: Any, copy: bool) -> None:
    # Zero-itemsize arrays are legitimate (np.zeros(5, dtype=[]) round-trips)
    # and hold no memory, but an empty frame vouches for no count: a |V0
    # array of shape [2**62] decoded from zero bytes before the span limit.
    for shape in ([5], [0], [MAX_EMPTY_SPAN], [2**10, 2**10], [2**62, 0]):
        if math.prod(d for d in shape if d) > MAX_EMPTY_SPAN:
            continue
        _, arr = bounded(array_message(dtype, shape, False, b""), copy=copy)
        check_array(arr, b"")
        assert arr.shape == tuple(shape)
    for shape in (
        [MAX_EMPTY_SPAN + 1],
        [2**40],
        [2**31, 2**31],
        [2**63 - 1],
        [2**62, 2**62],
        [2**32] * 3,
        [2**63],
        [2**63 - 1, 2],
        [2**62, 0],  # zero elements, 2**62 rows
    ):
        err = rejected(array_message(dtype, shape, False, b""), copy=copy)
        assert f"at most {MAX_EMPTY_SPAN}" in str(err) or "non-negative ints" in str(err)


@pytest.mark.parametrize("dtype", ["<f8", "|b1", ">c16", "|u1"])
@pytest.mark.parametrize("shape", [[2**62, 0], [0, 2**40], [2**21, 0, 2**21]])
def test_empty_arrays_with_huge_dims_are_rejected(dtype: str, shape: list[int]) -> None:
    err = rejected(array_message(dtype, shape, False, b""))
    assert f"at most {MAX_EMPTY_SPAN}" in str(err)
    _, arr = bounded(array_message(dtype, [2**10, 0, 2**10], True, b""))
    assert arr.shape == (2**10, 0, 2**10)


@pytest.mark.parametrize("ndim", [65, 1000, 100_000])
@pytest.mark.parametrize("dim_value", [1, 2**63 - 1, 2**64 - 1])
def test_long_shapes_are_rejected_fast(ndim: int, dim_value: int) -> None:
    # math.prod over n untrusted 64-bit dims is O(n**2): 30,000 dims took 2 s
    # before the decoder capped the number of dimensions.
    rejected(array_message("<f8", [dim_value] * ndim, False, bytes(8)))
    subarray = [("a", "<f8", (dim_value,) * ndim)]
    rejected(array_message(subarray, [1], False, bytes(8)))


@pytest.mark.parametrize(
    "dtype",
    [
        [(f"f{i}", "|u1") for i in range(50_000)],  # wide: legitimate, linear cost
        [("", "|V1")] * 50_000,  # all padding
        [("a", "<f8", (2**31,))],
        [("a", "|S0", (2**40,))],
        [("a", "|V0", (2**62,))],  # a subarray of zero-itemsize items: refused
        [("a", [], (3,))],
        [("a", "|V2147483647", (2**31,))],
    ],
    ids=[
        "50k-fields",
        "50k-pads",
        "subarray-2**31",
        "S0-subarray",
        "V0-subarray",
        "empty-struct-subarray",
        "huge-pad",
    ],
)
def test_structured_dtype_bombs(dtype: Any) -> None:
    width = len(dtype) if len(dtype) > 1 else 1
    outcome = bounded(array_message(dtype, [1], False, bytes(width)))
    if not isinstance(outcome, DecodeError):
        check_array(outcome[1], bytes(width))


def test_nested_subarrays_cannot_overflow_the_itemsize() -> None:
    descr: Any = "<f8"
    for _ in range(15):
        descr = [("a", descr, (2**10,))]
    rejected(array_message(descr, [1], False, bytes(8)))
    descr = "|V0"
    for _ in range(15):
        descr = [("a", descr, (2**30,))]
    assert "zero-itemsize" in str(rejected(array_message(descr, [2**30], False, b"")))


@fuzz(200)
@given(dtype=wire_dtypes, raw=st.one_of(st.binary(max_size=40), junk))
def test_absurd_scalar_meta(dtype: Any, raw: Any) -> None:
    outcome = bounded([HEADER + packb([MARK[SCALAR], dtype, raw])])
    if not isinstance(outcome, DecodeError):
        assert isinstance(outcome[1], np.generic)
        assert not outcome[1].dtype.hasobject


# -- msgpack bombs ---------------------------------------------------------------

N = 100_000
DEEP = {
    "lists": b"\x91" * N + b"\xc0",
    "maps": b"\x81\xc0" * N + b"\xc0",
    "map-keys": b"\x81\x91" * N + b"\xc0\xc0",
    "tuples": (b"\x92" + packb(MARK[TUPLE])) * N + b"\xc0",
    "sets": (b"\x92" + packb(MARK[SET])) * N + b"\xc0",
    "arrays": (b"\x95" + packb(MARK[ARRAY])) * N + b"\xc0",
    "array32": b"\xdd\x00\x00\x00\x01" * N + b"\xc0",
    "lists-1024": b"\x91" * 1023 + b"\xc0",  # just inside msgpack's stack: decodes
    # 1000 levels inside an array's buffer index: the error message must not
    # recurse through them (repr would raise RecursionError).
    "buffer-ref": b"\x95" + packb(MARK[ARRAY]) + b"\x91" * 1000 + b"\x00\xa3<f8\x91\x01\xc2",
}


@pytest.mark.parametrize("body", DEEP.values(), ids=DEEP.keys())
def test_deep_nesting(body: bytes) -> None:
    outcome = bounded([HEADER + body])
    if not isinstance(outcome, DecodeError):
        assert body.startswith(b"\x91" * 1023)  # the only one within the stack limit


BIG = 0xFFFFFFFF
LENGTH_BOMBS = {
    "map32-2**31": b"\xdf\x7f\xff\xff\xff" + b"\xc0" * 10,
    "map32-max": b"\xdf\xff\xff\xff\xff\xc0\xc0",
    "map16-max": b"\xde\xff\xff\xc0\xc0",
    "array32-max": b"\xdd\xff\xff\xff\xff" + b"\xc0" * 10,
    "array16-max": b"\xdc\xff\xff\xc0",
    "str8": b"\xd9\xff" + b"a" * 10,
    "str16": b"\xda\xff\xff" + b"a" * 10,
    "str32": b"\xdb\xff\xff\xff\xff" + b"a" * 10,
    "bin8": b"\xc4\xff" + b"a" * 10,
    "bin16": b"\xc5\xff\xff" + b"a" * 10,
    "bin32": b"\xc6\xff\xff\xff\xff" + b"a" * 10,
    "ext8": b"\xc7\xff\x02" + b"a" * 10,
    "ext16": b"\xc8\xff\xff\x02" + b"a" * 10,
    "ext32": b"\xc9\xff\xff\xff\xff\x02" + b"a" * 10,
    "fixext16": b"\xd8\x02" + b"a" * 10,
    "bigint-ext32": b"\xc9\x7f\xff\xff\xff\x02\x01",
    "nested-map-claims": b"\xdf\x7f\xff\xff\xff" * 1000,
    "nested-array-claims": b"\xdd\x7f\xff\xff\xff" * 1000,
    "reserved-0xc1": b"\x92\x01\xc1",
    "trailing-bytes": b"\xc0\xc0",
    "empty-payload": b"",
}


@pytest.mark.parametrize("body", LENGTH_BOMBS.values(), ids=LENGTH_BOMBS.keys())
@pytest.mark.parametrize("wrap", ["bare", "in-list", "as-key", "as-dim"])
def test_length_prefix_bombs(body: bytes, wrap: str) -> None:
    if wrap == "in-list":
        body = b"\x92\x01" + body
    elif wrap == "as-key":
        body = b"\x81" + body + b"\xc0"
    elif wrap == "as-dim":
        body = b"\x95" + packb(MARK[ARRAY]) + b"\x00\xa3<f8\x91" + body + b"\xc2"
    rejected([HEADER + body, bytes(8)] if wrap == "as-dim" else [HEADER + body])


LENGTH_PREFIXES = [
    (b"\xdc", 2),
    (b"\xdd", 4),
    (b"\xde", 2),
    (b"\xdf", 4),
    (b"\xd9", 1),
    (b"\xda", 2),
    (b"\xdb", 4),
    (b"\xc4", 1),
    (b"\xc5", 2),
    (b"\xc6", 4),
    (b"\xc7", 1),
    (b"\xc8", 2),
    (b"\xc9", 4),
]


@fuzz(300)
@given(
    prefix=st.sampled_from(LENGTH_PREFIXES),
    length=st.integers(0, 2**32 - 1),
    ext_code=st.integers(-128, 127),
    tail=st.binary(max_size=32),
    depth=st.integers(0, 2000),
    copy=st.booleans(),
)
def test_any_length_prefix(
    prefix: tuple[bytes, int], length: int, ext_code: int, tail: bytes, depth: int, copy: bool
) -> None:
    code, width = prefix
    length %= 1 << (8 * width)
    item = code + length.to_bytes(width, "big")
    if code in (b"\xc7", b"\xc8", b"\xc9"):
        item += ext_code.to_bytes(1, "big", signed=True)
    bounded([HEADER + b"\x91" * depth + item + tail], copy=copy)


@pytest.mark.parametrize(
    "item",
    [
        b"\x90",  # empty lists: ~70x their bytes as Python objects
        b"\x80",  # empty maps
        b"\x91" + packb(MARK[SET]),  # empty sets
        b"\x91" + packb(MARK[TUPLE]),  # empty tuples (a singleton)
        packb(_bigint(1)),
        packb(msgpack.ExtType(EXT_COMPLEX, bytes(16))),
        packb(msgpack.ExtType(EXT_BYTEARRAY, b"x")),
    ],
    ids=["lists", "maps", "sets", "tuples", "bigints", "complex", "bytearrays"],
)
def test_wide_payloads_cost_memory_in_proportion(item: bytes) -> None:
    """Not a bomb: 256 KiB of tiny values is a valid payload. Python objects
    cost up to ~70x their msgpack bytes; the peak stays proportional (here
    under 64 MiB for 256 KiB)."""
    count = 2**18 // len(item)
    body = b"\xdd" + count.to_bytes(4, "big") + item * count
    _, obj = bounded([HEADER + body], allow_pickle=True)  # sets need it
    assert len(obj) == count


@pytest.mark.parametrize(
    "value",
    [
        [MARK[ARRAY], 2**800_000, "<f8", [1], False],  # buffer index: a 100 KB int
        [MARK[ARRAY], 0, "<f8", [2**800_000], False],  # a dim
        [MARK[ARRAY], 0, [("a", "<f8", (2**800_000,))], [1], False],  # a subarray dim
        [MARK[PICKLE], 0, 2**800_000, b""],  # a buffer count (pickle is off)
        [MARK[SCALAR], "<f8", 2**800_000],
        [MARK[ARRAY], 0, "<f8", [1], -(2**800_000)],  # the order flag
    ],
    ids=["index", "dim", "subarray-dim", "count", "scalar-raw", "fortran"],
)
@pytest.mark.parametrize("allow_pickle", [False, True])
def test_huge_ints_in_meta(value: list, allow_pickle: bool) -> None:
    # Python refuses to print ints beyond 4300 digits; the error must still
    # say what is wrong (rejected() checks the message).
    rejected([HEADER + packb(value), bytes(8)], allow_pickle=allow_pickle)


# -- envelopes ---------------------------------------------------------------------

VALID = encode(Envelope(Kind.COLL, 5, 2, -9, 2**64 - 1), {"a": (1, 2.5), "b": np.arange(3)})


@fuzz(150)
@given(pos=st.sampled_from([0, 1, 2]), value=st.integers(0, 255), copy=st.booleans())
def test_wrong_magic_version_kind(pos: int, value: int, copy: bool) -> None:
    header = bytearray(VALID[0])
    header[pos] = value
    frames = [bytes(header), *VALID[1:]]
    valid = {0: value == 0x5A, 1: value == VERSION, 2: value <= max(Kind)}[pos]
    outcome = bounded(frames, copy=copy)
    if valid:
        assert not isinstance(outcome, DecodeError), outcome
    else:
        assert isinstance(outcome, DecodeError)
        assert ("magic", "version", "kind")[pos] in str(outcome)


@fuzz(60)
@given(flags=st.integers(0, 255))
def test_flags_byte_is_opaque_to_the_decoder(flags: int) -> None:
    # Byte 3 is the transport's; whatever it holds, decode reads the same message.
    header = bytearray(VALID[0])
    header[3] = flags
    env, obj = decode([bytes(header), *VALID[1:]])
    ref_env, ref = decode(VALID)
    assert env == ref_env
    assert obj.keys() == ref.keys()
    assert obj["a"] == ref["a"]
    assert np.array_equal(obj["b"], ref["b"])


@pytest.mark.parametrize("size", range(ENVELOPE_SIZE))
def test_short_headers(size: int) -> None:
    rejected([VALID[0][:size], *VALID[1:]])


@pytest.mark.parametrize("header", ["Z\x01\x00" + "\x00" * 30, 12345, None, [1, 2], 3.5], ids=repr)
def test_headers_that_are_not_buffers(header: Any) -> None:
    rejected([header])


def test_no_frames() -> None:
    rejected([])


# -- frame counts and buffer references ----------------------------------------------


@fuzz(200)
@given(
    arrays=st.integers(0, 4),
    change=st.integers(-4, 4).filter(bool),
    extra=st.binary(max_size=16),
    copy=st.booleans(),
    allow_pickle=st.booleans(),
)
def test_mismatched_frame_counts(
    arrays: int, change: int, extra: bytes, copy: bool, allow_pickle: bool
) -> None:
    payload = [np.full(i + 1, i, np.int32) for i in range(arrays)]
    frames = encode(Envelope(Kind.P2P, 0, 0, 0), payload)
    assert len(frames) == 1 + arrays
    if change < 0:
        if -change > arrays:
            return
        frames = frames[:change]  # referenced buffers missing
    else:
        frames = [*frames, *[extra] * change]  # buffers nobody references
    err = rejected(frames, copy=copy, allow_pickle=allow_pickle)
    assert "buffer" in str(err)


@pytest.mark.parametrize(
    "value",
    [
        [MARK[PICKLE], 0, 2**62, b""],
        [MARK[PICKLE], 2**62, 1, b""],
        [MARK[PICKLE], -1, 2, b""],
        [MARK[PICKLE], 0, -(2**62), b""],
        [MARK[PICKLE], 1, 2**63 - 1, b""],
        [MARK[ARRAY], 2**63, "<f8", [1], False],
        [MARK[ARRAY], -(2**63), "<f8", [1], False],
        [MARK[ARRAY], True, "<f8", [1], False],
        [MARK[ARRAY], 0.0, "<f8", [1], False],
        [[MARK[ARRAY], 0, "|u1", [1], False], [MARK[ARRAY], 0, "|u1", [1], False]],  # twice
    ],
    ids=repr,
)
@pytest.mark.parametrize("allow_pickle", [False, True])
def test_absurd_buffer_references(value: list, allow_pickle: bool) -> None:
    # Rejected before anything loops over the claimed range (2**62 frames).
    rejected([HEADER + packb(value), b"\x01", b"\x02"], allow_pickle=allow_pickle)


# -- keys that collide in hash() -----------------------------------------------

P61 = 2**61 - 1  # hash(k * P61) == 0 for every int k


def _map_of(keys: list[Any]) -> bytes:
    """A msgpack map of ``keys`` (tagged as the codec tags them), built
    without a Python dict: building one of colliding keys is quadratic too."""
    packer = msgpack.Packer(default=_default, strict_types=True, use_bin_type=True)
    return packer.pack_map_header(len(keys)) + b"".join(packer.pack(k) + b"\xc0" for k in keys)


@pytest.mark.parametrize("n", [20_000, 50_000])
@pytest.mark.parametrize("wrap", ["bigint", "tuple", "set"])
def test_colliding_keys_are_refused_within_bounds(n: int, wrap: str) -> None:
    # Before the limit on keys sharing a hash, 20,000 big-int keys took 6.8 s
    # to decode and 40,000 took 19.6 s.
    keys: list[Any] = [k * P61 for k in range(2**8, 2**8 + n)]
    if wrap == "tuple":
        body = _map_of([(k,) for k in keys])
    elif wrap == "bigint":
        body = _map_of(keys)
    else:
        body = packb([MARK[SET], *keys])
    err = rejected([HEADER + body], allow_pickle=True)
    assert "may share" in str(err)
