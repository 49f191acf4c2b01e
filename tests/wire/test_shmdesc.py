"""The shared-memory descriptor: which frames of a message are in which segment."""

from __future__ import annotations

import contextlib

import msgpack  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqmesh.errors import DecodeError
from zmqmesh.wire.shmdesc import MAX_NAME, SharedFrame, check_name, decode, encode

PROPERTY = settings(max_examples=150, deadline=None, database=None)
FUZZ = settings(max_examples=300, deadline=None, database=None)

u64s = st.integers(0, 2**64 - 1)
names = st.one_of(
    st.builds(lambda r, n: f"{r}-{n}", st.integers(0, 2**32), st.integers(1, 2**40)),
    st.text(min_size=1, max_size=20).filter(
        lambda s: "/" not in s and "\0" not in s and not s.startswith(".")
    ),
)


@st.composite
def messages(draw: st.DrawFn) -> tuple[list[SharedFrame], list[int]]:
    """Entries for distinct frames, and the sizes of the message's frames
    as received (0 where an entry says the bytes are in shared memory)."""
    nframes = draw(st.integers(1, 12))
    moved = draw(st.lists(st.integers(0, nframes - 1), unique=True, max_size=nframes))
    entries = []
    for index in moved:
        lent = draw(st.booleans())
        entries.append(
            SharedFrame(
                index,
                draw(u64s),
                draw(names),
                draw(u64s),
                draw(u64s) if lent else 0,
                lent,
            )
        )
    sizes = [0 if i in moved else draw(st.integers(0, 64)) for i in range(nframes)]
    return entries, sizes


@PROPERTY
@given(messages())
def test_round_trip(message: tuple[list[SharedFrame], list[int]]) -> None:
    entries, sizes = message
    assert decode(encode(entries), sizes) == tuple(entries)
    assert decode(memoryview(encode(entries)), sizes) == tuple(entries)
    assert decode(bytearray(encode(entries)), sizes) == tuple(entries)


def test_the_bytes_are_a_msgpack_list_of_entries() -> None:
    # what a pool sends: 4 fields for a copy, 5 for a lent frame (even at offset 0)
    entries = [
        SharedFrame(0, 3, "0-3", 1 << 20),
        SharedFrame(2, 9, "0-1", 320_000, 4096, lent=True),
        SharedFrame(3, 10, "0-1", 320_000, 0, lent=True),
    ]
    assert encode(entries) == msgpack.packb(
        [(0, 3, "0-3", 1 << 20), (2, 9, "0-1", 320_000, 4096), (3, 10, "0-1", 320_000, 0)]
    )
    assert encode([]) == b"\x90"


def test_entries_are_frozen_and_slotted() -> None:
    entry = SharedFrame(0, 1, "0-1", 8)
    with pytest.raises(AttributeError):
        entry.index = 2  # type: ignore[misc]
    assert not hasattr(entry, "__dict__")


