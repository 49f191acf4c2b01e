"""Broadcast."""

from __future__ import annotations

from typing import Any

import numpy as np

from zmqmesh.collectives.allgather import ring_segments
from zmqmesh.collectives.base import Channel, bounds

__all__ = ["announced", "binomial", "scatter_allgather"]


async def binomial(ch: Channel, obj: Any, root: int) -> Any:
    """Binomial-tree broadcast: ceil(log2 p) rounds, the set of ranks that
    hold the data doubling each round. Any object.

    Source: MPICH ``MPIR_Bcast_intra_binomial``.
    """
    p, rank = ch.size, ch.rank
    vrank = (rank - root) % p
    mask = 1
    while mask < p:  # receive from the parent: the rank that clears my lowest set bit
        if vrank & mask:
            obj = await ch.recv((rank - mask) % p)
            break
        mask <<= 1
    mask >>= 1
    while mask > 0:
        if vrank + mask < p:
            await ch.send((rank + mask) % p, obj)
        mask >>= 1
    return obj


async def scatter_allgather(
    ch: Channel, arr: np.ndarray | None, meta: Any, root: int
) -> np.ndarray:
    """Large-array broadcast: the root scatters ``p`` blocks of the flat
    array (binomial scatter), then a ring allgather reassembles it on every
    rank: about 2x the array's bytes cross each link, instead of log2(p)x.

    ``meta`` is ``(shape, dtype.str)``, known to every rank beforehand (the
    caller broadcasts it). Source: van de Geijn et al., and MPICH
    ``MPIR_Bcast_intra_scatter_ring_allgather``.
    """
    p, rank = ch.size, ch.rank
    shape, dtype = meta
    n = int(np.prod(shape, dtype=np.int64))
    cuts = bounds(n, p)
    out = ch.empty(n, np.dtype(dtype))
    vrank = (rank - root) % p  # block v (elements cuts[v]:cuts[v+1]) ends up first at vrank v
    if rank == root:
        assert arr is not None
        out[:] = arr.reshape(-1)
    # binomial scatter: relative rank v receives the blocks of its subtree,
    # relative ranks [v, v + lowbit(v)), from its parent, then passes on halves.
    mask = 1
    while mask < p:
        if vrank & mask:
            out[cuts[vrank] : cuts[min(vrank + mask, p)]] = await ch.recv((rank - mask) % p)
            break
        mask <<= 1
    mask >>= 1
    while mask > 0:
        if vrank + mask < p:
            child = vrank + mask
            await ch.send((rank + mask) % p, out[cuts[child] : cuts[min(child + mask, p)]])
        mask >>= 1
    await ring_segments(ch, out, cuts, shift=root)
    return out.reshape(shape)


async def announced(ch: Channel, obj: Any, root: int, algorithm: str) -> Any:
    """Broadcast with the algorithm the root chose (``algorithm`` counts at
    the root only): only the root knows the payload's size, so its first
    message, a binomial broadcast, says what it chose by what it carries:
    the data itself (``binomial``), or the array's shape and dtype, which
    ``scatter_allgather`` then delivers. Returns the root's ``obj`` (the
    root gets ``obj`` itself)."""
    rank = ch.rank
    head: Any = None
    if rank == root:
        head = ("m", (obj.shape, obj.dtype.str)) if algorithm == "scatter_allgather" else ("d", obj)
    head = await binomial(ch, head, root)
    if head[0] == "d":
        return obj if rank == root else head[1]
    out = await scatter_allgather(ch, obj if rank == root else None, head[1], root)
    return obj if rank == root else out
