"""Cancelling futures of ``Executor.submit`` does not break the executor:
the cancelled tasks' results are dropped when they arrive, every other
task completes, and the block is left normally."""

from __future__ import annotations

import asyncio

import zmqmesh


def square(x: int) -> int:
    return x * x


async def slow_square(x: int, seconds: float) -> int:
    await asyncio.sleep(seconds)  # long enough to be cancelled while it runs
    return x * x


async def main(comm: zmqmesh.Comm) -> None:
    async with zmqmesh.Executor(comm) as ex:
        if ex is not None:
            # cancelled before any result can have come back
            # (a rank alone may run a task inline, so one can be done already)
            early = [ex.submit(square, i) for i in range(20)]
            stopped_early = [f.cancel() for f in early[::2]]
            # cancelled while running, once a later task has finished
            slow = [ex.submit(slow_square, i, 0.5) for i in range(4)]
            assert await ex.submit(square, 7) == 49
            # a slow task may already be done here on a loaded machine (a
            # rank alone runs its tasks in order): then it keeps its result
            stopped = [f.cancel() for f in slow]
            kept = await asyncio.gather(*early[1::2])
            assert kept == [i * i for i in range(1, 20, 2)], kept
            for i, (f, was_stopped) in enumerate(zip(early[::2], stopped_early, strict=True)):
                assert f.cancelled() if was_stopped else f.result() == (2 * i) ** 2
            for i, (f, was_stopped) in enumerate(zip(slow, stopped, strict=True)):
                assert f.cancelled() if was_stopped else f.result() == i * i
            assert await ex.map(square, range(50)) == [i * i for i in range(50)]
            print("ok cancelled futures", flush=True)
    # the executor's communicator was a dup: the world's collectives work
    assert await comm.allreduce(1) == comm.size
    print("done", flush=True)


if __name__ == "__main__":
    zmqmesh.run(main)
