"""Ping-pong under ``zmqmesh launch -n 2``: ``await comm.send(buf, 1)`` /
``await comm.recv(1)`` of a NumPy uint8 array; rank 1 sends back what it
got. ``python pingpong_zmqmesh.py SIZES ITERS``: comma-separated sizes in
bytes, and one iteration count for every size or one per size. Rank 0
prints one JSON line:
``{"meta": {...}, "results": {size: [half-RTT seconds per iteration]}}``."""

from __future__ import annotations

import json
import sys
import time

import numpy as np

import zmqmesh

WARMUP = 3


async def main(comm: zmqmesh.Comm) -> None:
    sizes = [int(s) for s in sys.argv[1].split(",")]
    iters = [int(n) for n in sys.argv[2].split(",")]
    if len(iters) == 1:
        iters *= len(sizes)
    out: dict[int, list[float]] = {}
    for size, n in zip(sizes, iters, strict=True):
        buf = np.zeros(size, dtype=np.uint8)
        await comm.barrier()
        times = []
        for _ in range(n + WARMUP):
            t0 = time.perf_counter()
            if comm.rank == 0:
                await comm.send(buf, 1)
                await comm.recv(1)
            else:
                got = await comm.recv(0)
                await comm.send(got, 0)
            times.append((time.perf_counter() - t0) / 2)
        out[size] = times[WARMUP:]
    if comm.rank == 0:
        meta = {"zmqmesh": zmqmesh.__version__}
        print(json.dumps({"meta": meta, "results": out}), flush=True)


if __name__ == "__main__":
    zmqmesh.run(main)
