"""The fixed envelope: layout, validation, and the fast peek."""

from __future__ import annotations

import pytest

from zmqmesh.errors import DecodeError
from zmqmesh.wire import (
    ENVELOPE_SIZE,
    VERSION,
    Envelope,
    Kind,
    encode,
    pack_envelope,
    peek_envelope,
    unpack_envelope,
)

EXTREMES = [
    Envelope(Kind.P2P, 0, 0, 0),
    Envelope(Kind.COLL, 2**32 - 1, 2**32 - 1, 2**63 - 1, 2**64 - 1),
    Envelope(Kind.CTRL, 7, 3, -(2**63), 12345),
    Envelope(Kind.P2P, 1, 2, -1),
]


@pytest.mark.parametrize("env", EXTREMES)
def test_round_trip(env: Envelope) -> None:
    packed = pack_envelope(env)
    assert len(packed) == ENVELOPE_SIZE
    assert unpack_envelope(packed) == env
    assert unpack_envelope(memoryview(packed)) == env
    assert unpack_envelope(bytearray(packed)) == env


def test_layout_is_fixed() -> None:
    packed = pack_envelope(Envelope(Kind.COLL, 1, 2, 3, 4))
    assert ENVELOPE_SIZE == 28
    assert packed[:2] == b"Z" + bytes([VERSION])
    assert packed[2] == Kind.COLL
    assert packed[4:8] == (1).to_bytes(4, "little")


def test_reads_only_the_prefix() -> None:
    env = Envelope(Kind.P2P, 5, 6, 7)
    assert unpack_envelope(pack_envelope(env) + b"payload follows") == env
    assert peek_envelope(encode(env, {"a": [1, 2]})) == env


def test_decoded_fields_are_ints_equal_to_kind() -> None:
    env = unpack_envelope(pack_envelope(Envelope(Kind.CTRL, 1, 2, 3)))
    assert env.kind == Kind.CTRL
    assert type(env.kind) is int


def test_envelope_is_frozen_and_slotted() -> None:
    env = Envelope(Kind.P2P, 1, 2, 3)
    with pytest.raises(AttributeError):
        env.tag = 4  # type: ignore[misc]
    assert not hasattr(env, "__dict__")
    assert env.aux == 0


@pytest.mark.parametrize(
    ("header", "match"),
    [
        (b"", "too short"),
        (pack_envelope(Envelope(0, 0, 0, 0))[:-1], "too short"),
        (b"X" + pack_envelope(Envelope(0, 0, 0, 0))[1:], "magic"),
        (b"Z\x02" + pack_envelope(Envelope(0, 0, 0, 0))[2:], "version 2"),
        (b"Z\x01\x03" + pack_envelope(Envelope(0, 0, 0, 0))[3:], "kind 3"),
    ],
)
def test_rejects_bad_headers(header: bytes, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        unpack_envelope(header)


def test_rejects_non_buffer() -> None:
    with pytest.raises(DecodeError, match="not a buffer"):
        unpack_envelope(12345)  # type: ignore[arg-type]


def test_peek_empty_message() -> None:
    with pytest.raises(DecodeError, match="empty message"):
        peek_envelope([])


@pytest.mark.parametrize(
    "env",
    [
        Envelope(3, 0, 0, 0),
        Envelope(-1, 0, 0, 0),
        Envelope(Kind.P2P, -1, 0, 0),
        Envelope(Kind.P2P, 0, 2**32, 0),
        Envelope(Kind.P2P, 0, 0, 2**63),
        Envelope(Kind.P2P, 0, 0, 0, -1),
    ],
)
def test_pack_rejects_out_of_range(env: Envelope) -> None:
    with pytest.raises(ValueError, match="envelope"):
        pack_envelope(env)
