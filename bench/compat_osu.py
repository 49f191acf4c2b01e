"""The compat suite's OSU-style program: plain mpi4py buffer-API code, run
both by ``mpiexec`` on real mpi4py and by ``zmqmesh launch --mpi4py``.

``compat_osu.py --parts lat,bw,coll [options]`` (see ``--help``):

- ``lat``: osu_latency. Ranks 0 and 1 bounce one preallocated uint8 array
  with ``Send``/``Recv`` (into the same array); half a round trip per
  iteration, for each size.
- ``bw``: osu_bw. Rank 0 posts a window of ``Isend`` of one array, rank 1
  a window of ``Irecv`` into one array, both ``Waitall``, and rank 1 answers
  with a 4-byte ack; bytes per second of each window.
- ``coll``: osu_allgather / osu_alltoall. ``Allgather(x, out)`` of
  ``x`` (``--coll-bytes``) into ``(size, n)``, ``Alltoall(send, out)`` of
  ``(size, n)`` blocks, on every rank; per call, the slowest rank's time.

Rank 0 prints one JSON line: the median of each measure over its
iterations (seconds, or bytes/s for ``bw``), and the MPI library's name.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
from mpi4py import MPI

WARMUP = 3


def _median(xs: list[float]) -> float:
    return float(np.median(np.asarray(xs)))


def latency(comm: Any, size: int, iters: int) -> float:
    buf = np.zeros(size, np.uint8)
    rank = comm.Get_rank()
    comm.Barrier()
    times = []
    for _ in range(iters + WARMUP):
        t0 = time.perf_counter()
        if rank == 0:
            comm.Send(buf, 1, 1)
            comm.Recv(buf, 1, 1)
        elif rank == 1:
            comm.Recv(buf, 0, 1)
            comm.Send(buf, 0, 1)
        times.append((time.perf_counter() - t0) / 2)
    return _median(times[WARMUP:])


def bandwidth(comm: Any, size: int, window: int, iters: int) -> float:
    buf = np.ones(size, np.uint8)
    ack = np.zeros(4, np.uint8)
    rank = comm.Get_rank()
    comm.Barrier()
    rates = []
    for _ in range(iters + WARMUP):
        t0 = time.perf_counter()
        if rank == 0:
            MPI.Request.Waitall([comm.Isend(buf, 1, 2) for _ in range(window)])
            comm.Recv(ack, 1, 3)
        elif rank == 1:
            MPI.Request.Waitall([comm.Irecv(buf, 0, 2) for _ in range(window)])
            comm.Send(ack, 0, 3)
        rates.append(size * window / (time.perf_counter() - t0))
    return _median(rates[WARMUP:])


def collective(comm: Any, op: str, nbytes: int, iters: int) -> float:
    n = comm.Get_size()
    x = np.full(nbytes, comm.Get_rank() % 251, np.uint8)
    send = np.tile(x, (n, 1)) if op == "alltoall" else x
    out = np.empty((n, nbytes), np.uint8)
    times = np.empty(iters + WARMUP)
    comm.Barrier()
    for i in range(iters + WARMUP):
        t0 = time.perf_counter()
        if op == "allgather":
            comm.Allgather(send, out)
        else:
            comm.Alltoall(send, out)
        times[i] = time.perf_counter() - t0
    assert [int(v) for v in out[:, 0]] == [r % 251 for r in range(n)]
    slowest = np.empty_like(times)
    comm.Allreduce(times, slowest, op=MPI.MAX)
    return _median(list(slowest[WARMUP:]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--parts", default="lat,bw,coll")
    ap.add_argument("--sizes", default="8,512,32768,4194304", help="lat: bytes")
    ap.add_argument("--iters", type=int, default=200, help="lat: iterations below 64 KiB")
    ap.add_argument("--iters-large", type=int, default=20, help="lat: iterations from 64 KiB")
    ap.add_argument("--bw-bytes", type=int, default=4 << 20)
    ap.add_argument("--bw-window", type=int, default=16)
    ap.add_argument("--bw-iters", type=int, default=10)
    ap.add_argument("--coll-bytes", type=int, default=64 << 10)
    ap.add_argument("--coll-iters", type=int, default=50)
    a = ap.parse_args()
    comm = MPI.COMM_WORLD
    parts = set(a.parts.split(","))
    got: dict[str, Any] = {"library": MPI.Get_library_version().splitlines()[0].strip()}
    if "lat" in parts:
        got["latency"] = {
            s: latency(comm, s, a.iters if s < 65536 else a.iters_large)
            for s in (int(w) for w in a.sizes.split(","))
        }
    if "bw" in parts:
        got["bandwidth"] = bandwidth(comm, a.bw_bytes, a.bw_window, a.bw_iters)
    if "coll" in parts:
        for op in ("allgather", "alltoall"):
            got[op] = collective(comm, op, a.coll_bytes, a.coll_iters)
    if comm.Get_rank() == 0:
        print(json.dumps(got), flush=True)


if __name__ == "__main__":
    main()
