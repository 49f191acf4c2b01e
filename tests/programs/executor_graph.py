"""Futures as arguments: task graphs whose values move worker to worker.

Prints one ``ok <check>`` line per check on the root."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import numpy as np

import zmqmesh


def inc(x: int) -> int:
    return x + 1


def add(a: int, b: int) -> int:
    return a + b


def boom(x: int) -> int:
    raise KeyError(f"no key {x}")


def total(xs: list[Any], extra: dict[str, Any], scale: int = 1) -> int:
    # nested futures arrive as done futures
    return (sum(f.result() for f in xs) + extra["k"].result()) * scale


async def total_async(xs: list[Any]) -> int:
    return sum([await f for f in xs])


def big(n: int) -> np.ndarray:
    a = np.arange(n, dtype=np.float64)
    a[0] = os.getpid()
    return a


def step(a: np.ndarray) -> np.ndarray:
    """The next link of a chain: where it ran in [0], the values + 1."""
    here = float(os.getpid())
    out = a + 1
    out[0] = here
    out[1] = float(a[0] == here)  # 1: it ran where its input was made
    return out


def ok(name: str) -> None:
    print("ok", name, flush=True)


async def checks(ex: zmqmesh.Executor) -> None:
    c = ex.submit(add, ex.submit(inc, 1), ex.submit(inc, 2))
    assert await c == 5
    a = ex.submit(inc, 10)
    assert await ex.submit(add, a, b=ex.submit(inc, 20)) == 32
    assert await ex.submit(add, await a, a) == 22  # a done future works too
    ok("inc_inc_add")

    xs = [ex.submit(inc, i) for i in range(5)]
    got = ex.submit(total, xs, {"k": ex.submit(inc, 100)}, scale=ex.submit(inc, 1))
    assert await got == (sum(range(1, 6)) + 101) * 2
    assert await ex.submit(total_async, (ex.submit(inc, 1), ex.submit(inc, 2))) == 5
    ok("nested")

    failed = ex.submit(boom, 3)
    dep = ex.submit(inc, failed)
    dep2 = ex.submit(add, dep, ex.submit(inc, 1))
    for fut in (dep, dep2):
        try:
            await fut
        except zmqmesh.RemoteError as exc:
            assert exc.upstream and exc.type_name == "KeyError", exc
            assert "no key 3" in exc.message
        else:
            raise AssertionError("no upstream error")
    try:
        await failed
    except zmqmesh.RemoteError as exc:
        assert not exc.upstream
    ok("upstream")

    leaves = [ex.submit(inc, i) for i in range(1000)]
    while len(leaves) > 1:
        pairs = [ex.submit(add, leaves[i], leaves[i + 1]) for i in range(0, len(leaves) - 1, 2)]
        leaves = pairs + ([leaves[-1]] if len(leaves) % 2 else [])
    assert await leaves[0] == sum(range(1, 1001))
    ok("tree")

    n = 50_000  # 400 kB: stays where it was made
    x = ex.submit(big, n)
    first = x
    for _ in range(30):
        x = ex.submit(step, x)
    last = await x
    assert np.array_equal(last[2:], np.arange(n, dtype=np.float64)[2:] + 30)
    first_val = await first  # a kept result is fetched when awaited
    assert first_val.shape == (n,) and first_val[5] == 5.0
    ok("chain")
    # Placement follows the data: the dependents ran where their input was
    # (a thief may take one now and then).
    here = 0
    for _ in range(10):  # one at a time: a thief finds nothing else to take
        here += int((await ex.submit(step, ex.submit(big, n)))[1])
    assert here >= 7, here
    ok("placement")


async def main(comm: zmqmesh.Comm) -> None:
    async with zmqmesh.Executor(comm, root=0) as ex:
        if ex is not None:
            await asyncio.wait_for(checks(ex), 60)
    print("done", flush=True)


if __name__ == "__main__":
    zmqmesh.run(main)
