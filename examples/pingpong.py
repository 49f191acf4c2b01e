"""Ping-pong latency and bandwidth between ranks 0 and 1, 8 B .. 16 MiB.

    zmqmesh launch -n 2 examples/pingpong.py [--iters N]

Rank 0 times each round trip and prints, per size, the median half
round-trip time and the bandwidth it implies. Ranks past 1 take no part
but the barrier before each size, and say so.
"""

import argparse
import statistics
import time

import numpy as np

import zmqmesh


async def pingpong(comm: zmqmesh.Comm, nbytes: int, iters: int) -> float:
    buf = np.zeros(nbytes, dtype=np.uint8)
    times = []
    await comm.barrier()
    for _ in range(iters + 2):  # two warm-up rounds
        t0 = time.perf_counter()
        if comm.rank == 0:
            await comm.send(buf, 1)
            await comm.recv(1)
        elif comm.rank == 1:
            got = await comm.recv(0)
            await comm.send(got, 0)
        times.append((time.perf_counter() - t0) / 2)
    return statistics.median(times[2:])


async def main(comm: zmqmesh.Comm) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iters", type=int, default=50)
    args = parser.parse_args()
    if comm.size < 2:
        raise SystemExit("pingpong needs two ranks: zmqmesh launch -n 2 examples/pingpong.py")
    if comm.rank == 0:
        print(f"{'bytes':>10} {'half-RTT us':>12} {'MB/s':>10}")
    elif comm.rank >= 2:
        print(f"rank {comm.rank}: not in the ping-pong (ranks 0 and 1 are); joins its barriers")
    size = 8
    while size <= 16 * 2**20:
        iters = args.iters if size < 2**20 else max(5, args.iters // 5)
        t = await pingpong(comm, size, iters)
        if comm.rank == 0:
            print(f"{size:>10} {t * 1e6:>12.1f} {size / t / 1e6:>10.1f}")
        size *= 8


if __name__ == "__main__":
    zmqmesh.run(main)
