"""Alltoall: rank i sends ``seq[j]`` to rank j and gets a list of what every
rank sent it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from zmqmesh.collectives.base import Channel

__all__ = ["bruck", "pairwise"]


async def pairwise(ch: Channel, seq: Sequence[Any]) -> list[Any]:
    """Pairwise exchange: in round s (1..p-1) send ``seq[rank+s]`` to
    ``rank+s`` and receive from ``rank-s``. Each item crosses the network once:
    best for large items.

    Source: MPICH ``MPIR_Alltoall_intra_pairwise``.
    """
    p, rank = ch.size, ch.rank
    out: list[Any] = [None] * p
    out[rank] = seq[rank]
    for s in range(1, p):
        out[(rank - s) % p] = await ch.sendrecv((rank + s) % p, seq[(rank + s) % p], (rank - s) % p)
    return out


async def bruck(ch: Channel, seq: Sequence[Any]) -> list[Any]:
    """Bruck's alltoall: ceil(log2 p) rounds; in round k every rank forwards,
    to ``rank + k``, the items whose (rotated) index has bit k set. Items
    travel up to log2 p hops, so this wins for small items where latency
    dominates.

    Source: Bruck et al., "Efficient algorithms for all-to-all
    communications in multiport message-passing systems" (1997); MPICH
    ``MPIR_Alltoall_intra_brucks``.
    """
    p, rank = ch.size, ch.rank
    # phase 1: rotate so that slot i holds the item for rank (rank + i) % p
    slots = [seq[(rank + i) % p] for i in range(p)]
    k = 1
    while k < p:
        idx = [i for i in range(p) if i & k]
        got = await ch.sendrecv((rank + k) % p, [slots[i] for i in idx], (rank - k) % p)
        for i, item in zip(idx, got, strict=True):
            slots[i] = item
        k <<= 1
    # phase 3: slot i now holds the item from rank (rank - i) % p
    out: list[Any] = [None] * p
    for i, item in enumerate(slots):
        out[(rank - i) % p] = item
    return out
