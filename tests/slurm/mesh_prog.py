"""A zmqmesh program for the SLURM and MPI-launcher tests.

Collectives and point-to-point across the job's nodes, each result checked
against what it must be; then one line ``result {...}`` (JSON) per rank:
rank, size, node, pid, SLURM step id, network namespace and the values
checked. A failed check exits 1.

``--sleep``: after the checks, print ``ready <rank> <pid> <ipc> <shm>``
(the job's socket and shared-memory directories, ``-`` for none) and wait
(the test cancels the job). ``--die K``: rank K kills itself with SIGKILL once
every rank is ready; the others go on calling collectives, print
``caught RankFailedError <rank>`` when they learn of it and exit 3.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys

import numpy as np

import zmqmesh


def node() -> str:
    return os.environ.get("SLURMD_NODENAME") or socket.gethostname()


async def checks(comm: zmqmesh.Comm) -> dict[str, object]:
    r, n = comm.rank, comm.size
    total = await comm.allreduce(np.arange(1000, dtype=np.float64) * (r + 1))
    expect = np.arange(1000, dtype=np.float64) * (n * (n + 1) / 2)
    assert np.array_equal(total, expect), "allreduce"
    nodes = await comm.allgather(node())
    got = await comm.bcast({"nodes": nodes} if r == 0 else None, root=0)
    assert got == {"nodes": nodes}, "bcast"
    parts = await comm.alltoall([(r, j) for j in range(n)])
    assert parts == [(q, r) for q in range(n)], "alltoall"
    gathered = await comm.gather(r * r, root=n - 1)
    if r == n - 1:
        assert gathered == [q * q for q in range(n)], "gather"
    prefix = await comm.scan(r + 1)
    assert prefix == (r + 1) * (r + 2) // 2, "scan"
    # point to point: each rank sends an array to the next around the ring
    right, left = (r + 1) % n, (r - 1) % n
    req = comm.isend(np.full(50_000, r, dtype=np.int32), right, tag=7)
    status = zmqmesh.Status()
    got_arr = await comm.recv(source=left, tag=7, status=status)
    await req
    assert status.source == left, "p2p status"
    assert got_arr.shape == (50_000,), "p2p shape"
    assert int(got_arr[0]) == left, "p2p values"
    back = await comm.sendrecv(f"from {r}", dest=left, source=right)
    assert back == f"from {right}", "sendrecv"
    await comm.barrier()
    return {"nodes": nodes, "sum": float(total[1]), "scan": prefix, "left": left}


async def main(comm: zmqmesh.Comm) -> int:
    try:
        values = await checks(comm)
    except AssertionError as exc:
        print(f"check failed on rank {comm.rank}: {exc}", flush=True)
        return 1
    line = {"rank": comm.rank, "size": comm.size, "node": node(), "pid": os.getpid(), **values}
    line["step"] = os.environ.get("SLURM_STEP_ID")
    line["netns"] = os.readlink("/proc/self/ns/net")  # hosts that share one name
    print("result " + json.dumps(line), flush=True)
    if "--sleep" in sys.argv:
        dirs = [os.environ.get(f"ZMQMESH_{v}_DIR") or "-" for v in ("IPC", "SHM")]
        print(f"ready {comm.rank} {os.getpid()} {' '.join(dirs)}", flush=True)
        await asyncio.sleep(3600)
    if "--die" in sys.argv:
        victim = int(sys.argv[sys.argv.index("--die") + 1])
        try:
            # the victim's last messages may die with it: the barrier can fail too
            await comm.barrier()
            if comm.rank == victim:
                os.kill(os.getpid(), signal.SIGKILL)
            while True:
                await comm.allreduce(1)
                await asyncio.sleep(0.05)
        except zmqmesh.RankFailedError as exc:
            print(f"caught RankFailedError {exc.rank}", flush=True)
            return 3
    return 0


sys.exit(zmqmesh.run(main))
