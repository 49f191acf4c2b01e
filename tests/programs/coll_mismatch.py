"""Ranks that call different collectives, roots or operands: every rank's
call itself must raise CollectiveMismatchError (not a later one, and no
rank may return). Each case runs on its own dup of the world, as a
mismatch leaves a communicator's collectives broken for good."""

from __future__ import annotations

import gc

import numpy as np

import zmqmesh


def cases(rank: int, size: int) -> dict[str, object]:
    last = rank == size - 1
    return {
        # every rank thinks it is the root: nobody receives anything
        "bcast roots": lambda c: c.bcast(rank, root=rank),
        "bcast vs reduce": lambda c: c.bcast(1, root=0) if rank == 0 else c.reduce(1, root=0),
        "bcast vs reduce, large": lambda c: (
            c.bcast(np.ones(2**19), root=0) if last else c.reduce(np.ones(2**19), root=0)
        ),
        "reduce shapes": lambda c: c.reduce(np.ones(11 if last else 10), root=0),
        "reduce roots": lambda c: c.reduce(1, root=rank),
        "gather roots": lambda c: c.gather(rank, root=rank),
        "scatter roots": lambda c: c.scatter(list(range(size)), root=rank),
        "scan dtypes": lambda c: c.scan(np.ones(4, np.float32 if last else np.float64)),
        "exscan shapes": lambda c: c.exscan(np.ones(5 if last else 4)),
        "allreduce shapes": lambda c: c.allreduce(np.ones(3 if last else 4)),
    }


async def main(comm: zmqmesh.Comm) -> None:
    for name, call in cases(comm.rank, comm.size).items():
        c = await comm.dup()
        try:
            await call(c)
        except zmqmesh.CollectiveMismatchError:
            print(f"{name}: raised", flush=True)
        else:
            print(f"{name}: returned", flush=True)
        del c  # its slot is free for the next dup, unless kept back
        gc.collect()
        await comm.barrier()
    # Those communicators are dropped with stale messages of their calls in
    # queues; new ones must not take them for their own.
    for _ in range(3):
        c = await comm.dup()
        got = await c.bcast("fresh" if comm.rank == 0 else None, root=0)
        assert got == "fresh", got
        assert await c.reduce(1, root=0) == (comm.size if comm.rank == 0 else None)
    print("fresh communicators: ok", flush=True)


if __name__ == "__main__":
    zmqmesh.run(main)
