"""Rank 1 raises ValueError in a helper function after a barrier; the other
ranks then wait for it in a barrier (and fail because it did)."""

from __future__ import annotations

import zmqmesh


def check(value: int) -> None:
    if value == 1:
        raise ValueError(f"boom on {value}")


async def main(comm: zmqmesh.Comm) -> None:
    await comm.barrier()
    check(comm.rank)
    await comm.barrier()


if __name__ == "__main__":
    zmqmesh.run(main)
