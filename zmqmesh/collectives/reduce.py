"""Reduce and reduce_scatter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from zmqmesh.collectives.base import Channel
from zmqmesh.collectives.ops import Op, working_copy

__all__ = ["binomial", "pairwise_reduce_scatter"]


async def binomial(ch: Channel, obj: Any, op: Op, root: int) -> Any:
    """Binomial-tree reduce: a rank combines the partial results of its
    children (relative ranks ``v + 2**k``) in increasing order, then sends its
    own to its parent; ceil(log2 p) rounds. Returns the result at root, None
    elsewhere.

    A commutative op builds the tree around ``root``. A non-commutative one
    builds it around rank 0, where every subtree covers consecutive ranks and
    the partial results combine in rank order, then forwards the result to
    ``root``. Source: MPICH ``MPIR_Reduce_intra_binomial``.
    """
    p, rank = ch.size, ch.rank
    base = root if op.commute else 0
    vrank = (rank - base) % p
    acc, owned = obj, False
    mask = 1
    while mask < p:
        if vrank & mask:
            await ch.send((rank - mask) % p, acc)
            acc = None
            break
        if vrank + mask < p:
            got = await ch.recv((rank + mask) % p)
            if not owned:
                acc, owned = working_copy(acc), True
            acc = op.combine_into(acc, got, left=True)  # acc covers the lower ranks
        mask <<= 1
    if base != root:
        if rank == base:
            await ch.send(root, acc)
        elif rank == root:
            acc = await ch.recv(base)
    if rank != root:
        return None
    return acc if owned or rank != base else working_copy(acc)


async def pairwise_reduce_scatter(ch: Channel, seq: Sequence[Any], op: Op) -> Any:
    """Pairwise reduce_scatter: in round s every rank sends ``seq[rank+s]``
    to ``rank+s`` and receives its share from ``rank-s``; the p contributions
    are then combined in rank order (so any associative op works and the
    result does not depend on arrival order).

    Source: MPICH ``MPIR_Reduce_scatter_intra_pairwise``.
    """
    p, rank = ch.size, ch.rank
    parts: list[Any] = [None] * p
    parts[rank] = seq[rank]
    for s in range(1, p):
        parts[(rank - s) % p] = await ch.sendrecv(
            (rank + s) % p, seq[(rank + s) % p], (rank - s) % p
        )
    acc = working_copy(parts[0])
    for part in parts[1:]:
        acc = op.combine_into(acc, part, left=True)
    return acc
