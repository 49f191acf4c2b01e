"""Allreduce: every rank gets the reduction of every rank's value.

All three algorithms give every rank bit-identical results: a value is either
combined by both partners of a pair as ``op(lower ranks, higher ranks)``
(recursive doubling) or computed once and copied (ring, Rabenseifner).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zmqmesh.collectives.allgather import ring_segments
from zmqmesh.collectives.base import Channel, bounds, pof2_below
from zmqmesh.collectives.ops import Op, working_copy

__all__ = ["rabenseifner", "recursive_doubling", "ring"]


def _real(newrank: int, rem: int) -> int:
    """The rank of a participant of the power-of-two phase."""
    return newrank * 2 + 1 if newrank < rem else newrank + rem


def _combine(ch: Channel, op: Op, acc: Any, owned: bool, got: Any, acc_left: bool) -> Any:
    """``op`` of ``acc`` and ``got`` in rank order: in place when ``acc`` is
    the algorithm's own working value, into a new value otherwise (so the
    caller's array is read, never copied first and never written)."""
    if owned:
        return op.combine_into(acc, got, left=acc_left)
    if (
        type(acc) is np.ndarray
        and type(got) is np.ndarray
        and acc.shape == got.shape
        and acc.dtype == got.dtype
    ):
        out = ch.empty(acc.size, acc.dtype).reshape(acc.shape)
        op.combine_to(out, acc, got) if acc_left else op.combine_to(out, got, acc)
        return out
    return op(acc, got) if acc_left else op(got, acc)


async def _fold_in(ch: Channel, acc: Any, owned: bool, op: Op) -> tuple[Any, bool, int, int]:
    """MPICH's reduction to a power of two: among the first ``2*rem`` ranks
    each even rank hands its value to the odd rank above it and sits out.
    Returns ``(acc, owned, newrank or -1, rem)``; ranks stay in order."""
    p, rank = ch.size, ch.rank
    rem = p - pof2_below(p)
    if rank < 2 * rem:
        if rank % 2 == 0:
            await ch.send(rank + 1, acc)
            return acc, owned, -1, rem
        got = await ch.recv(rank - 1)
        return _combine(ch, op, acc, owned, got, acc_left=False), True, rank // 2, rem
    return acc, owned, rank - rem, rem


async def _fold_out(ch: Channel, acc: Any, rem: int) -> Any:
    rank = ch.rank
    if rank < 2 * rem:
        if rank % 2 == 0:
            return await ch.recv(rank + 1)
        await ch.send(rank - 1, acc)
    return acc


async def recursive_doubling(ch: Channel, obj: Any, op: Op) -> Any:
    """Recursive doubling: log2 p rounds of pairwise exchange of the whole
    value (plus two for a non-power-of-two p). Latency-optimal; any object,
    any associative op (partners combine in rank order).

    Source: Thakur, Rabenseifner and Gropp, "Optimization of collective
    communication operations in MPICH" (2005); MPICH
    ``MPIR_Allreduce_intra_recursive_doubling``.
    """
    # The first combination writes a new array from the caller's and the
    # partner's, so no working copy is made up front; later ones are in place.
    acc, owned, newrank, rem = await _fold_in(ch, obj, False, op)
    if newrank >= 0:
        pof2 = pof2_below(ch.size)
        mask = 1
        while mask < pof2:
            dst = _real(newrank ^ mask, rem)
            # sendrecv returns once the sent array is released: combining
            # into it afterwards cannot change what the partner receives.
            got = await ch.sendrecv(dst, acc, dst)
            acc, owned = _combine(ch, op, acc, owned, got, acc_left=dst > ch.rank), True
            mask <<= 1
    out = await _fold_out(ch, acc, rem)
    return out if owned or out is not obj else working_copy(obj)


