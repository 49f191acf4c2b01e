"""A result leaves while its worker still has tasks queued.

On one worker: the root lets the worker's task ``gate`` finish only once
the result of the task queued just before it has come back, so a worker
that held its results until its deque ran dry would never get there (the
test's timeout fails it). The steps before take a little while, so the
worker has tasks queued behind each one. Prints ``ok results while busy``
on the root."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import zmqmesh


def step(i: int) -> int:
    time.sleep(0.002)
    return i


def gate(path: str) -> str:
    """Wait for the root to create ``path`` (the task's own business: the
    worker's loop thread runs meanwhile)."""
    while not os.path.exists(path):
        time.sleep(0.001)
    return "opened"


async def main(comm: zmqmesh.Comm) -> None:
    path = os.path.join(sys.argv[1], "gate")
    async with zmqmesh.Executor(comm, root=0) as ex:
        if ex is not None:
            assert await ex.submit(step, 0) == 0  # the worker is idle again
            before = [ex.submit(step, i) for i in range(20)]
            held = ex.submit(gate, path)
            after = [ex.submit(step, i) for i in range(20, 30)]
            # while the worker waits in ``gate`` with tasks queued behind it
            assert await asyncio.gather(*before) == list(range(20))
            await asyncio.to_thread(Path(path).touch)
            assert await held == "opened"
            assert await asyncio.gather(*after) == list(range(20, 30))
            print("ok results while busy", flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    zmqmesh.run(main)
