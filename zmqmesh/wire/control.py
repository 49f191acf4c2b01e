"""The transport's own bytes: routing ids, the flags byte and its notices.

Byte 3 of the envelope (``envelope.py``) belongs to the transport. It is 0
on every message the layers above send, and the transport sets exactly one
of the :class:`Flag` values on the messages it handles itself::

    SHM      a message whose frames listed in its last buffer frame travel
             in shared memory (the descriptor: ``shmdesc.py``)
    RELEASE  a notice: ``[header]`` = CTRL envelope + msgpack list of the
             segment ids the receiver of shared memory is done with
    BYE      a notice: ``[header]`` = CTRL envelope; a leaving rank asks
             "have you read all I sent?"
    BYE_ACK  a notice: ``[header]`` = CTRL envelope; "yes"

Flags are never combined. A DEALER's routing id is its world rank, a u32 in
network byte order, which the receiving ROUTER reads back.

:func:`flags_of` is on every message's path and only reads the byte;
:func:`decode` checks the rest, and raises :class:`DecodeError` for any
malformed input.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import msgpack  # type: ignore[import-untyped]

from ..errors import DecodeError
from .envelope import ENVELOPE_SIZE, Envelope, Kind, pack_envelope, unpack_envelope
from .show import brief, describe

__all__ = [
    "FLAGS_AT",
    "MAX_RELEASE_IDS",
    "ROUTING_ID_SIZE",
    "Flag",
    "Goodbye",
    "Release",
    "Shared",
    "decode",
    "flags_of",
    "mark_shared",
    "pack_routing_id",
    "parse_routing_id",
    "release_headers",
]

FLAGS_AT = 3
"""Offset of the transport-flags byte in a header frame."""

# Segment ids in one release: the bound receivers have always applied. A
# pool has at most SHM_BUSY_MAX / 1 MiB = 128 segments busy, plus the result
# frames it lent, so one notice is the rule; more go in several.
MAX_RELEASE_IDS = 1 << 16
_MAX_ID = 2**64 - 1

_ROUTING_ID = struct.Struct("!I")
ROUTING_ID_SIZE: int = _ROUTING_ID.size


class Flag(enum.IntEnum):
    """The values of the transport-flags byte other than 0 (one at a time)."""

    SHM = 1
    RELEASE = 2
    BYE = 4
    BYE_ACK = 8


def flags_of(header: bytes) -> int:
    """The transport-flags byte of a header frame: 0 for the layers' own
    messages, and for a header too short to have one (the codec reports it)."""
    return header[FLAGS_AT] if len(header) > FLAGS_AT else 0


def mark_shared(header: bytes | bytearray | memoryview) -> bytes:
    """A copy of ``header`` flagged :attr:`Flag.SHM`. Raises ``ValueError``
    when it is already flagged or too short for an envelope."""
    out = bytearray(header)
    if len(out) < ENVELOPE_SIZE or out[FLAGS_AT]:
        raise ValueError(f"not a header the transport may flag: {brief(bytes(out[:8]))}")
    out[FLAGS_AT] = Flag.SHM
    return bytes(out)


def pack_routing_id(rank: int) -> bytes:
    """The routing id of world rank ``rank``'s DEALER. ``ValueError`` if it
    is not a u32."""
    try:
        return _ROUTING_ID.pack(rank)
    except struct.error:
        raise ValueError(f"a rank is a u32, not {brief(rank)}") from None


def parse_routing_id(raw: bytes) -> int:
    """The world rank a routing id names. Raises :class:`DecodeError` for
    one that is no rank's (ZeroMQ gives anonymous peers 5-byte ids)."""
    if len(raw) != ROUTING_ID_SIZE:
        raise DecodeError(f"a routing id of {len(raw)} bytes names no rank")
    rank: int = _ROUTING_ID.unpack(raw)[0]
    return rank


def _own_header(flag: Flag) -> bytes:
    raw = bytearray(pack_envelope(Envelope(Kind.CTRL, 0, 0, 0)))
    raw[FLAGS_AT] = flag
    return bytes(raw)


_HEADERS = {flag: _own_header(flag) for flag in Flag}


