"""A receive cancelled right after its first step, before anything waited
on its future (as a task cancelled before the loop first runs it), is
withdrawn: the message sent afterwards goes to the next receive.

Rank 0 steps ``comm.recv(1, 5)``, and a coroutine awaiting ``comm.irecv(1,
6)``, by hand until they wait, throws the cancellation into them, then
receives again with each tag; rank 1 sends once rank 0 has.
Rank 0 prints ``got <message>``; a receive left posted would take it,
and rank 0 would wait for ever.
"""

from __future__ import annotations

import asyncio

import zmqmesh

BOUND = 20.0  # seconds: a receive that takes longer is reported as a hang


async def main(comm: zmqmesh.Comm) -> None:
    if comm.rank == 0:
        first = comm.recv(1, 5)
        first.send(None)  # posted: it now waits on its future
        try:
            first.throw(asyncio.CancelledError())
        except asyncio.CancelledError:
            print("first: cancelled", flush=True)
        req = comm.irecv(1, 6)

        async def waits() -> object:
            return await req

        second = waits()
        second.send(None)  # waits on the posted request
        try:
            second.throw(asyncio.CancelledError())
        except asyncio.CancelledError:
            print("second: cancelled", flush=True)
        await comm.barrier()
        for tag in (5, 6):
            try:
                got = await asyncio.wait_for(comm.recv(1, tag), BOUND)
            except TimeoutError:
                got = "nothing (hang)"
            print(f"got {got}", flush=True)
    else:
        await comm.barrier()
        await comm.send("hello", 0, 5)
        await comm.send("again", 0, 6)


if __name__ == "__main__":
    zmqmesh.run(main)
