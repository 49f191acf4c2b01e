"""Gather and scatter over a binomial tree."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from zmqmesh.collectives.base import Channel

__all__ = ["binomial_gather", "binomial_scatter"]


async def binomial_gather(ch: Channel, obj: Any, root: int) -> list[Any] | None:
    """Binomial gather: each rank collects its subtree's objects (relative
    ranks ``[v, v + lowbit(v))``) and sends them to its parent in one
    message; ceil(log2 p) rounds. Returns the list in rank order at root.

    Source: MPICH ``MPIR_Gather_intra_binomial``.
    """
    p, rank = ch.size, ch.rank
    vrank = (rank - root) % p
    items: list[Any] = [obj]  # objects of relative ranks vrank, vrank+1, ...
    mask = 1
    while mask < p:
        if vrank & mask:
            await ch.send((rank - mask) % p, items)
            return None
        if vrank + mask < p:
            items.extend(await ch.recv((rank + mask) % p))
        mask <<= 1
    out: list[Any] = [None] * p
    for v, item in enumerate(items):
        out[(v + root) % p] = item
    return out


async def binomial_scatter(ch: Channel, seq: Sequence[Any] | None, root: int) -> Any:
    """Binomial scatter: the root hands each child the items of the
    child's subtree, which passes on halves; ceil(log2 p) rounds.

    Source: MPICH ``MPIR_Scatter_intra_binomial``.
    """
    p, rank = ch.size, ch.rank
    vrank = (rank - root) % p
    items: list[Any]  # items[i] is for relative rank vrank + i
    mask = 1
    if rank == root:
        assert seq is not None
        items = [seq[(v + root) % p] for v in range(p)]
        while mask < p:
            mask <<= 1
    else:
        while mask < p:
            if vrank & mask:
                items = await ch.recv((rank - mask) % p)
                break
            mask <<= 1
    mask >>= 1
    while mask > 0:
        if vrank + mask < p:
            await ch.send((rank + mask) % p, items[mask : 2 * mask])
        mask >>= 1
    return items[0]
