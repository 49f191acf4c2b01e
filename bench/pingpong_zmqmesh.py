"""Ping-pong under ``zmqmesh launch -n 2``; rank 0 prints one JSON line:
``{size: [half-RTT seconds per iteration]}``."""

from __future__ import annotations

import json
import sys
import time

import numpy as np

import zmqmesh


async def main(comm: zmqmesh.Comm) -> None:
    sizes = [int(s) for s in sys.argv[1].split(",")]
    iters = int(sys.argv[2])
    out: dict[int, list[float]] = {}
    for size in sizes:
        buf = np.zeros(size, dtype=np.uint8)
        await comm.barrier()
        times = []
        for _ in range(iters + 3):
            t0 = time.perf_counter()
            if comm.rank == 0:
                await comm.send(buf, 1)
                await comm.recv(1)
            else:
                got = await comm.recv(0)
                await comm.send(got, 0)
            times.append((time.perf_counter() - t0) / 2)
        out[size] = times[3:]
    if comm.rank == 0:
        print(json.dumps(out))


if __name__ == "__main__":
    zmqmesh.run(main)
