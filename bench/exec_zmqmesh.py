"""The exec suite's zmqmesh job, under ``zmqmesh launch -n W+1``: rank 0 is
the root, which submits, and ranks 1..W are the executor's workers. The root
runs the protocol of ``exec_peers.py`` (options and output: see there) on
``zmqmesh.Executor``::

    await ex.submit(fn, x)                          # call
    await asyncio.gather(*(ex.submit(fn, x) ...))   # submit_gather
    await ex.map(fn, xs)                            # map (chunksize 1)
    ex.submit(add, ex.submit(inc, 1), ...)          # graphs: futures as arguments
    ex.actor(Counter).increment()                   # actors

The tasks are ``exec_peers``'s module-level functions, sent by reference
(every rank can import ``exec_peers``: it sits beside this script).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

from exec_peers import (
    Counter,
    add,
    emit,
    inc,
    measure,
    measure_graphs,
    parse_args,
    step,
    total,
    zeros,
)

import zmqmesh


class Mesh:
    def __init__(self, ex: zmqmesh.Executor) -> None:
        self.ex = ex

    async def call(self, fn: Callable[..., Any], x: Any) -> Any:
        return await self.ex.submit(fn, x)

    async def submit_gather(self, fn: Callable[..., Any], xs: Iterable[Any]) -> list[Any]:
        return list(await asyncio.gather(*[self.ex.submit(fn, x) for x in xs]))

    async def map(self, fn: Callable[..., Any], xs: Iterable[Any]) -> list[Any] | None:
        return await self.ex.map(fn, xs)

    async def graphs(self, a: Any, out: dict[str, Any]) -> None:
        await measure_graphs(self, a, out)

    async def tree(self, leaves: int) -> int:
        ex = self.ex
        level = [ex.submit(inc, i) for i in range(leaves)]
        while len(level) > 1:
            pairs = [ex.submit(add, level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            level = pairs + ([level[-1]] if len(level) % 2 else [])
        return int(await level[0])

    async def chain(self, n: int, links: int) -> tuple[float, int | None]:
        ex = self.ex
        node = ex._node  # the root's count of the values it fetched
        before = node.data.bytes_in if node is not None else 0
        x = ex.submit(zeros, n)
        for _ in range(links):
            x = ex.submit(step, x)
        got = float(await ex.submit(total, x))
        return got, (node.data.bytes_in - before if node is not None else None)

    async def actor(self, count: int, pipelined: bool) -> list[int]:
        counter = self.ex.actor(Counter)
        try:
            if pipelined:
                return list(await asyncio.gather(*[counter.increment() for _ in range(count)]))
            return [await counter.increment() for _ in range(count)]
        finally:
            await counter.close()


async def main(comm: zmqmesh.Comm) -> None:
    a = parse_args(sys.argv[1:])
    if comm.size != a.workers + 1:
        raise SystemExit(f"launch with -n {a.workers + 1} (root + {a.workers} workers)")
    results: dict[str, Any] = {}
    async with zmqmesh.Executor(comm, root=0) as ex:
        if ex is not None:
            # the launcher's process tree holds every rank of the job
            results = await measure(Mesh(ex), a, os.getppid())
    if comm.rank == 0:
        assert ex is not None
        stats = ex.stats()
        results["stats"] = stats
        emit({"zmqmesh": zmqmesh.__version__, "workers": a.workers}, results)


if __name__ == "__main__":
    zmqmesh.run(main)
