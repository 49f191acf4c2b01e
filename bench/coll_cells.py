"""Every algorithm of every collective, interleaved, under ``zmqmesh launch
-n N`` (for ``python -m bench scale``).

A cell is a collective, one of its algorithms (forced with
``zmqmesh.config``) and a size; barrier has one cell, size 0. The cells of
one size run together, size after size (barrier's with the smallest): each
iteration runs every cell of the size once, in turn, so that a burst of
load from other processes hits them alike, where one job per algorithm
would let it hit one algorithm only. Sizes are not mixed, because a large
call's clean-up (memory given back, freed) lands on the call after it.
Per cell and iteration the time is the slowest rank's (barrier, then the
timed call on every rank). Ranks leave a barrier about a message's latency
apart, and the first to leave counts that wait as the call's; the model's
per-call cost takes it in. Starting every rank at one instant of the host's
monotonic clock instead was tried: ranks that wait for the instant,
sleeping or spinning, lose their core to other processes on a busy host
and start later still.

Options as ``coll_common.py``'s (``--budget`` is per cell); before the
timed iterations, each cell runs its warm-ups and its last result is
checked. Rank 0 prints one JSON line:
``{"meta": {...}, "results": {"zmqmesh": {"<collective>/<algorithm>":
{size: [t]}}}}``.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
from coll_common import check, data, emit, iterations, parse_args, per_call, sizes_of, warmups
from coll_zmqmesh import call

import zmqmesh
from zmqmesh.collectives.plan import ALGORITHMS

Cell = tuple[str, str, int]  # collective, algorithm, bytes


def cells(ops: list[str], sizes: list[int]) -> list[Cell]:
    """Every (collective, algorithm, size) of ``ops``, barrier's once."""
    out = []
    for op in ops:
        for algorithm in ALGORITHMS.get(op, ("dissemination",)):
            out += [(op, algorithm, n) for n in sizes_of(op, sizes)]
    return out


async def timed(comm: zmqmesh.Comm, cell: Cell, send: Any) -> tuple[float, Any]:
    """One call of ``cell`` after a barrier: its seconds on this rank, and
    its result."""
    op, algorithm, _ = cell
    if op in ALGORITHMS:
        zmqmesh.config(**{op: algorithm})
    await comm.barrier()
    t0 = time.perf_counter()
    got = await call(comm, op, send)
    return time.perf_counter() - t0, got


async def main(comm: zmqmesh.Comm) -> None:
    a = parse_args(sys.argv[1:])
    rank, size = comm.rank, comm.size
    todo = cells(a.ops, a.sizes)
    sends: dict[Cell, Any] = {}
    for cell in todo:
        op, _, nbytes = cell
        x = data(nbytes, rank)
        if op == "alltoall":
            sends[cell] = [x] * size
        else:
            sends[cell] = None if op == "bcast" and rank != 0 else x
    smallest = min(a.sizes)
    times: dict[Cell, list[float]] = {}
    for group in sorted({max(c[2], smallest) for c in todo}):
        batch = [c for c in todo if max(c[2], smallest) == group]
        # warm-ups, cell by cell: the slowest rank's estimate of a call, per cell
        estimate = 0.0
        for cell in batch:
            warm = []
            for _ in range(warmups(cell[2])):
                dt, got = await timed(comm, cell, sends[cell])
                warm.append(dt)
            check(cell[0], got, cell[2], size, rank, "zmqmesh")
            del got
            estimate += max(await comm.allgather(per_call(warm)))
        n = iterations(estimate / len(batch), a)
        for cell in batch:
            times[cell] = []
        for _ in range(n):
            for cell in batch:
                times[cell].append((await timed(comm, cell, sends[cell]))[0])
    zmqmesh.config(**dict.fromkeys(ALGORITHMS))
    every = await comm.gather(times, root=0)
    if rank == 0:
        out: dict[str, dict[int, list[float]]] = {}
        for cell in todo:
            slowest = np.max(np.array([t[cell] for t in every]), axis=0)
            out.setdefault(f"{cell[0]}/{cell[1]}", {})[cell[2]] = [float(t) for t in slowest]
        emit({"zmqmesh": zmqmesh.__version__, "ranks": size}, {"zmqmesh": out})


if __name__ == "__main__":
    zmqmesh.run(main)
