"""Random task graphs, small and large values mixed, while workers die.

Every task's value is the sum of its inputs' plus its own number; a large
one carries it in an array that stays on its worker. The first run of a
few chosen tasks kills its worker. Every answer must be exact. Run with a
scratch directory and a seed (on 3 or 5 ranks)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from pathlib import Path
from typing import Any

import numpy as np

import zmqmesh

SCRATCH = Path(sys.argv[1])
SEED = int(sys.argv[2])
BIG = 20_000  # 160 kB: kept where it is made


def value_of(x: Any) -> int:
    return int(x[0]) if isinstance(x, np.ndarray) else int(x)


def node(i: int, big: bool, *inputs: Any) -> Any:
    marker = SCRATCH / f"kill-{i}"
    if marker.exists():
        marker.unlink()
        os.kill(os.getpid(), signal.SIGKILL)
    v = i + sum(value_of(x) for x in inputs)
    return np.full(BIG, v, dtype=np.int64) if big else v


async def checks(ex: zmqmesh.Executor, kills: int) -> None:
    rng = random.Random(SEED)
    n = 300
    deps = [rng.sample(range(i), k=min(i, rng.randint(0, 3))) for i in range(n)]
    big = [rng.random() < 0.3 for _ in range(n)]
    want: list[int] = []
    for i in range(n):
        want.append(i + sum(want[d] for d in deps[i]))
    for i in rng.sample(range(50, n), kills):
        (SCRATCH / f"kill-{i}").touch()
    futs: list[Any] = []
    for i in range(n):
        futs.append(ex.submit(node, i, big[i], *[futs[d] for d in deps[i]]))
        if rng.random() < 0.1:
            await asyncio.sleep(0)  # let some finish while others are submitted
    got = await asyncio.gather(*futs)
    assert [value_of(g) for g in got] == want
    print("ok random graph", flush=True)


async def main(comm: zmqmesh.Comm) -> None:
    async with zmqmesh.Executor(comm, root=0) as ex:
        if ex is not None:
            await asyncio.wait_for(checks(ex, 1 if comm.size <= 3 else 2), 90)
            print("done", flush=True)


if __name__ == "__main__":
    zmqmesh.run(main)