# -- what the encoder refuses --


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        (SharedFrame(-1, 1, "0-1", 8), "u64s"),
        (SharedFrame(0, -1, "0-1", 8), "u64s"),
        (SharedFrame(0, 1, "0-1", -8), "u64s"),
        (SharedFrame(0, 1, "0-1", 2**64), "u64s"),
        (SharedFrame(0, 1, "0-1", 8, -1, lent=True), "u64s"),
        (SharedFrame(0, True, "0-1", 8), "u64s"),
        (SharedFrame(0, 1, "0-1", 8, 4096), "only a lent frame has an offset"),
        (SharedFrame(0, 1, "../x", 8), "segment name"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_encode_refuses_bad_entries(entry: SharedFrame, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        encode([entry])


def test_encode_refuses_two_entries_for_one_frame() -> None:
    with pytest.raises(ValueError, match="two shared-memory descriptor entries for frame 1"):
        encode([SharedFrame(1, 1, "0-1", 8), SharedFrame(1, 2, "0-2", 8)])


# -- names --


@pytest.mark.parametrize("name", ["0-1", "12-345678", "x", "a" * MAX_NAME, "a.b", "é"])
def test_plain_file_names_are_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name", ["", ".", "..", "../etc/passwd", "a/b", "/abs", ".hidden", "a\0b", "a" * (MAX_NAME + 1)]
)
def test_other_names_are_rejected(name: str) -> None:
    with pytest.raises(DecodeError, match="bad shared-memory segment name"):
        check_name(name)
    with pytest.raises(DecodeError, match="bad shared-memory segment name"):
        decode(msgpack.packb([[0, 1, name, 8]]), [0])


# -- malformed input: DecodeError naming what is wrong --


@pytest.mark.parametrize(
    ("raw", "sizes", "match"),
    [
        (b"", [0], "does not decode"),  # truncated: nothing at all
        (b"\x91\x94\x00\x01", [0], "does not decode"),  # truncated entry
        (msgpack.packb([]) + b"\x00", [0], "does not decode"),  # trailing bytes
        (b"\xc1", [0], "does not decode"),
        (b"\x91" * 3000 + b"\x90", [0] * 4, "does not decode"),  # nested deep
        (b"\xdd\x7f\xff\xff\xff\x00", [0], "does not decode"),  # claims 2**31 entries
        (msgpack.packb([[i, 1, "0-1", 8] for i in range(7)]), [0] * 6, "does not decode"),
        (msgpack.packb(7), [0], "is a list, not 7"),
        (msgpack.packb({"a": 1}), [0], "is a list"),
        (msgpack.packb([7]), [0], "bad shared-memory descriptor entry 7"),
        (msgpack.packb([[0, 1, "0-1"]]), [0], "entry"),  # 3 fields
        (msgpack.packb([[0, 1, "0-1", 8, 0, 9]]), [0], "does not decode"),  # 6 fields
        (msgpack.packb([[-1, 1, "0-1", 8]]), [0], "entry"),  # index -1: the header
        (msgpack.packb([[-2, 1, "0-1", 8]]), [0], "entry"),
        (msgpack.packb([[0, -1, "0-1", 8]]), [0], "entry"),
        (msgpack.packb([[0, 1, "0-1", -1]]), [0], "entry"),  # nbytes -1: the whole segment
        (msgpack.packb([[0, 1, "0-1", 8, -8]]), [0], "entry"),
        (msgpack.packb([[0, 1, "0-1", 8, 1.5]]), [0], "entry"),
        (msgpack.packb([[0.0, 1, "0-1", 8]]), [0], "entry"),
        (msgpack.packb([[True, 1, "0-1", 8]]), [0], "entry"),
        (msgpack.packb([[0, 1, b"0-1", 8]]), [0], "entry"),  # bytes, not str
        (msgpack.packb([[0, 1, None, 8]]), [0], "entry"),
        (msgpack.packb([[0, 1, "0-1", None]]), [0], "entry"),
        (msgpack.packb([[1, 1, "0-1", 8]]), [0], "frame 1 of 1"),
        (msgpack.packb([[5, 1, "0-1", 8]]), [], "frame 5 of 0"),
        (msgpack.packb([[0, 1, "0-1", 8], [0, 2, "0-2", 8]]), [0, 0], "names twice"),
        (msgpack.packb([[0, 1, "0-1", 8]]), [9], "carries data"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_malformed_descriptors_are_rejected(raw: bytes, sizes: list[int], match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        decode(raw, sizes)


def test_error_messages_stay_short_for_huge_values() -> None:
    huge = msgpack.packb([[0, 1, "x" * 100_000, 8]])
    with pytest.raises(DecodeError) as info:
        decode(huge, [0])
    assert len(str(info.value)) < 300


entry_parts = st.one_of(
    st.integers(-3, 12),
    st.sampled_from([2**32, 2**63, 2**64 - 1, -(2**63)]),
    st.floats(allow_nan=False),
    st.text(max_size=4),
    st.binary(max_size=4),
    st.booleans(),
    st.none(),
)


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=40),
        st.lists(st.lists(entry_parts, max_size=6), max_size=5).map(msgpack.packb),
        st.lists(entry_parts, max_size=5).map(msgpack.packb),
    ),
    st.lists(st.integers(0, 3), max_size=6),
)
def test_any_bytes_decode_or_raise_decode_error(raw: bytes, sizes: list[int]) -> None:
    with contextlib.suppress(DecodeError):
        for entry in decode(raw, sizes):
            assert 0 <= entry.index < len(sizes)
            assert sizes[entry.index] == 0
            assert check_name(entry.name) == entry.name