async def ring(ch: Channel, arr: np.ndarray, op: Op) -> np.ndarray:
    """Ring allreduce: a reduce-scatter then an allgather around the ring,
    each of p-1 rounds moving one 1/p block per rank; about 2(p-1)/p of the
    array crosses each link, independent of p. For large arrays and
    commutative ops.

    Source: Patarasuk and Yuan, "Bandwidth optimal all-reduce algorithms for
    clusters of workstations" (2009); MPICH ``MPIR_Allreduce_intra_ring``.
    """
    p, rank = ch.size, ch.rank
    x = arr.reshape(-1)  # a view of a C-contiguous array: read, never written
    buf = ch.empty(x.size, x.dtype)  # the result; each block first written by a combine
    cuts = bounds(buf.size, p)
    right, left = (rank + 1) % p, (rank - 1) % p
    for s in range(p - 1):
        sb, rb = (rank - s) % p, (rank - s - 1) % p
        src = x if s == 0 else buf  # block sb: our own, or the one combined last round
        got = await ch.sendrecv(right, src[cuts[sb] : cuts[sb + 1]], left)
        # each block is received once in this phase: reduce the caller's
        # block and the received one straight into the result
        op.combine_to(buf[cuts[rb] : cuts[rb + 1]], got, x[cuts[rb] : cuts[rb + 1]])
    # rank now holds the reduced block (rank + 1) % p: pass the blocks around
    await ring_segments(ch, buf, cuts, shift=-1)
    return buf.reshape(arr.shape)


async def rabenseifner(ch: Channel, arr: np.ndarray, op: Op) -> np.ndarray:
    """Rabenseifner's allreduce: a reduce-scatter by recursive halving then an
    allgather by recursive doubling, over the largest power of two of ranks
    (the others fold in first): 2 log2 p rounds moving about 2x the array per
    rank. For large arrays and commutative ops.

    Source: Rabenseifner, "Optimization of collective reduction operations"
    (ICCS 2004); MPICH ``MPIR_Allreduce_intra_reduce_scatter_allgather``.
    """
    src, _, newrank, rem = await _fold_in(ch, arr.reshape(-1), False, op)
    buf = src
    if newrank >= 0:
        pof2 = pof2_below(ch.size)
        buf = ch.empty(src.size, src.dtype)  # the result; first halving fills our half
        cuts = bounds(buf.size, pof2)
        send_idx = recv_idx = 0
        last_idx = pof2
        mask = 1
        while mask < pof2:  # recursive halving
            newdst = newrank ^ mask
            dst = _real(newdst, rem)
            if newrank < newdst:
                send_idx = recv_idx + pof2 // (mask * 2)
                s_lo, s_hi, r_lo, r_hi = send_idx, last_idx, recv_idx, send_idx
            else:
                recv_idx = send_idx + pof2 // (mask * 2)
                s_lo, s_hi, r_lo, r_hi = send_idx, recv_idx, recv_idx, last_idx
            first = mask == 1
            data = src if first else buf
            got = await ch.sendrecv(dst, data[cuts[s_lo] : cuts[s_hi]], dst)
            seg = buf[cuts[r_lo] : cuts[r_hi]]
            mine = data[cuts[r_lo] : cuts[r_hi]]
            if dst > ch.rank:
                op.combine_to(seg, mine, got)
            else:
                op.combine_to(seg, got, mine)
            send_idx = recv_idx
            mask <<= 1
            if mask < pof2:
                last_idx = recv_idx + pof2 // mask
        mask >>= 1
        while mask > 0:  # recursive doubling allgather
            newdst = newrank ^ mask
            dst = _real(newdst, rem)
            if newrank < newdst:
                if mask != pof2 // 2:
                    last_idx = last_idx + pof2 // (mask * 2)
                recv_idx = send_idx + pof2 // (mask * 2)
                s_lo, s_hi, r_lo, r_hi = send_idx, recv_idx, recv_idx, last_idx
            else:
                recv_idx = send_idx - pof2 // (mask * 2)
                s_lo, s_hi, r_lo, r_hi = send_idx, last_idx, recv_idx, send_idx
            await ch.exchange(dst, buf[cuts[s_lo] : cuts[s_hi]], dst, buf[cuts[r_lo] : cuts[r_hi]])
            if newrank > newdst:
                send_idx = recv_idx
            mask >>= 1
    buf = await _fold_out(ch, buf, rem)
    return np.asarray(buf).reshape(arr.shape)
