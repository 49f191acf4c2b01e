"""Workers die mid-run: their tasks run again elsewhere; a task that kills
every worker it reaches fails with RankFailedError after max_retries.

Run on 5 ranks with a scratch directory as the argument."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import zmqmesh

SCRATCH = Path(sys.argv[1])


def work(x: int) -> int:
    time.sleep(0.002)
    if x == 150:  # the first worker to run it dies; a re-run succeeds
        marker = SCRATCH / "died"
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
    return x + 1


def poison() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


async def main(comm: zmqmesh.Comm) -> None:
    async with zmqmesh.Executor(comm, max_retries=1) as ex:
        if ex is None:
            return
        assert await ex.map(work, range(400)) == [x + 1 for x in range(400)]
        print("ok rerun", flush=True)
        try:
            await ex.submit(poison)
        except zmqmesh.RankFailedError as exc:
            print("ok poison", exc.rank, flush=True)
        assert await ex.map(work, range(200, 300)) == [x + 1 for x in range(200, 300)]
        print("ok survivors", flush=True)
        await asyncio.sleep(0)
    print("stats", sorted(w for w, s in ex.stats().items()), flush=True)


if __name__ == "__main__":
    zmqmesh.run(main)
