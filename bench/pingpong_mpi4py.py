"""Ping-pong under ``mpiexec -n 2`` with mpi4py. ``--api buffer``: OSU-style,
``comm.Send(buf)`` / ``comm.Recv(buf)`` of one preallocated NumPy uint8
array, which both ranks send and receive into (no pickling, no
allocation). ``--api pickle``: ``comm.send(buf)`` / ``got = comm.recv()``,
the array pickled and a new one unpickled per message; rank 1 sends back
what it got, as the zmqmesh peer does. Rank 0 prints one JSON line:
``{"meta": {...}, "results": {size: [half-RTT seconds per iteration]}}``.

``--iters`` is one count for every size or one per size."""

from __future__ import annotations

import argparse
import json
import time

import mpi4py
import numpy as np
from mpi4py import MPI

WARMUP = 3


def pingpong(comm: MPI.Comm, api: str, size: int, iters: int) -> list[float]:
    rank = comm.rank
    buf = np.zeros(size, dtype=np.uint8)
    comm.Barrier()
    times = []
    for _ in range(iters + WARMUP):
        t0 = time.perf_counter()
        if api == "buffer":
            if rank == 0:
                comm.Send(buf, dest=1)
                comm.Recv(buf, source=1)
            else:
                comm.Recv(buf, source=0)
                comm.Send(buf, dest=0)
        elif rank == 0:
            comm.send(buf, dest=1)
            comm.recv(source=1)
        else:
            got = comm.recv(source=0)
            comm.send(got, dest=0)
        times.append((time.perf_counter() - t0) / 2)
    return times[WARMUP:]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--api", choices=["buffer", "pickle"], required=True)
    p.add_argument("--sizes", required=True, help="bytes, comma-separated")
    p.add_argument("--iters", required=True, help="one count, or one per size")
    a = p.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    iters = [int(n) for n in a.iters.split(",")]
    if len(iters) == 1:
        iters *= len(sizes)
    comm = MPI.COMM_WORLD
    if comm.size != 2:
        raise SystemExit(f"ping-pong needs 2 ranks, not {comm.size}")
    out = {size: pingpong(comm, a.api, size, n) for size, n in zip(sizes, iters, strict=True)}
    if comm.rank == 0:
        vendor, version = MPI.get_vendor()
        meta = {
            "mpi4py": mpi4py.__version__,
            "mpi_vendor": f"{vendor} {'.'.join(map(str, version))}",
            "api": a.api,
        }
        print(json.dumps({"meta": meta, "results": out}), flush=True)


if __name__ == "__main__":
    main()
