"""Allgather: every rank gets every rank's object."""

from __future__ import annotations

from typing import Any

import numpy as np

from zmqmesh.collectives.base import Channel

__all__ = ["bruck", "ring", "ring_segments"]


async def ring(ch: Channel, obj: Any) -> list[Any]:
    """Ring allgather: p-1 rounds, each rank passing on to its right
    neighbour what it received from its left one. Bandwidth-optimal for
    large objects.

    Source: MPICH ``MPIR_Allgather_intra_ring``.
    """
    p, rank = ch.size, ch.rank
    out: list[Any] = [None] * p
    out[rank] = obj
    right, left = (rank + 1) % p, (rank - 1) % p
    for s in range(p - 1):
        out[(rank - s - 1) % p] = await ch.sendrecv(right, out[(rank - s) % p], left)
    return out


async def bruck(ch: Channel, obj: Any) -> list[Any]:
    """Bruck allgather: ceil(log2 p) rounds for any p; in round k a rank
    sends everything it has to ``rank - 2**k`` and appends what
    ``rank + 2**k`` sends. Latency-optimal for small objects.

    Source: Bruck et al., "Efficient algorithms for all-to-all
    communications in multiport message-passing systems" (1997); MPICH
    ``MPIR_Allgather_intra_brucks``.
    """
    p, rank = ch.size, ch.rank
    have: list[Any] = [obj]  # have[i] is the object of rank (rank + i) % p
    k = 1
    while k < p:
        count = min(k, p - k)
        got = await ch.sendrecv((rank - k) % p, have[:count], (rank + k) % p)
        have.extend(got)
        k <<= 1
    out: list[Any] = [None] * p
    for i, item in enumerate(have):
        out[(rank + i) % p] = item
    return out


async def ring_segments(ch: Channel, buf: np.ndarray, cuts: list[int], shift: int = 0) -> None:
    """In-place ring allgather of the blocks of a flat array: block
    ``(rank - shift) % p`` (elements ``cuts[b]:cuts[b+1]``) is valid on
    entry, every block is on return.

    Source: MPICH ``MPIR_Allgather_intra_ring``, on array segments.
    """
    p, rank = ch.size, ch.rank
    v = (rank - shift) % p
    right, left = (rank + 1) % p, (rank - 1) % p
    for s in range(p - 1):
        sb, rb = (v - s) % p, (v - s - 1) % p
        await ch.exchange(right, buf[cuts[sb] : cuts[sb + 1]], left, buf[cuts[rb] : cuts[rb + 1]])
