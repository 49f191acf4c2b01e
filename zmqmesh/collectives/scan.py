"""Inclusive and exclusive prefix reductions."""

from __future__ import annotations

from typing import Any

from zmqmesh.collectives.base import Channel
from zmqmesh.collectives.ops import Op

__all__ = ["recursive_doubling_exscan", "recursive_doubling_scan"]


async def recursive_doubling_scan(ch: Channel, obj: Any, op: Op) -> Any:
    """Inclusive scan by recursive doubling: in round k a rank exchanges its
    running total of ranks ``[rank - 2**k + 1, rank]`` with ``rank ^ 2**k``;
    ceil(log2 p) rounds. Operands combine in rank order.

    Source: MPICH ``MPIR_Scan_intra_recursive_doubling``.
    """
    p, rank = ch.size, ch.rank
    partial = result = obj
    mask = 1
    while mask < p:
        dst = rank ^ mask
        if dst < p:
            got = await ch.sendrecv(dst, partial, dst)
            if rank > dst:
                partial = op(got, partial)
                result = op(got, result)
            else:
                partial = op(partial, got)
        mask <<= 1
    return result


async def recursive_doubling_exscan(ch: Channel, obj: Any, op: Op) -> Any:
    """Exclusive scan by recursive doubling: as the inclusive scan, but the
    result leaves out the rank's own value; None at rank 0.

    Source: MPICH ``MPIR_Exscan_intra_recursive_doubling``.
    """
    p, rank = ch.size, ch.rank
    partial = obj
    result: Any = None
    have = False
    mask = 1
    while mask < p:
        dst = rank ^ mask
        if dst < p:
            got = await ch.sendrecv(dst, partial, dst)
            if rank > dst:
                partial = op(got, partial)
                result = op(got, result) if have else got
                have = True
            else:
                partial = op(partial, got)
        mask <<= 1
    return result
