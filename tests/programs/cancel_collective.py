"""A collective cancelled on rank 0 (``wait_for`` times out), then every
rank calls it again: every rank must raise CollectiveMismatchError naming
the cancellation, never return a wrong result or hang.

``python cancel_collective.py NBYTES LATE``: an allreduce of float64 arrays
of NBYTES bytes; LATE says which ranks enter the first call only after rank
0's has been cancelled: ``others`` (rank 0 waits alone) or ``last`` (rank 0
is cancelled mid-exchange with the others, lent blocks in flight). Each
rank prints one line per call; afterwards the world communicator, whose
collectives are intact, gives a working dup, and point to point on the
broken communicator still works.
"""

from __future__ import annotations

import asyncio
import sys

import numpy as np

import zmqmesh

BOUND = 20.0  # seconds: a call that takes longer is reported as a hang


async def call(comm: zmqmesh.Comm, x: np.ndarray, what: str) -> None:
    want = comm.size * (comm.size + 1) / 2
    try:
        got = await asyncio.wait_for(comm.allreduce(x), BOUND)
    except zmqmesh.CollectiveMismatchError as exc:
        cancelled = "was cancelled on rank 0" in str(exc)
        print(f"{what}: raised {'cancelled' if cancelled else exc}", flush=True)
    except asyncio.TimeoutError:
        print(f"{what}: hang", flush=True)
    else:
        right = got.shape == x.shape and bool(np.all(got == want))
        print(f"{what}: {'right' if right else 'WRONG'}", flush=True)


async def main(world: zmqmesh.Comm) -> None:
    nbytes, late = int(sys.argv[1]), sys.argv[2]
    comm = await world.dup()
    x = np.full(nbytes // 8, comm.rank + 1.0)
    waits = comm.rank != 0 and (late == "others" or comm.rank == comm.size - 1)
    if comm.rank == 0:
        try:
            await asyncio.wait_for(comm.allreduce(x), 0.05)
            print("first: returned", flush=True)
        except asyncio.TimeoutError:
            print("first: cancelled", flush=True)
        for r in range(1, comm.size):  # let the late ranks in
            await comm.send("go", r, tag=1)
    else:
        if waits:
            await comm.recv(0, tag=1)
        await call(comm, x, "first")
        if not waits:
            await comm.recv(0, tag=1)
    await call(comm, x, "second")
    await call(comm, x, "third")
    # Point to point on the broken communicator still works.
    right = (comm.rank + 1) % comm.size
    got = await comm.sendrecv(comm.rank, right, source=(comm.rank - 1) % comm.size)
    assert got == (comm.rank - 1) % comm.size, got
    # The parent's collectives are intact: a fresh communicator works.
    fresh = await world.dup()
    assert np.all(await fresh.allreduce(x) == comm.size * (comm.size + 1) / 2)
    print("after: ok", flush=True)


if __name__ == "__main__":
    zmqmesh.run(main)