@dataclass(frozen=True, slots=True)
class Release:
    """A notice: the sender's receiver is done with these segment ids of
    its shared-memory pool (and its lent frames)."""

    idents: tuple[int, ...]

    def encode(self) -> bytes:
        """The one header frame of this notice. ``ValueError`` for an id that
        is no u64, or more than ``MAX_RELEASE_IDS`` of them."""
        if len(self.idents) > MAX_RELEASE_IDS:
            raise ValueError(f"{len(self.idents)} ids in one release, over {MAX_RELEASE_IDS}")
        for ident in self.idents:
            if type(ident) is not int or not 0 <= ident <= _MAX_ID:
                raise ValueError(f"a segment id is a u64, not {brief(ident)}")
        payload: bytes = msgpack.packb(list(self.idents))
        return _HEADERS[Flag.RELEASE] + payload


@dataclass(frozen=True, slots=True)
class Goodbye:
    """A notice: a leaving rank asks whether all it sent was read (``ack``
    False), or the peer answers that it was (``ack`` True)."""

    ack: bool = False

    def encode(self) -> bytes:
        """The one header frame of this notice."""
        return _HEADERS[Flag.BYE_ACK if self.ack else Flag.BYE]


@dataclass(frozen=True, slots=True)
class Shared:
    """Not a notice: a message of the layers above whose last buffer frame
    lists the frames that travel in shared memory (``shmdesc.decode``)."""


_SHARED = Shared()
_GOODBYE = Goodbye(ack=False)
_GOODBYE_ACK = Goodbye(ack=True)
_NOTICES = frozenset({Flag.RELEASE, Flag.BYE, Flag.BYE_ACK})


def release_headers(idents: Sequence[int]) -> list[bytes]:
    """The header frames of the release notices that hand ``idents`` back:
    one, unless there are more than ``MAX_RELEASE_IDS`` (none for none).
    ``ValueError`` as :meth:`Release.encode`."""
    return [
        Release(tuple(idents[i : i + MAX_RELEASE_IDS])).encode()
        for i in range(0, len(idents), MAX_RELEASE_IDS)
    ]


def decode(header: bytes, nbuffers: int) -> Release | Goodbye | Shared:
    """What a message whose flags byte is not 0 is, given its header frame
    and how many buffer frames follow it.

    Raises :class:`DecodeError` for a flags byte that is no :class:`Flag`, a
    shared-memory message without its descriptor frame, and a notice that
    has buffer frames, a bad envelope (not CTRL), a payload (goodbyes) or a
    payload that is not a msgpack list of at most ``MAX_RELEASE_IDS`` u64
    segment ids (releases).
    """
    flags = flags_of(header)
    if flags == Flag.SHM:
        if nbuffers < 1:
            raise DecodeError("a shared-memory message without its descriptor frame")
        return _SHARED
    if flags not in _NOTICES:
        raise DecodeError(f"unknown transport flags {flags:#04x}")
    env = unpack_envelope(header)
    if env.kind != Kind.CTRL:
        raise DecodeError(f"a transport notice (flags {flags:#04x}) of kind {env.kind}, not CTRL")
    if nbuffers:
        raise DecodeError(f"a transport notice (flags {flags:#04x}) with {nbuffers} buffer frames")
    if flags == Flag.RELEASE:
        return Release(_release_ids(header))
    if len(header) != ENVELOPE_SIZE:
        raise DecodeError(f"a goodbye with {len(header) - ENVELOPE_SIZE} bytes of payload")
    return _GOODBYE_ACK if flags == Flag.BYE_ACK else _GOODBYE


def _release_ids(header: bytes) -> tuple[int, ...]:
    try:
        ids = msgpack.unpackb(header[ENVELOPE_SIZE:], max_array_len=MAX_RELEASE_IDS)
    except Exception as exc:  # msgpack's errors for garbage are of several types
        raise DecodeError(f"a release payload that does not decode: {describe(exc)}") from None
    if type(ids) is not list:
        raise DecodeError(f"a release holds a list of segment ids, not {brief(ids)}")
    for ident in ids:
        # bool is an int to Python, not to msgpack: a True here is no id
        if type(ident) is not int or ident < 0:
            raise DecodeError(f"a segment id is a u64, not {brief(ident)}")
    return tuple(ids)
