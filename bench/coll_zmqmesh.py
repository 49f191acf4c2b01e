"""Collectives under ``zmqmesh launch -n N``: ``await comm.allreduce(x,
op=zmqmesh.SUM)`` and ``await comm.bcast(x, root=0)`` of float64 arrays.
The algorithm is zmqmesh's own choice unless ``ZMQMESH_ALLREDUCE`` /
``ZMQMESH_BCAST`` force one. Options and output: see ``coll_common.py``."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import numpy as np
from coll_common import check, data, emit, iterations, parse_args, per_call, slowest, warmups

import zmqmesh


async def call(comm: zmqmesh.Comm, op: str, x: np.ndarray | None) -> Any:
    """One collective call, as a user writes it."""
    if op == "allreduce":
        return await comm.allreduce(x, op=zmqmesh.SUM)
    return await comm.bcast(x, root=0)


async def main(comm: zmqmesh.Comm) -> None:
    a = parse_args(sys.argv[1:])
    rank, size = comm.rank, comm.size
    out: dict[str, dict[int, list[float]]] = {op: {} for op in a.ops}
    for op in a.ops:
        for nbytes in a.sizes:
            x = data(nbytes, rank)
            send = x if op == "allreduce" or rank == 0 else None
            await comm.barrier()
            warm = []
            for _ in range(warmups(nbytes)):
                t0 = time.perf_counter()
                got = await call(comm, op, send)
                warm.append(time.perf_counter() - t0)
            check(op, got, nbytes, size, rank, "zmqmesh")
            del got
            est = await comm.gather(per_call(warm), root=0)
            n = iterations(await comm.bcast(max(est) if rank == 0 else None, root=0), a)
            times = np.empty(n)
            for i in range(n):
                await comm.barrier()
                t0 = time.perf_counter()
                await call(comm, op, send)
                times[i] = time.perf_counter() - t0
            every = await comm.gather(times, root=0)
            if rank == 0:
                out[op][nbytes] = slowest(np.stack(every))
            del x, send
    if rank == 0:
        meta = {
            "zmqmesh": zmqmesh.__version__,
            "ranks": size,
            "forced": {
                k: v for k in ("ZMQMESH_ALLREDUCE", "ZMQMESH_BCAST") if (v := os.environ.get(k))
            },
        }
        emit(meta, {"zmqmesh": out})


if __name__ == "__main__":
    zmqmesh.run(main)
