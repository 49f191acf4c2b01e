"""Kept results are freed when nobody refers to them, and large values
never pass through the root unless it awaits them. Prints ``ok <check>``."""

from __future__ import annotations

import asyncio
import gc

import numpy as np

import zmqmesh

N = 50_000  # 400 kB


def big(n: int) -> np.ndarray:
    return np.ones(n)


def step(a: np.ndarray) -> np.ndarray:
    return a + 1


def total(a: np.ndarray) -> float:
    return float(a.sum())


async def settle() -> None:
    gc.collect()
    for _ in range(3):  # the weak references' callbacks run on the loop
        await asyncio.sleep(0)


async def checks(ex: zmqmesh.Executor) -> None:
    node = ex._node  # the bookkeeping under test
    assert node is not None
    x = ex.submit(big, N)
    for _ in range(20):
        x = ex.submit(step, x)
    assert await ex.submit(total, x) == 21.0 * N  # the sum comes back, not the array
    assert node.data.bytes_in == 0, node.data.bytes_in
    await settle()
    assert list(node.graph.kept) == [x._tid], len(node.graph.kept)  # only x is referred to
    last = await x
    assert last[0] == 21.0
    assert node.data.bytes_in == N * 8  # awaited: it came, once
    ok("chain")

    del x, last
    await settle()
    assert not node.graph.kept and not node.refs
    ok("garbage")

    r = ex.submit(big, N)
    assert (await r).sum() == N
    ex.release(r)
    assert not node.graph.kept
    assert await ex.submit(total, r) == float(N)  # a done future's value still works
    r2 = ex.submit(big, N)
    ex.release(r2)
    assert r2.cancelled()
    try:
        ex.submit(total, r2)
    except ValueError:
        refused = True
    assert refused  # a released future is no input
    r3 = ex.submit(big, N)
    d3 = ex.submit(total, r3)
    ex.release(r3)  # a pending dependent keeps it until it has run
    assert await d3 == float(N)
    await settle()
    assert r3._tid not in node.graph.kept
    try:
        ex.release(object())  # type: ignore[arg-type]
    except ValueError:
        ok("release")


def ok(name: str) -> None:
    print("ok", name, flush=True)


async def main(comm: zmqmesh.Comm) -> None:
    async with zmqmesh.Executor(comm, root=0) as ex:
        if ex is not None:
            await asyncio.wait_for(checks(ex), 60)
    print("done", flush=True)


if __name__ == "__main__":
    zmqmesh.run(main)
