"""The codec's fast paths (one array, one plain scalar) give exactly what
the general path gives, and trust nothing they have not seen decoded."""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from zmqmesh.errors import DecodeError
from zmqmesh.wire import Envelope, Kind, codec, decode, encode
from zmqmesh.wire.envelope import ENVELOPE_SIZE
from zmqmesh.wire.tags import M_ARRAY

pytestmark = pytest.mark.timeout(120)

ENV = Envelope(Kind.P2P, 3, 1, 7)
API_DTYPES = st.sampled_from(
    ["?", "i1", "u1", "<i2", ">i2", "<u4", "<i8", ">u8", "<f2", "<f4", ">f8", "<c8", "<c16"]
)


def arrays() -> st.SearchStrategy[np.ndarray[Any, Any]]:
    """Arrays of API dtypes in C, Fortran and strided layouts."""
    base = API_DTYPES.flatmap(
        lambda dt: hnp.arrays(np.dtype(dt), hnp.array_shapes(min_dims=1, max_dims=3, max_side=5))
    )
    return st.tuples(base, st.sampled_from(["C", "F", "strided"])).map(_layout)


def _layout(arg: tuple[np.ndarray[Any, Any], str]) -> np.ndarray[Any, Any]:
    a, how = arg
    if how == "F":
        return np.asfortranarray(a)
    if how == "strided":
        return a[::2]
    return a


def _general_payload(a: np.ndarray[Any, Any]) -> bytes:
    fortran = not a.flags.c_contiguous and a.flags.f_contiguous
    return msgpack.packb([M_ARRAY, 0, a.dtype.str, list(a.shape), fortran], use_bin_type=True)


def _same(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> None:
    assert type(x) is type(y) is np.ndarray
    assert x.dtype == y.dtype
    assert x.shape == y.shape
    assert x.tobytes() == y.tobytes() or (np.isnan(x).any() and np.array_equal(x, y, True))
    assert x.flags.writeable == y.flags.writeable
    assert x.flags.c_contiguous == y.flags.c_contiguous
    assert x.flags.f_contiguous == y.flags.f_contiguous


@settings(max_examples=300, deadline=None)
@given(a=arrays(), copy=st.booleans(), writable=st.booleans())
def test_an_array_decodes_the_same_first_and_again(
    a: np.ndarray[Any, Any], copy: bool, writable: bool
) -> None:
    frames = encode(ENV, a)
    if a.nbytes and (a.flags.c_contiguous or a.flags.f_contiguous):
        assert bytes(frames[0][ENVELOPE_SIZE:]) == _general_payload(a)
    received = [bytes(frames[0]), *(bytearray(f) if writable else bytes(f) for f in frames[1:])]
    codec._seen_layouts.clear()
    env1, first = decode(received, copy=copy)  # the general path
    env2, again = decode(received, copy=copy)  # the fast one, where it applies
    assert env1 == env2 == ENV
    assert isinstance(first, np.ndarray)
    assert isinstance(again, np.ndarray)
    _same(first, again)
    np.testing.assert_array_equal(first, a)
    assert first.dtype == a.dtype


PLAIN = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.integers(),
    st.floats(allow_nan=False),
    st.binary(max_size=300),
    st.text(max_size=100),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=4),
)


@settings(max_examples=400, deadline=None)
@given(obj=PLAIN)
def test_a_plain_scalar_encodes_as_the_general_path_does(obj: Any) -> None:
    (header,) = encode(ENV, obj)
    general = encode(ENV, [obj])[0][ENVELOPE_SIZE + 1 :]  # the same value inside a list
    assert header[ENVELOPE_SIZE:] == general
    env, back = decode([header])
    assert env == ENV
    assert back == obj
    assert type(back) is type(obj)


def test_a_known_layout_over_the_wrong_frame_is_still_refused() -> None:
    a = np.arange(6, dtype="<i4").reshape(2, 3)
    frames = encode(ENV, a)
    header = bytes(frames[0])
    decode([header, bytes(frames[1])])  # learnt
    for bad in (b"", b"\0" * 23, b"\0" * 25):
        with pytest.raises(DecodeError, match="needs 24 bytes"):
            decode([header, bad])
    with pytest.raises(DecodeError):
        decode([header, bytes(frames[1]), b"extra"])


def test_only_payloads_that_decoded_to_one_array_are_learnt() -> None:
    codec._seen_layouts.clear()
    decode(encode(ENV, (np.arange(3),)))  # a tuple holding an array
    decode(encode(ENV, [1, 2]))
    assert codec._seen_layouts == {}
    decode(encode(ENV, np.arange(3)))
    assert len(codec._seen_layouts) == 1


def test_the_tables_stay_bounded() -> None:
    for n in range(1, 3 * codec.FAST_ENTRIES):
        a = np.zeros(n, "u1")
        decode([bytes(f) for f in encode(ENV, a)])
    assert 0 < len(codec._seen_layouts) <= codec.FAST_ENTRIES
    assert 0 < len(codec._sent_layouts) <= codec.FAST_ENTRIES


def test_a_plain_scalar_with_trailing_bytes_is_refused() -> None:
    (header,) = encode(ENV, 5)
    with pytest.raises(DecodeError, match="invalid payload"):
        decode([header + b"\x01"])


@settings(max_examples=300, deadline=None)
@given(a=arrays())
def test_an_array_sent_again_encodes_as_it_did_the_first_time(a: np.ndarray[Any, Any]) -> None:
    """The encoder's own fast path (a layout it has sent before; a small
    C-ordered array travels as a copy of its bytes) gives the same frames'
    bytes as the first, general encoding, and owes nothing to the array
    afterwards when it copied."""
    codec._sent_layouts.clear()
    first = [bytes(f) for f in encode(ENV, a)]
    frames = encode(ENV, a)
    assert [bytes(f) for f in frames] == first
    if a.flags.c_contiguous and 0 < a.nbytes <= codec._COPY_BELOW:
        assert type(frames[1]) is bytes  # a copy: the caller may change a at once
