"""Skewed task costs balanced by work stealing, and how well it worked.

    zmqmesh launch -n 4 examples/work_stealing.py [--tasks N] [--seed S]

Rank 0 runs N busy-wait tasks with ``ex.map``: most are light (exponential
costs, mean 3 ms), one in twelve is heavy (60 ms). The root deals tasks to
the workers round-robin, and twelve is a multiple of 1, 2, 3, 4 and 6
workers, so every heavy task starts on the same worker; idle workers then
steal half of a loaded worker's queue. Rank 0 prints what each worker ran,
stole and gave away (``ex.stats()``), the efficiency, ideal makespan /
measured makespan with ideal = max(sum(costs) / workers, max(costs)), and
what round-robin dealing alone would have achieved. Workers are the ranks
other than 0 (rank 0 itself with one rank); the efficiency cannot be
better than the CPU cores the ranks share allow.
"""

import argparse
import time

import numpy as np

import zmqmesh

HEAVY, EVERY = 0.06, 12  # seconds, and one heavy task in EVERY


def busy(i: int, seconds: float) -> int:
    """Hold a CPU for ``seconds`` (a stand-in for real work); returns ``i``."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        pass
    return i


def make_costs(n: int, seed: int) -> list[float]:
    costs = np.random.default_rng(seed).exponential(0.003, n)
    costs[::EVERY] = HEAVY
    return [float(c) for c in costs]


async def main(comm: zmqmesh.Comm) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=240)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    costs = make_costs(args.tasks, args.seed)
    workers = max(1, comm.size - 1)

    async with zmqmesh.Executor(comm) as ex:
        if ex is not None:
            t0 = time.perf_counter()
            results = await ex.map(busy, range(len(costs)), costs)
            span = time.perf_counter() - t0
    if ex is None:
        return
    stats = ex.stats()  # exact now that the block has been left
    for w, s in stats.items():
        print(f"worker {w}: run {s['run']:4d}  stolen {s['stolen']:4d}  given {s['given']:4d}")
    run, stolen, given = (sum(s[k] for s in stats.values()) for k in ("run", "stolen", "given"))
    print(f"tasks run {run} of {len(costs)}, stolen {stolen}, given {given}")
    ideal = max(sum(costs) / workers, max(costs))
    # Round-robin dealing without stealing: each worker runs every workers-th task.
    static = max(sum(costs[w::workers]) for w in range(workers))
    print(f"{workers} worker(s), sum of costs {sum(costs):.3f} s, ideal makespan {ideal:.3f} s")
    print(f"measured makespan {span:.3f} s, round-robin alone {static:.3f} s or more")
    print(f"efficiency {ideal / span:.2f} (round-robin alone at most {ideal / static:.2f})")
    if results != list(range(len(costs))) or run != len(costs) or stolen != given:
        raise SystemExit("work_stealing: wrong results or inconsistent counts")
    print(f"all {len(costs)} results correct")


if __name__ == "__main__":
    zmqmesh.run(main)
