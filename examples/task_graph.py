"""Task graphs: tasks whose arguments are other tasks' futures.

    zmqmesh launch -n 3 examples/task_graph.py [--leaves N] [--size BYTES]

First Dask's hello-world graph, ``add(inc(1), inc(2))``: the futures of the
two ``inc`` tasks are the arguments of ``add``, which runs once both are
done, with their values. Then a tree reduction: N leaf tasks, then ``add``
of pairs, level by level, until one future holds the sum; the root submits
the whole tree at once and awaits only its top. Last, a chain of tasks
each passing a large array to the next: the arrays stay on the workers
(each link runs where its input is) and the root receives only the last
sum. Rank 0 prints each result next to the value computed serially.
"""

import argparse
import time

import numpy as np

import zmqmesh


def inc(x: int) -> int:
    return x + 1


def add(a: int, b: int) -> int:
    return a + b


def start(n: int) -> np.ndarray:
    return np.zeros(n)


def step(a: np.ndarray) -> np.ndarray:
    return a + 1.0


def total(a: np.ndarray) -> float:
    return float(a.sum())


def tree_sum(ex: zmqmesh.Executor, leaves: list) -> object:
    """Pairwise ``add`` tasks over ``leaves`` (futures), to one future."""
    while len(leaves) > 1:
        pairs = [ex.submit(add, leaves[i], leaves[i + 1]) for i in range(0, len(leaves) - 1, 2)]
        leaves = pairs + ([leaves[-1]] if len(leaves) % 2 else [])
    return leaves[0]


async def main(comm: zmqmesh.Comm) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leaves", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=8 << 20, help="bytes per array in the chain")
    parser.add_argument("--links", type=int, default=20)
    args = parser.parse_args()

    async with zmqmesh.Executor(comm) as ex:
        if ex is None:
            return
        c = ex.submit(add, ex.submit(inc, 1), ex.submit(inc, 2))
        print(f"add(inc(1), inc(2)) = {await c} (serial: {add(inc(1), inc(2))})")

        t = time.perf_counter()
        top = tree_sum(ex, [ex.submit(inc, i) for i in range(args.leaves)])
        value = await top
        took = time.perf_counter() - t
        tasks = 2 * args.leaves - 1
        print(
            f"tree of {args.leaves} leaves: sum {value} "
            f"(serial: {sum(range(1, args.leaves + 1))}), "
            f"{tasks} tasks in {took:.2f} s ({tasks / took:,.0f} tasks/s)"
        )

        n = args.size // 8
        x = ex.submit(start, n)
        for _ in range(args.links):
            x = ex.submit(step, x)
        got = await ex.submit(total, x)
        print(
            f"chain of {args.links} links of {args.size:,} B: sum {got:.0f} "
            f"(serial: {float(n * args.links):.0f})"
        )


if __name__ == "__main__":
    zmqmesh.run(main)
