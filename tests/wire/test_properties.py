"""Property tests: any payload round-trips exactly; any garbage decodes or
raises DecodeError, never anything else."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import hypothesis.extra.numpy as hnp
import msgpack  # type: ignore[import-untyped]
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqmesh.errors import DecodeError
from zmqmesh.wire import Envelope, Kind, decode, encode, pack_envelope

from .strict import holds_a_set, same

PROPERTY = settings(max_examples=150, deadline=None, database=None)
FUZZ = settings(max_examples=300, deadline=None, database=None)


@dataclass
class Point:  # an "other object", for the pickle path
    x: float
    label: str


envelopes = st.builds(
    Envelope,
    kind=st.sampled_from(Kind),
    ctx=st.integers(0, 2**32 - 1),
    source=st.integers(0, 2**32 - 1),
    tag=st.integers(-(2**63), 2**63 - 1),
    aux=st.integers(0, 2**64 - 1),
)

simple_dtypes = st.one_of(
    hnp.scalar_dtypes(),  # bool, ints, floats, complex, datetime64, timedelta64
    hnp.integer_dtypes(endianness=">"),
    hnp.floating_dtypes(endianness=">"),
    hnp.complex_number_dtypes(endianness=">"),
    hnp.byte_string_dtypes(max_len=4),
    hnp.unicode_string_dtypes(endianness="?", max_len=4),
)
dtypes = st.one_of(simple_dtypes, hnp.array_dtypes(simple_dtypes, max_size=3))


def _view(a: np.ndarray[Any, Any], how: int) -> np.ndarray[Any, Any]:
    """A contiguous, Fortran or strided view of ``a``."""
    if a.ndim == 0 or how == 0:
        return a
    if how == 1:
        return np.asfortranarray(a)
    if how == 2:
        return a.T
    if how == 3:
        return a[::-1]
    return a[..., ::2]


arrays = st.builds(
    _view,
    dtypes.flatmap(
        lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    ),
    st.integers(0, 4),
)
numpy_scalars = dtypes.flatmap(lambda dt: hnp.arrays(dt, ())).map(lambda a: a[()])

hashable_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**200), 2**200),
    st.floats(),
    st.text(st.characters(exclude_categories=()), max_size=8),  # surrogates too
    st.binary(max_size=8),
    st.complex_numbers(),
)
hashables = st.recursive(
    hashable_leaves,
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
    max_leaves=4,
)
leaves = st.one_of(
    hashable_leaves,
    st.binary(max_size=8).map(bytearray),
    arrays,
    numpy_scalars,
)
payloads = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(hashables, inner, max_size=4),
        st.sets(hashables, max_size=3),
        st.frozensets(hashables, max_size=3),
    ),
    max_leaves=10,
)


@PROPERTY
@given(env=envelopes, obj=payloads, copy=st.booleans())
def test_any_payload_round_trips_exactly(env: Envelope, obj: Any, copy: bool) -> None:
    frames = encode(env, obj, allow_pickle=True)  # sets and such: beyond API.md's list
    allow = holds_a_set(obj)  # sets decode only where pickle is allowed; nothing else needs it
    got_env, got = decode(frames, copy=copy, allow_pickle=allow)
    assert got_env == env
    assert same(obj, got)
    assert same(obj, decode([bytes(f) for f in frames], copy=copy, allow_pickle=allow)[1])


def _decodes_or_rejects(frames: list[Any], **kw: Any) -> None:
    with contextlib.suppress(DecodeError):
        decode(frames, **kw)


@FUZZ
@given(frames=st.lists(st.binary(max_size=80), max_size=4))
def test_random_frames(frames: list[bytes]) -> None:
    _decodes_or_rejects(frames)


# Raw msgpack built from our own tags, to reach the decoder's validation.
wire_leaves = st.one_of(
    st.integers(-3, 40),
    st.sampled_from(["<f8", "|b1", ">i4", "<U2", "|O8", "<M8[s]", "", "a"]),
    st.binary(max_size=16),
    st.booleans(),
    st.builds(msgpack.ExtType, st.integers(0, 25), st.binary(max_size=20)),
    st.sampled_from([msgpack.ExtType(code, b"") for code in range(16, 22)]),
)
wire_values = st.recursive(
    wire_leaves,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(wire_leaves, inner, max_size=3),
    max_leaves=12,
)


@FUZZ
@given(
    env=envelopes,
    value=wire_values,
    buffers=st.lists(st.binary(max_size=40), max_size=3),
    copy=st.booleans(),
)
def test_random_payloads(env: Envelope, value: Any, buffers: list[bytes], copy: bool) -> None:
    header = pack_envelope(env) + msgpack.packb(value, use_bin_type=True)
    _decodes_or_rejects([header, *buffers], copy=copy)


@st.composite
def mutated_messages(draw: st.DrawFn) -> list[bytes]:
    obj = draw(st.one_of(payloads, st.builds(Point, st.floats(), st.text(max_size=4))))
    frames = [bytes(f) for f in encode(draw(envelopes), [obj], allow_pickle=True)]
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["truncate", "flip", "drop", "add", "dup", "swap"]))
        i = draw(st.integers(0, max(len(frames) - 1, 0)))
        if not frames and op != "add":
            continue
        if op == "truncate":
            frames[i] = frames[i][: draw(st.integers(0, len(frames[i])))]
        elif op == "flip" and frames[i]:
            pos = draw(st.integers(0, len(frames[i]) - 1))
            flipped = frames[i][pos] ^ draw(st.integers(1, 255))
            frames[i] = frames[i][:pos] + bytes([flipped]) + frames[i][pos + 1 :]
        elif op == "drop":
            del frames[i]
        elif op == "add":
            frames.insert(i, draw(st.binary(max_size=40)))
        elif op == "dup":
            frames.insert(i, frames[i])
        elif op == "swap":
            j = draw(st.integers(0, len(frames) - 1))
            frames[i], frames[j] = frames[j], frames[i]
    return frames


@FUZZ
@given(frames=mutated_messages(), copy=st.booleans(), allow_pickle=st.booleans())
def test_mutated_messages(frames: list[bytes], copy: bool, allow_pickle: bool) -> None:
    _decodes_or_rejects(frames, copy=copy, allow_pickle=allow_pickle)
