"""Collectives under ``zmqmesh launch -n N``: ``await comm.allreduce(x,
op=zmqmesh.SUM)``, ``await comm.bcast(x, root=0)``, ``await comm.barrier()``,
``await comm.allgather(x)`` and ``await comm.alltoall([x] * size)`` of
float64 arrays (allgather and alltoall return lists of arrays). The
algorithm is zmqmesh's own choice unless ``ZMQMESH_ALLREDUCE`` /
``ZMQMESH_BCAST`` force one. Options and output: see ``coll_common.py``."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import numpy as np
from coll_common import (
    check,
    data,
    emit,
    iterations,
    over_limit,
    parse_args,
    per_call,
    sizes_of,
    slowest,
    warmups,
)

import zmqmesh


async def call(comm: zmqmesh.Comm, op: str, x: Any) -> Any:
    """One collective call, as a user writes it (for alltoall, ``x`` is
    already the list ``[chunk] * size``)."""
    if op == "allreduce":
        return await comm.allreduce(x, op=zmqmesh.SUM)
    if op == "bcast":
        return await comm.bcast(x, root=0)
    if op == "barrier":
        return await comm.barrier()
    if op == "allgather":
        return await comm.allgather(x)
    return await comm.alltoall(x)


async def main(comm: zmqmesh.Comm) -> None:
    a = parse_args(sys.argv[1:])
    rank, size = comm.rank, comm.size
    out: dict[str, dict[int, list[float]]] = {op: {} for op in a.ops}
    over: dict[str, dict[int, float]] = {}
    for op in a.ops:
        for nbytes in sizes_of(op, a.sizes):
            x = data(nbytes, rank)
            send: Any = x if op != "bcast" or rank == 0 else None
            if op == "alltoall":
                send = [x] * size
            await comm.barrier()
            t0 = time.perf_counter()
            got = await call(comm, op, send)
            warm = [time.perf_counter() - t0]
            firsts = await comm.gather(warm[0], root=0)
            first = await comm.bcast(max(firsts) if rank == 0 else None, root=0)
            if over_limit(first, nbytes, a):
                check(op, got, nbytes, size, rank, "zmqmesh")
                over.setdefault(op, {})[nbytes] = first
                break  # larger sizes take longer still
            for _ in range(warmups(nbytes) - 1):
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
        if over:
            meta["over_limit"] = {"zmqmesh": over}
        emit(meta, {"zmqmesh": out})


if __name__ == "__main__":
    zmqmesh.run(main)
