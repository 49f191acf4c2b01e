"""Rank 0 calls allreduce, the others bcast: every rank's error names both
calls as the user wrote them, with their lines. Each rank prints its
error's first line."""

from __future__ import annotations

import numpy as np

import zmqmesh


async def main(comm: zmqmesh.Comm) -> None:
    c = await comm.dup()  # a mismatch breaks its communicator's collectives for good
    try:
        if c.rank == 0:
            await c.allreduce(np.ones(3), op=zmqmesh.MAX)
        else:
            await c.bcast("x", root=0)
    except zmqmesh.CollectiveMismatchError as exc:
        print("error:", str(exc).splitlines()[0], flush=True)
    assert await comm.allreduce(1) == comm.size  # the world is intact
    print("ok", flush=True)


if __name__ == "__main__":
    zmqmesh.run(main)
