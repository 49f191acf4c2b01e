"""Estimate pi by Monte Carlo sampling split over ranks, and the speed-up.

    zmqmesh launch -n 4 examples/monte_carlo_pi.py [--samples N] [--seed S]

Each rank draws its share of N points in the unit square from its own
generator, ``np.random.default_rng(seed + rank)``, and counts those inside
the quarter circle; ``allreduce`` sums the counts, ``reduce(op=MAX)`` finds
the slowest rank's time. Rank 0 prints the estimate and its error, then
times the 1-rank version: rank 0 alone draws the same streams one after the
other (so it must find exactly the same count) and prints the speed-up,
which cannot exceed the number of CPU cores the ranks share.
"""

import argparse
import time

import numpy as np

import zmqmesh

CHUNK = 1_000_000  # points per batch: bounds memory at 16 MB whatever N is


def share(total: int, size: int, rank: int) -> int:
    """Rank ``rank``'s part of ``total``; the first ``total % size`` get one more."""
    return total // size + (rank < total % size)


def count_hits(n: int, seed: int) -> int:
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, n, CHUNK):
        xy = rng.random((2, min(CHUNK, n - start)))
        hits += int(np.count_nonzero(xy[0] * xy[0] + xy[1] * xy[1] <= 1.0))
    return hits


async def main(comm: zmqmesh.Comm) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=10**7)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    total, rank, size = args.samples, comm.rank, comm.size

    count_hits(CHUNK // 10, args.seed)  # warm-up: first draws pay page faults and set-up
    await comm.barrier()  # start the clock together, not at each rank's start-up
    t0 = time.perf_counter()
    hits = await comm.allreduce(count_hits(share(total, size, rank), args.seed + rank))
    elapsed = await comm.reduce(time.perf_counter() - t0, op=zmqmesh.MAX, root=0)

    if rank == 0:
        pi = 4.0 * hits / total
        print(f"samples: {total:,} on {size} rank(s), {hits:,} inside the circle")
        print(f"pi ~= {pi:.6f}, abs error {abs(pi - np.pi):.2e}")
        print(f"time on {size} rank(s): {elapsed:.3f} s")
        # The 1-rank baseline: the same streams, one after another, while the
        # other ranks idle in the barrier below (waiting there costs no CPU).
        t0 = time.perf_counter()
        serial_hits = sum(count_hits(share(total, size, r), args.seed + r) for r in range(size))
        serial = time.perf_counter() - t0
        same = "same count" if serial_hits == hits else f"DIFFERENT count {serial_hits:,}"
        print(f"time on 1 rank (rank 0 alone, afterwards, same samples): {serial:.3f} s, {same}")
        print(f"speed-up vs 1 rank: {serial / elapsed:.2f}x")
        if serial_hits != hits:
            raise SystemExit("monte_carlo_pi: the 1-rank run disagrees with the parallel one")
    await comm.barrier()


if __name__ == "__main__":
    zmqmesh.run(main)
