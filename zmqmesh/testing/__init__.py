"""Public test helpers.

``run_world(n, fn)`` runs ``fn(comm)`` for ``n`` ranks inside one process and
one event loop, over real ZeroMQ ``inproc://`` sockets: the same engines,
matching and collectives as a launched job, without starting processes.
Use it for fast tests of code written against zmqmesh; use
``zmqmesh launch`` for anything that needs separate processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from zmqmesh.runtime.bootstrap import LocalWorld
from zmqmesh.runtime.comm import Comm

__all__ = ["run_world", "world"]

R = TypeVar("R")


async def world(
    n: int, fn: Callable[[Comm], Awaitable[R]], *, allow_pickle: bool = False, timeout: float = 60
) -> list[R]:
    """Await ``fn(comm)`` on ``n`` in-process ranks; returns the results in
    rank order. The first exception any rank raises is re-raised (the other
    ranks are cancelled); a run longer than ``timeout`` seconds raises
    ``TimeoutError`` rather than hanging."""
    w = LocalWorld(n, allow_pickle=allow_pickle)
    try:
        tasks = [asyncio.ensure_future(fn(c)) for c in w.comms]
        try:
            done, pending = await asyncio.wait(
                tasks, timeout=timeout, return_when=asyncio.FIRST_EXCEPTION
            )
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for t in tasks:
            if t in done and not t.cancelled() and t.exception() is not None:
                raise t.exception()  # type: ignore[misc]
        if pending:
            raise TimeoutError(f"run_world({n}) did not finish within {timeout:g} s")
        return [t.result() for t in tasks]
    finally:
        w.close()


def run_world(
    n: int, fn: Callable[[Comm], Awaitable[R]], *, allow_pickle: bool = False, timeout: float = 60
) -> list[R]:
    """Synchronous :func:`world`: runs its own event loop."""
    return asyncio.run(world(n, fn, allow_pickle=allow_pickle, timeout=timeout))
