"""The same-host stream: hello, message headers and the reference reader."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqmesh.errors import DecodeError
from zmqmesh.wire.stream import (
    COUNT_SIZE,
    HELLO_SIZE,
    LENGTH_SIZE,
    MAX_FRAMES,
    decode,
    encode,
    header_missing,
    header_size,
    pack_hello,
    parse_header,
    parse_hello,
)

PROPERTY = settings(max_examples=150, deadline=None, database=None)
FUZZ = settings(max_examples=300, deadline=None, database=None)
BIG = 1 << 30

frames = st.lists(st.binary(max_size=64), min_size=1, max_size=6)


def wire(msgs: list[list[bytes]]) -> bytes:
    return b"".join(bytes(part) for m in msgs for part in encode(m))


# -- the bytes, pinned --


def test_layout_is_little_endian_count_then_lengths() -> None:
    assert (HELLO_SIZE, COUNT_SIZE, LENGTH_SIZE, MAX_FRAMES) == (4, 4, 8, 1 << 16)
    assert pack_hello(3) == b"\x03\x00\x00\x00"
    parts = encode([b"head", b"", b"xy"])
    assert parts[0] == struct.pack("<I3Q", 3, 4, 0, 2)
    assert parts[1:] == [b"head", b"", b"xy"]
    assert header_size(3) == len(parts[0]) == 28


@pytest.mark.parametrize("n", [1, 2, 8, 9, 40])
def test_headers_of_any_count_are_one_struct(n: int) -> None:
    sizes = list(range(n))
    parts = encode([bytes(s) for s in sizes])
    assert parts[0] == struct.pack(f"<I{n}Q", n, *sizes)


def test_frames_go_out_uncopied_and_views_count_bytes() -> None:
    head, data = b"h", bytearray(b"abcdefgh")
    wide = memoryview(bytes(24)).cast("d")  # 3 items of 8 bytes
    parts = encode([head, data, wide])
    assert all(p is f for p, f in zip(parts[1:], [head, data, wide], strict=True))
    assert parse_header(parts[0], max_message=BIG) == (1, 8, 24)


# -- round trips --


@PROPERTY
@given(st.integers(0, 2**32 - 1))
def test_hello_round_trip(rank: int) -> None:
    assert parse_hello(pack_hello(rank)) == rank
    assert parse_hello(bytearray(pack_hello(rank))) == rank


@PROPERTY
@given(st.lists(frames, max_size=6))
def test_stream_round_trip(msgs: list[list[bytes]]) -> None:
    data = wire(msgs)
    assert decode(data, max_message=BIG) == (msgs, len(data))


@PROPERTY
@given(st.lists(frames, min_size=1, max_size=4), st.data())
def test_a_cut_stream_yields_the_whole_messages_before_the_cut(
    msgs: list[list[bytes]], data: st.DataObject
) -> None:
    stream = wire(msgs)
    cut = data.draw(st.integers(0, len(stream)))
    got, used = decode(stream[:cut], max_message=BIG)
    assert got == msgs[: len(got)]
    assert used == len(wire(got))
    if cut < len(stream):
        assert len(got) < len(msgs)


@PROPERTY
@given(frames, st.binary(max_size=12), st.data())
def test_header_missing_counts_down_to_the_whole_header(
    msg: list[bytes], tail: bytes, data: st.DataObject
) -> None:
    header = bytes(encode(msg)[0])
    for n in range(len(header)):
        # until the count is in, only the count's bytes are known to be missing
        expect = COUNT_SIZE - n if n < COUNT_SIZE else len(header) - n
        assert header_missing(header[:n]) == expect
        assert parse_header(header[:n], max_message=BIG) is None
    assert header_missing(header) == header_missing(header + tail) == 0
    lengths = tuple(len(f) for f in msg)
    assert parse_header(header + tail, max_message=BIG) == lengths
    pad = data.draw(st.binary(max_size=9))
    assert parse_header(pad + header, max_message=BIG, offset=len(pad)) == lengths


def test_limits_are_inclusive() -> None:
    header = struct.pack("<I2Q", 2, 10, 6)
    assert parse_header(header, max_message=16) == (10, 6)
    many = struct.pack(f"<I{MAX_FRAMES}Q", MAX_FRAMES, *[0] * MAX_FRAMES)
    assert header_missing(many) == 0
    assert parse_header(many, max_message=0) == (0,) * MAX_FRAMES


# -- what the encoders refuse --


def test_encode_refuses_no_frames_or_too_many() -> None:
    with pytest.raises(ValueError, match="not 0"):
        encode([])
    with pytest.raises(ValueError, match=f"not {MAX_FRAMES + 1}"):
        encode([b""] * (MAX_FRAMES + 1))


def test_encode_refuses_what_the_reader_would_and_names_the_limit() -> None:
    """The writer applies the reader's ``max_message`` (frames summed),
    so an over-long message fails at its sender, not on the link."""
    assert len(encode([b"ab", memoryview(b"cd")], max_message=4)) == 3
    with pytest.raises(ValueError, match=r"of 5 bytes .*max_message, 4 bytes"):
        encode([b"ab", memoryview(b"cde")], max_message=4)
    with pytest.raises(DecodeError, match="a message of 5 bytes"):
        parse_header(encode([b"ab", b"cde"])[0], max_message=4)


def test_lengths_past_4_gib_are_carried_whole() -> None:
    """u64 lengths: a frame of more than 4 GiB is one frame, announced
    exactly (no chunking needed on the stream)."""
    big = 5 * 2**30 + 3
    header = struct.pack("<IQQ", 2, 10, big)
    assert parse_header(header, max_message=1 << 40) == (10, big)
    with pytest.raises(DecodeError, match=f"a message of {big + 10} bytes"):
        parse_header(header, max_message=4 * 2**30)


@pytest.mark.parametrize("rank", [-1, 2**32])
def test_pack_hello_refuses_what_is_no_u32(rank: int) -> None:
    with pytest.raises(ValueError, match="u32"):
        pack_hello(rank)


# -- malformed input: DecodeError naming what is wrong --


@pytest.mark.parametrize("raw", [b"", b"\x01\x00\x00", b"\x01\x00\x00\x00\x00"])
def test_a_hello_of_another_length_is_rejected(raw: bytes) -> None:
    with pytest.raises(DecodeError, match=f"not {len(raw)}"):
        parse_hello(raw)


@pytest.mark.parametrize("count", [0, MAX_FRAMES + 1, 2**32 - 1])
def test_frame_counts_out_of_range_are_rejected_as_soon_as_read(count: int) -> None:
    raw = struct.pack("<I", count)
    with pytest.raises(DecodeError, match=f"a message of {count} frames"):
        header_missing(raw)
    with pytest.raises(DecodeError, match=f"a message of {count} frames"):
        parse_header(raw, max_message=BIG)
    with pytest.raises(DecodeError, match=f"a message of {count} frames"):
        decode(wire([[b"ok"]]) + raw, max_message=BIG)


@pytest.mark.parametrize(
    "lengths",
    [[BIG + 1], [BIG, 1], [2**64 - 1], [2**64 - 1, 2**64 - 1], [2**63] * 4],
    ids=["over", "sum-over", "u64-max", "sum-past-u64", "four-halves"],
)
def test_messages_larger_than_the_limit_are_rejected_before_their_frames(
    lengths: list[int],
) -> None:
    header = struct.pack(f"<I{len(lengths)}Q", len(lengths), *lengths)
    with pytest.raises(DecodeError, match="bytes \\(at most 1073741824 allowed\\)"):
        parse_header(header, max_message=BIG)
    with pytest.raises(DecodeError, match="at most"):
        decode(header, max_message=BIG)  # no frame bytes needed to know


def test_an_empty_or_unfinished_stream_is_no_message_yet() -> None:
    assert decode(b"", max_message=BIG) == ([], 0)
    assert decode(struct.pack("<IQ", 1, 5) + b"abc", max_message=BIG) == ([], 0)


@FUZZ
@given(st.binary(max_size=200), st.integers(0, 64))
def test_any_bytes_decode_or_raise_decode_error(data: bytes, max_message: int) -> None:
    with contextlib.suppress(DecodeError):
        msgs, used = decode(data, max_message=max_message)
        assert 0 <= used <= len(data)
        assert wire(msgs) == data[:used]
    with contextlib.suppress(DecodeError):
        missing = header_missing(data)
        assert missing >= 0
    with contextlib.suppress(DecodeError):
        lengths = parse_header(data, max_message=max_message)
        assert lengths is None or 0 < len(lengths) <= MAX_FRAMES
