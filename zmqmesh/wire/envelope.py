"""The fixed-size envelope that opens every zmqmesh message.

The envelope says who sent a message, in which communicator, with which tag,
so the matching engine can route it without decoding the payload. It is a
little-endian C struct, parsed with one precompiled :class:`struct.Struct`::

    offset size  field
    0      1     magic   b"Z"
    1      1     version VERSION
    2      1     kind    Kind (u8)
    3      1     transport flags (0 here; the transport's own, see control.py)
    4      4     ctx     communicator context id (u32)
    8      4     source  sender's rank in that communicator (u32)
    12     8     tag     signed int64; user tags >= 0, negative ones are internal
    20     8     aux     u64: collective signature / sequence, 0 for p2p

The payload (msgpack) follows in the same header frame; see ``codec.py``.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from ..errors import DecodeError

__all__ = [
    "ENVELOPE_SIZE",
    "VERSION",
    "Envelope",
    "Kind",
    "pack_envelope",
    "unpack_envelope",
]

VERSION = 1
"""Wire format version. A receiver rejects any other version."""

_MAGIC = 0x5A  # b"Z"
_STRUCT = struct.Struct("<BBBxIIqQ")
ENVELOPE_SIZE: int = _STRUCT.size


class Kind(enum.IntEnum):
    """What a message is for: which part of the runtime consumes it."""

    P2P = 0
    COLL = 1
    CTRL = 2


# The highest valid Kind; a range check is cheaper than a set lookup + enum call.
_MAX_KIND = max(Kind)


@dataclass(frozen=True, slots=True)
class Envelope:
    """Routing information of one message (immutable).

    ``kind`` is a :class:`Kind` value (u8), ``ctx`` the communicator context
    id (u32), ``source`` the sender's rank in that communicator (u32), ``tag``
    a signed 64-bit tag (user tags are ``>= 0``; negative tags are reserved for
    zmqmesh's internal traffic), ``aux`` a u64 carrying the collective
    signature or sequence number (0 for point-to-point messages).

    Decoded envelopes hold plain ints; ``Kind`` members compare equal to them.
    """

    kind: int
    ctx: int
    source: int
    tag: int
    aux: int = 0


def pack_envelope(env: Envelope) -> bytes:
    """Return the ``ENVELOPE_SIZE`` bytes encoding ``env``.

    Raises ``ValueError`` when a field is out of its range (unknown kind, a
    negative rank, a tag outside int64, ...).
    """
    if not 0 <= env.kind <= _MAX_KIND:
        raise ValueError(f"envelope kind {env.kind!r} is not a Kind")
    try:
        return _STRUCT.pack(_MAGIC, VERSION, env.kind, env.ctx, env.source, env.tag, env.aux)
    except struct.error as exc:
        raise ValueError(f"envelope field out of range in {env!r}: {exc}") from None


# Hot path: every arriving message is peeked. The generated __init__ of a frozen
# dataclass goes through object.__setattr__ per field; writing the slots through
# their member descriptors halves the cost of building a decoded envelope.
_new_envelope = object.__new__
_set_kind, _set_ctx, _set_source, _set_tag, _set_aux = (
    Envelope.__dict__[name].__set__ for name in ("kind", "ctx", "source", "tag", "aux")
)


def unpack_envelope(header: bytes | memoryview | bytearray) -> Envelope:
    """Parse the envelope at the start of a header frame.

    Only the first ``ENVELOPE_SIZE`` bytes are read; the rest is the payload.
    Raises :class:`~zmqmesh.errors.DecodeError` when the buffer is too short,
    the magic byte is wrong, the version is not ``VERSION`` or the kind is
    unknown.
    """
    try:
        magic, version, kind, ctx, source, tag, aux = _STRUCT.unpack_from(header)
    except (struct.error, TypeError) as exc:
        if isinstance(exc, struct.error):
            size = memoryview(header).nbytes
            raise DecodeError(
                f"header frame too short for an envelope: {size} bytes < {ENVELOPE_SIZE}"
            ) from None
        raise DecodeError(f"header frame is not a buffer: {type(header).__name__}") from None
    if magic != _MAGIC:
        raise DecodeError(f"not a zmqmesh message: magic byte {magic:#04x}, expected 0x5a")
    if version != VERSION:
        raise DecodeError(
            f"unsupported zmqmesh wire version {version} (this build speaks {VERSION}); "
            "are all ranks running the same zmqmesh?"
        )
    if kind > _MAX_KIND:
        raise DecodeError(f"unknown message kind {kind}")
    env: Envelope = _new_envelope(Envelope)
    _set_kind(env, kind)
    _set_ctx(env, ctx)
    _set_source(env, source)
    _set_tag(env, tag)
    _set_aux(env, aux)
    return env
