"""Fork-join parallelism: recursive Fibonacci with nested executor tasks.

    zmqmesh launch -n 4 examples/fork_join.py [--n N] [--cutoff C]

``pfib(n)`` is a coroutine task: it forks fib(n-1) and fib(n-2) as two
nested tasks through ``zmqmesh.Executor.current().submit`` and joins them
with ``await``. Below the cutoff a child is a plain task computing serially.
Rank 0 submits only the top task, so a single worker starts with all of
the work: it runs its newest nested tasks first, while idle workers steal
the oldest ones from the tail of its queue, which in a recursion are the
biggest subtrees. Work stealing is all that spreads the tree over the
workers. Rank 0 prints fib(N), checked against a serial loop, and per
worker how many tasks it ran, stole and gave away.
"""

import argparse
import asyncio

import zmqmesh


def fib_serial(n: int) -> int:
    return n if n < 2 else fib_serial(n - 1) + fib_serial(n - 2)


async def pfib(n: int, cutoff: int) -> int:
    ex = zmqmesh.Executor.current()
    assert ex is not None  # a task always runs inside an executor
    # Leaves are plain tasks, not inline calls: the worker runs plain tasks
    # on its runner thread, so its event loop stays free to answer thieves.
    a, b = await asyncio.gather(*(fork(ex, k, cutoff) for k in (n - 1, n - 2)))
    return a + b


def fork(ex: zmqmesh.Executor, k: int, cutoff: int) -> asyncio.Future[int]:
    return ex.submit(pfib, k, cutoff) if k > cutoff else ex.submit(fib_serial, k)


def task_count(n: int, cutoff: int) -> int:
    """How many tasks ``pfib(n)`` makes, itself included."""
    if n <= cutoff:
        return 1
    return 1 + task_count(n - 1, cutoff) + task_count(n - 2, cutoff)


def fib_loop(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


async def main(comm: zmqmesh.Comm) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--cutoff", type=int, default=18)
    args = parser.parse_args()
    if args.n <= args.cutoff:
        raise SystemExit("fork_join: --n must be above --cutoff (or nothing is forked)")

    async with zmqmesh.Executor(comm) as ex:
        if ex is not None:
            value = await ex.submit(pfib, args.n, args.cutoff)
    if ex is None:
        return
    expected = fib_loop(args.n)
    print(f"fib({args.n}) = {value} (serial: {expected}), cutoff {args.cutoff}")
    stats = ex.stats()
    for w, s in stats.items():
        print(f"worker {w}: ran {s['run']} tasks, stole {s['stolen']}, gave {s['given']}")
    run = sum(s["run"] for s in stats.values())
    stolen = sum(s["stolen"] for s in stats.values())
    tasks = task_count(args.n, args.cutoff)
    print(f"{run} tasks in all (expected {tasks}), {stolen} stolen")
    if value != expected or run != tasks:
        raise SystemExit("fork_join: wrong result or task count")


if __name__ == "__main__":
    zmqmesh.run(main)
