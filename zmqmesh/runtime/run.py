"""``zmqmesh.run(main)``: the one-line entry point of a zmqmesh script."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from zmqmesh.runtime.bootstrap import finalize, init
from zmqmesh.runtime.comm import Comm

__all__ = ["run"]

R = TypeVar("R")


def run(main: Callable[..., Awaitable[R]], *args: Any) -> R:
    """Run ``main(comm, *args)`` under ``init()``/``finalize()`` on a fresh
    event loop (uvloop's when installed) and return its result.

    Exceptions from ``main`` propagate after ``finalize()`` has run.
    """

    async def runner() -> R:
        comm: Comm = await init()
        try:
            return await main(comm, *args)
        finally:
            await finalize()

    try:
        import uvloop
    except ImportError:
        return asyncio.run(runner())
    return uvloop.run(runner())
