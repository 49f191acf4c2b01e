"""Sans-IO wire format: Python objects <-> ZeroMQ frames.

Pure code: imports neither ``zmq`` nor ``asyncio``. A message is the frame
list ``[header, *buffers]``; the header opens with a fixed-size
:class:`Envelope` (parsed by :func:`peek_envelope` without touching the
payload) followed by the msgpack payload, and each ndarray travels in its own
buffer frame without copies. See ``codec.py`` for the payload rules.

The transport's own formats are modules of their own, used by name:
``control`` (routing ids, the transport-flags byte and its notices),
``stream`` (same-host stream framing) and ``shmdesc`` (shared-memory
descriptors).

The codec's names load on first use, so that a module that needs only one
of the small formats (the launcher's rendezvous messages) does not import
NumPy with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .envelope import ENVELOPE_SIZE, VERSION, Envelope, Kind, pack_envelope, unpack_envelope

if TYPE_CHECKING:
    from .codec import (
        COPY_THRESHOLD,
        decode,
        decode_payload,
        encode,
        encode_after,
        payload_nbytes,
        peek_envelope,
    )

__all__ = [
    "COPY_THRESHOLD",
    "ENVELOPE_SIZE",
    "VERSION",
    "Envelope",
    "Kind",
    "decode",
    "decode_payload",
    "encode",
    "encode_after",
    "pack_envelope",
    "payload_nbytes",
    "peek_envelope",
    "unpack_envelope",
]

_CODEC = frozenset(
    {
        "COPY_THRESHOLD",
        "decode",
        "decode_payload",
        "encode",
        "encode_after",
        "payload_nbytes",
        "peek_envelope",
    }
)


def __getattr__(name: str) -> Any:
    if name not in _CODEC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(".codec", __name__), name)
    globals()[name] = value
    return value
