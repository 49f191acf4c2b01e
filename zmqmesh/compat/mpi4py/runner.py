"""The layer's one event loop, and how blocking calls run on it.

Theory of operation. The module owns one event loop (uvloop's when
installed). Every blocking MPI call runs that loop until its operation
completes, with no extra thread; a nonblocking call posts its operation
from inside the loop (``now``) and returns at once. Calls from inside a
running loop are refused: they could never complete.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

__all__ = ["now", "poll", "run", "unsupported"]

_loop: asyncio.AbstractEventLoop | None = None


def _the_loop() -> asyncio.AbstractEventLoop:
    global _loop
    if _loop is None:
        try:
            import uvloop

            _loop = uvloop.new_event_loop()
        except ImportError:
            _loop = asyncio.new_event_loop()
    return _loop


def run(aw: Any) -> Any:
    """Run the loop until awaitable ``aw`` completes; its result."""
    loop = _the_loop()
    if loop.is_running():
        raise RuntimeError("MPI calls are blocking: not from inside a running event loop")
    return loop.run_until_complete(_as_coro(aw))


async def _as_coro(aw: Any) -> Any:
    return await aw


async def _call(fn: Callable[[], Any]) -> Any:
    return fn()


def now(fn: Callable[[], Any]) -> Any:
    """Call ``fn`` inside the loop (it posts futures on it) and return at once."""
    return run(_call(fn))


def poll(delay: float = 0.0) -> None:
    """Let the loop take in what has arrived (and sleep ``delay`` seconds)."""
    run(asyncio.sleep(delay))


def unsupported(name: str, why: str = "") -> Callable[..., Any]:
    """A callable that raises ``NotImplementedError`` naming ``name``."""

    def call(*args: Any, **kwargs: Any) -> Any:
        reason = f" ({why})" if why else ""
        raise NotImplementedError(f"MPI.{name} is not supported by zmqmesh's mpi4py layer{reason}")

    call.__name__ = name.rpartition(".")[2]
    return call
