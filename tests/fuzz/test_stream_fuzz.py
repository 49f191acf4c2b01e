"""Hostile same-host streams, at the pure parser a link's reader calls.

A same-host link's reader (``transport/samehost.py``) parses each message
header with ``wire/stream.py`` and only then allocates the frames it
announces; tests/transport/test_samehost.py checks that the reader takes and
refuses exactly what ``stream.decode`` does. Here the parser gets absurd
headers, bit-flipped streams and random bytes: each input is parsed or
raises DecodeError, and nothing else, quickly and within a small allocation
bound, however many bytes a header claims.
"""

from __future__ import annotations

import os
import random
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zmqmesh.errors import DecodeError
from zmqmesh.wire import stream

from .limits import bounded

SCALE = max(1, int(os.environ.get("ZMQMESH_FUZZ_SCALE", "1")))
pytestmark = pytest.mark.timeout(120 * SCALE)
LIMIT = 4 * 2**30  # a rank's default frame limit (transport.MAX_FRAME)


def wire(msgs: list[list[bytes]]) -> bytes:
    return b"".join(bytes(p) for m in msgs for p in stream.encode(m))


@pytest.mark.parametrize(
    ("count", "length"),
    [
        (stream.MAX_FRAMES, 2**64 - 1),  # the most frames, each claiming the most bytes
        (stream.MAX_FRAMES, 0),  # the most frames, all empty: a valid header
        (1, LIMIT + 1),
        (2**32 - 1, 0),  # a count past the limit: refused before the lengths
    ],
)
def test_absurd_headers_cost_little(count: int, length: int) -> None:
    n = min(count, stream.MAX_FRAMES)
    header = struct.pack("<I", count) + struct.pack("<Q", length) * n
    lengths = bounded(lambda: stream.parse_header(header, max_message=LIMIT))
    frames = bounded(lambda: stream.decode(header, max_message=LIMIT))
    if count <= stream.MAX_FRAMES and count * length <= LIMIT:
        assert lengths == (length,) * count
        assert frames == ([[b""] * count], len(header))
    else:
        assert isinstance(lengths, DecodeError)
        assert isinstance(frames, DecodeError)


fuzz = settings(
    max_examples=300 * SCALE,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
msgs = st.lists(st.lists(st.binary(max_size=24), min_size=1, max_size=4), min_size=1, max_size=4)


@fuzz
@given(msgs, st.integers(0, 2**32 - 1), st.integers(1, 6))
def test_bit_flipped_streams_parse_or_raise_decode_error(
    messages: list[list[bytes]], seed: int, flips: int
) -> None:
    rng = random.Random(seed)
    data = bytearray(wire(messages))
    for _ in range(flips):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    outcome = bounded(lambda: stream.decode(data, max_message=LIMIT))
    if not isinstance(outcome, DecodeError):
        got, used = outcome  # type: ignore[misc]
        assert wire(got) == bytes(data[:used])


@fuzz
@given(st.binary(max_size=300))
def test_random_bytes_parse_or_raise_decode_error(data: bytes) -> None:
    for parse in (
        lambda: stream.decode(data, max_message=LIMIT),
        lambda: stream.header_missing(data),
        lambda: stream.parse_header(data, max_message=LIMIT),
        lambda: stream.parse_hello(data[: stream.HELLO_SIZE]),
    ):
        bounded(parse)
