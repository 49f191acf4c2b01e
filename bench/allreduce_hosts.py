"""Allreduce timing for ``python -m bench curve`` (run under the launcher):
rank 0 prints one JSON line, ``{"times": [slowest rank's seconds per call]}``."""

from __future__ import annotations

import json
import sys
import time

import numpy as np

import zmqmesh


async def main(comm: zmqmesh.Comm) -> None:
    nbytes, iters = int(sys.argv[1]), int(sys.argv[2])
    x = np.ones(nbytes // 8)
    for _ in range(2):
        await comm.allreduce(x)
    times = []
    for _ in range(iters):
        await comm.barrier()
        t0 = time.perf_counter()
        await comm.allreduce(x)
        times.append(time.perf_counter() - t0)
    every = await comm.gather(times, root=0)
    if comm.rank == 0:
        print(json.dumps({"times": np.max(np.array(every), axis=0).tolist()}), flush=True)


zmqmesh.run(main)
