"""Programs that hang, and programs that only look as if they might.

Usage: hangs.py MODE, on 2 or 3 ranks:
  cycle     ranks 0 and 1 each receive from the other first (a deadlock)
  pair      the same, while rank 2 computes (a busy loop of a minute)
  barrier   rank 0 waits in a barrier, the others in recv from rank 0
  tag       rank 0 sends tag 1, rank 1 receives tag 2, then both wait
  any       every rank receives from ANY_SOURCE and nobody sends
  irecv     ranks 0 and 1 await an irecv from each other
  compute   rank 1 computes (a busy loop) for a while, then sends; rank 0 waits
  sleep     rank 1 sleeps on its event loop for a while, then sends; rank 0 waits
Each rank prints "waiting" just before the call that may hang. The
``compute`` and ``sleep`` modes finish; the others hang until stopped.
"""

from __future__ import annotations

import asyncio
import sys
import time

import zmqmesh

LONG = 4.0  # seconds: longer than the --hang-check the tests give


def busy(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


async def main(comm: zmqmesh.Comm) -> None:
    mode = sys.argv[1]
    me, other = comm.rank, 1 - comm.rank if comm.rank < 2 else 0
    print("waiting", flush=True)
    if mode in ("cycle", "pair"):
        if me < 2:
            await comm.recv(other, tag=5)
        elif mode == "pair":
            busy(60.0)
    elif mode == "barrier":
        if me == 0:
            await comm.barrier()
        else:
            await comm.recv(0)
    elif mode == "tag":
        if me == 0:
            await comm.send("x", 1, tag=1)
            await comm.recv(1)
        elif me == 1:
            await comm.recv(0, tag=2)
    elif mode == "any":
        await comm.recv(zmqmesh.ANY_SOURCE)
    elif mode == "irecv":
        if me < 2:
            await comm.irecv(other, tag=3)
    elif mode in ("compute", "sleep"):
        if me == 1:
            if mode == "compute":
                busy(LONG)
            else:
                await asyncio.sleep(LONG)
            await comm.send("done", 0)
        elif me == 0:
            assert await comm.recv(1) == "done"
            print("finished", flush=True)
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    zmqmesh.run(main)
