"""Collectives and point to point on every kind of communicator: the
world, a dup, a split, and ring, tree and mesh topologies. --report and
--trace must count each call (see tests/launcher/test_report.py)."""

from __future__ import annotations

import zmqmesh


async def main(comm: zmqmesh.Comm) -> None:
    n, me = comm.size, comm.rank
    await comm.allreduce(1)  # world
    dup = await comm.dup()
    await dup.bcast(1)
    half = await comm.split(me % 2)
    assert half is not None
    await half.allgather(me)
    ring = await comm.create_topology("ring")
    await ring.sendrecv(me, (me + 1) % n, source=(me - 1) % n)
    await ring.barrier()
    tree = await comm.create_topology("tree")
    await tree.reduce(1)
    mesh = await comm.create_topology("mesh", dims=[2, n // 2])
    await mesh.neighbor_allgather(me)
    await mesh.alltoall(list(range(n)))
    print("done", flush=True)


if __name__ == "__main__":
    zmqmesh.run(main)
