"""Ranks and message sizes across the layer's boundary.

mpi4py's ``PROC_NULL`` (-1) is zmqmesh's None, its ``ANY_SOURCE`` (-2)
zmqmesh's ``ANY_SOURCE``. A buffer message travels as one 1-D array of
bytes; ``data_bytes`` recovers its length from a probe's payload size.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import zmqmesh
from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py.msgspec import Message, Plain
from zmqmesh.compat.mpi4py.pickling import bytes_of
from zmqmesh.compat.mpi4py.requests import Status
from zmqmesh.wire import Envelope, Kind, encode, payload_nbytes

__all__ = ["data_bytes", "dest_in", "rank_out", "source_in", "unpack_into"]


def source_in(source: int | None) -> int | None:
    """mpi4py's source rank as zmqmesh's."""
    if source is None or source == C.PROC_NULL:
        return None
    return zmqmesh.ANY_SOURCE if source == C.ANY_SOURCE else int(source)


def dest_in(dest: int | None) -> int | None:
    return None if dest is None or dest == C.PROC_NULL else int(dest)


def rank_out(rank: int | None) -> int:
    return C.PROC_NULL if rank is None else rank


_WIDTHS = (0, 128, 256, 65536, 2**32)  # where msgpack's width of a length grows
_HEADERS: dict[int, int] = {}


def _width(n: int) -> int:
    return max(w for w in _WIDTHS if w <= n)


def _header(width: int) -> int:
    """Payload bytes beyond the data of a ``uint8`` array message whose
    length has msgpack width class ``width``."""
    if width not in _HEADERS:
        if width == 2**32:  # a uint64 length: four bytes more than a uint32 one
            _HEADERS[width] = _header(65536) + 4
        else:
            frames = encode(Envelope(Kind.P2P, 0, 0, 0), np.zeros(width, np.uint8))
            _HEADERS[width] = payload_nbytes(frames) - width
    return _HEADERS[width]


def data_bytes(nbytes: int) -> int:
    """The array bytes of a buffer message whose encoded payload is ``nbytes``.

    A probe reports the encoded payload (header and array); the header of a
    ``uint8`` array grows with msgpack's width of its length, so the one
    length that is consistent with its header is found by trying each width.
    """
    for w in _WIDTHS:
        n = nbytes - _header(w)
        if n >= 0 and _width(n) == w:
            return n
    return max(nbytes - _header(0), 0)


def unpack_into(msg: Message | Plain, got: Any, status: Status | None) -> int:
    data = bytes_of(got)
    msg.unpack(data)
    if status is not None:
        status.count = data.size
    return data.size
