"""Rank 1 leaves with sys.exit(3) after a barrier; the others wait for it
in a second barrier."""

from __future__ import annotations

import sys

import zmqmesh


async def main(comm: zmqmesh.Comm) -> None:
    await comm.barrier()
    if comm.rank == 1:
        sys.exit(3)
    await comm.barrier()


if __name__ == "__main__":
    zmqmesh.run(main)
