"""A worker dies mid-graph: results it held are made again from their
lineage, and every answer is still exact.

Run with a scratch directory as the argument (on 3 or 5 ranks)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import numpy as np

import zmqmesh

SCRATCH = Path(sys.argv[1])
N = 40_000  # 320 kB arrays: kept where they are made


def start(n: int) -> np.ndarray:
    return np.zeros(n)


def step(a: np.ndarray, i: int) -> np.ndarray:
    """The chain's i-th link; the first worker to run link ``die`` dies."""
    die = SCRATCH / f"die-{i}"
    if die.exists():
        die.unlink()
        os.kill(os.getpid(), signal.SIGKILL)
    return a + i


def inc(x: int) -> int:
    return x + 1


def add(a: int, b: int) -> int:
    marker = SCRATCH / f"die-add-{a}"
    if marker.exists():
        marker.unlink()
        os.kill(os.getpid(), signal.SIGKILL)
    return a + b


async def checks(ex: zmqmesh.Executor, workers: int) -> None:
    (SCRATCH / "die-15").touch()
    x = ex.submit(start, N)
    for i in range(1, 31):
        x = ex.submit(step, x, i)
    got = await x
    assert got.shape == (N,) and np.all(got == sum(range(1, 31))), got[:4]
    print("ok chain after a loss", flush=True)

    if workers > 2:  # a second loss, with two workers left
        (SCRATCH / "die-add-1").touch()  # a leaf pair's add dies once
    leaves = [ex.submit(inc, i) for i in range(200)]
    while len(leaves) > 1:
        pairs = [ex.submit(add, leaves[i], leaves[i + 1]) for i in range(0, len(leaves) - 1, 2)]
        leaves = pairs + ([leaves[-1]] if len(leaves) % 2 else [])
    assert await leaves[0] == sum(range(1, 201))
    print("ok tree after a loss", flush=True)


async def main(comm: zmqmesh.Comm) -> None:
    async with zmqmesh.Executor(comm, root=0) as ex:
        if ex is not None:
            await asyncio.wait_for(checks(ex, comm.size - 1), 60)
            print("done", flush=True)


if __name__ == "__main__":
    zmqmesh.run(main)
