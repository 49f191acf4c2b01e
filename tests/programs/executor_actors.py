"""Actors: ordered calls, futures between actors and tasks, deaths and
restarts. Prints one ``ok <check>`` line per check on the root.

Run with a scratch directory as the argument; ``kill`` as the second
argument also kills workers holding actors (on 3 or 5 ranks)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import numpy as np

import zmqmesh

SCRATCH = Path(sys.argv[1])
KILL = sys.argv[2:] == ["kill"]


class Counter:
    def __init__(self, start: int = 0) -> None:
        self.value = start
        self.log: list[int] = []

    def increment(self, by: int = 1) -> int:
        self.value += by
        self.log.append(by)
        return self.value

    def history(self) -> list[int]:
        return self.log

    def pid(self) -> int:
        return os.getpid()

    def fail(self) -> None:
        raise ValueError("no")

    def die(self) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    def die_once(self, marker: str) -> int:
        """Die if ``marker`` exists (removing it): run again, it returns."""
        if os.path.exists(marker):
            os.unlink(marker)
            os.kill(os.getpid(), signal.SIGKILL)
        return self.value


class Slow:
    def __init__(self) -> None:
        self.running = 0
        self.most = 0

    async def work(self, x: int) -> int:
        self.running += 1
        self.most = max(self.most, self.running)
        await asyncio.sleep(0.01)
        self.running -= 1
        return x

    def most_at_once(self) -> int:
        return self.most


class Store:
    def __init__(self) -> None:
        self.parts: dict[int, np.ndarray] = {}

    def put(self, k: int, a: np.ndarray) -> int:
        self.parts[k] = a
        return k

    def total(self) -> float:
        return float(sum(a.sum() for a in self.parts.values()))


class Broken:
    def __init__(self) -> None:
        raise RuntimeError("cannot start")

    def hello(self) -> str:
        return "hi"


async def bump_twice(counter: Any, by: int) -> int:
    await counter.increment(by)
    return int(await counter.increment(by))


async def bump_all(counters: list[Any]) -> list[int]:
    return [await c.increment(1) for c in counters]


def plain_call(counter: Any) -> None:
    counter.increment(1)


def boom() -> int:
    raise KeyError("boom")


def square(x: int) -> int:
    return x * x


def make(n: int, k: int) -> np.ndarray:
    return np.full(n, float(k))


def ok(name: str) -> None:
    print("ok", name, flush=True)


async def checks(ex: zmqmesh.Executor, workers: int) -> None:
    c = ex.actor(Counter, 10)
    assert c.rank in range(1, workers + 1) or workers == 0
    futs = [c.increment() for _ in range(100)]
    assert await asyncio.gather(*futs) == list(range(11, 111))
    for i in range(20):
        assert await c.increment(i) == 110 + sum(range(i + 1))
    assert await c.history() == [1] * 100 + list(range(20))
    ok("ordered")

    sq = ex.submit(square, 7)
    assert await c.increment(sq) > 49  # a task's future as a call's argument
    v = c.increment(0)
    assert await ex.submit(square, v) == (await v) ** 2  # a call's future as a task's
    other = ex.actor(Counter, 0)
    assert await other.increment(c.increment(0)) == await v
    try:
        await c.fail()
    except zmqmesh.RemoteError as exc:
        assert exc.type_name == "ValueError"
    else:
        raise AssertionError("no error")
    assert await c.increment(0) == await v  # an error leaves the actor as it was
    failed_input = ex.submit(boom)
    bad = c.increment(failed_input)  # fails upstream, and the calls behind it go on
    behind = c.increment(0)
    try:
        await bad
    except zmqmesh.RemoteError as exc:
        assert exc.upstream, exc
    else:
        raise AssertionError("a call with a failed input ran")
    assert await behind == await v
    ok("futures")

    h = ex.actor(Counter, 0)
    assert await ex.submit(bump_twice, h, 5) == 10  # a handle passed to a task
    assert await ex.submit(bump_all, [h, h]) == [11, 12]
    assert await h.increment(0) == 12
    try:
        await ex.submit(plain_call, h)
    except zmqmesh.RemoteError as exc:
        assert exc.type_name == "RuntimeError", exc
    else:
        raise AssertionError("a plain task called an actor")
    ok("handles")

    s = ex.actor(Slow)
    assert await asyncio.gather(*[s.work(i) for i in range(8)]) == list(range(8))
    assert await s.most_at_once() == 1
    s4 = ex.actor(Slow, concurrency=4)
    assert await asyncio.gather(*[s4.work(i) for i in range(16)]) == list(range(16))
    assert 1 <= await s4.most_at_once() <= 4
    ok("concurrency")

    st = ex.actor(Store)
    n = 30_000  # kept where made: moves worker to worker
    keys = [st.put(k, ex.submit(make, n, k)) for k in range(6)]
    assert await asyncio.gather(*keys) == list(range(6))
    assert await st.total() == float(n * sum(range(6)))
    ok("data")

    b = ex.actor(Broken)
    try:
        await b.hello()
    except zmqmesh.ActorDiedError as exc:
        assert "cannot start" in exc.message, exc.message
    else:
        raise AssertionError("a broken actor answered")
    await other.close()
    await other.close()
    try:
        await other.increment()
    except zmqmesh.ActorDiedError:
        pass
    else:
        raise AssertionError("a closed actor answered")
    ok("close")

    if not KILL:
        return
    doomed = ex.actor(Counter, 0)
    await doomed.increment()
    pending = [doomed.increment() for _ in range(5)]
    died = doomed.die()
    after = doomed.increment()
    for fut in [*pending, died, after]:
        try:
            await fut
        except zmqmesh.ActorDiedError:
            pass
        except zmqmesh.RemoteError as exc:  # the few calls that ran before the death
            raise AssertionError(f"not ActorDiedError: {exc!r}") from None
    try:
        await doomed.increment()
    except zmqmesh.ActorDiedError:
        pass
    else:
        raise AssertionError("a dead actor answered")
    ok("died")
    if workers < 3:
        return
    phoenix = ex.actor(Counter, 100, restart=True)
    first = phoenix.rank
    assert await phoenix.increment() == 101
    marker = SCRATCH / "phoenix"
    marker.write_text("")
    dying = phoenix.die_once(str(marker))
    after = [phoenix.increment() for _ in range(3)]
    # made again from its constructor, the calls not answered run again
    assert await dying == 100
    assert await asyncio.gather(*after) == [101, 102, 103]
    assert phoenix.rank != first
    ok("restart")


async def main(comm: zmqmesh.Comm) -> None:
    async with zmqmesh.Executor(comm, root=0, max_retries=1) as ex:
        if ex is not None:
            await asyncio.wait_for(checks(ex, comm.size - 1), 60)
    print("done", flush=True)


if __name__ == "__main__":
    zmqmesh.run(main)
