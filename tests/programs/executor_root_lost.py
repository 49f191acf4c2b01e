"""The root dies while workers run its tasks: every worker leaves the
executor with RankFailedError on its own, well before the launcher's grace."""

from __future__ import annotations

import os
import signal
import time

import zmqmesh


def nap(x: float) -> float:
    time.sleep(x)
    return x


async def main(comm: zmqmesh.Comm) -> None:
    try:
        async with zmqmesh.Executor(comm) as ex:
            if ex is not None:
                futs = [ex.submit(nap, 0.01) for _ in range(200)]
                await futs[0]
                os.kill(os.getpid(), signal.SIGKILL)
    except zmqmesh.RankFailedError as exc:
        print("left with RankFailedError", exc.rank, flush=True)


if __name__ == "__main__":
    zmqmesh.run(main)
