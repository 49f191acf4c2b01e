"""Rank 0 sends a burst and leaves at once; rank 1 must still get all of it
(ZeroMQ drops what a receiver had not read when its sender's connection
closes, so finalize waits for the peers to confirm).

Usage: burst_exit.py N"""

from __future__ import annotations

import sys

import zmqmesh


async def main(comm: zmqmesh.Comm) -> None:
    n = int(sys.argv[1])
    if comm.rank == 0:
        for i in range(n):
            await comm.send((i, "x" * 50), 1, tag=3)
        return
    for i in range(n):
        got = await comm.recv(0, tag=3)
        assert got == (i, "x" * 50), got
    print(f"got all {n}", flush=True)


if __name__ == "__main__":
    zmqmesh.run(main)
