"""Barrier."""

from __future__ import annotations

from zmqmesh.collectives.base import Channel

__all__ = ["dissemination"]


async def dissemination(ch: Channel) -> None:
    """Dissemination barrier: ceil(log2 p) rounds; in round k every rank
    signals ``rank + 2**k`` and waits for ``rank - 2**k``.

    Source: Hensgen, Finkel and Manber, "Two algorithms for barrier
    synchronization" (1988); MPICH ``MPIR_Barrier_intra_dissemination``.
    """
    p, rank = ch.size, ch.rank
    mask = 1
    while mask < p:
        await ch.sendrecv((rank + mask) % p, None, (rank - mask) % p)
        mask <<= 1
