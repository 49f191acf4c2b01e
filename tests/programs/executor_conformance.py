"""The Executor's promises, checked on every rank count it is run with.

Prints one ``ok <check>`` line per check on the root and the skewed-load
efficiency as ``efficiency <x>``."""

from __future__ import annotations

import asyncio
import functools
import os
import sys
import time

import numpy as np

import zmqmesh


def square(x: int) -> int:
    return x * x


async def slow_cube(x: int) -> int:
    await asyncio.sleep(0.001)
    return x**3


def boom(x: int) -> None:
    raise KeyError(f"no key {x}")


def opaque() -> object:
    return object()


def stats_of(a: np.ndarray, scale: float = 1.0) -> tuple[float, tuple[int, ...], str]:
    return float(a.sum()) * scale, a.shape, a.dtype.str


def doubled(a: np.ndarray) -> np.ndarray:
    return a * 2


def pid() -> int:
    return os.getpid()


def switch_interval(_: int) -> float:
    return sys.getswitchinterval()


def spin(seconds: float) -> float:
    t = time.perf_counter()
    while time.perf_counter() - t < seconds:
        pass
    return seconds


async def fib(n: int) -> int:
    if n < 10:
        return n if n < 2 else fib_plain(n - 1) + fib_plain(n - 2)
    ex = zmqmesh.Executor.current()
    assert ex is not None
    a, b = await asyncio.gather(ex.submit(fib, n - 1), ex.submit(fib, n - 2))
    return a + b


def fib_plain(n: int) -> int:
    return n if n < 2 else fib_plain(n - 1) + fib_plain(n - 2)


def ok(name: str) -> None:
    print("ok", name, flush=True)


async def checks(ex: zmqmesh.Executor, workers: int, alone: bool) -> None:
    assert await ex.map(square, range(2000)) == [x * x for x in range(2000)]
    squares = await ex.map(square, range(1000), chunksize=64, progress=True)
    assert squares == [x * x for x in range(1000)]
    assert await ex.map(pow, range(10), range(10)) == [x**x for x in range(10)]
    ok("map")
    assert await ex.map(slow_cube, range(40), chunksize=3) == [x**3 for x in range(40)]
    assert await ex.submit(slow_cube, 5) == 125
    ok("coroutines")
    try:
        await ex.submit(boom, 7)
    except zmqmesh.RemoteError as exc:
        assert exc.type_name == "KeyError", exc.type_name
        assert "no key 7" in exc.message
        assert "in boom" in exc.traceback
    else:
        raise AssertionError("no RemoteError")
    try:
        got = await ex.submit(opaque)
    except zmqmesh.RemoteError as exc:
        assert exc.type_name == "TypeError", exc.type_name
        assert "cannot travel" in exc.message, exc.message
    else:  # only a task run where it was submitted returns what cannot travel
        assert alone and type(got) is object, "an unsendable result came back"
    ok("raises")
    a = np.arange(1_000_000, dtype=np.float64)
    assert await ex.submit(stats_of, a, scale=2.0) == (float(a.sum()) * 2, (1_000_000,), "<f8")
    assert np.array_equal(await ex.submit(doubled, a), a * 2)
    ok("arrays")
    for bad in (lambda x: x, functools.partial(square, 2)):
        try:
            ex.submit(bad, 1)
        except TypeError:
            pass
        else:
            raise AssertionError("a function that cannot travel was accepted")
    try:
        ex.submit(square, object())
    except TypeError:
        ok("bad_input")
    assert await ex.submit(fib, 18) == fib_plain(18)
    ok("nested")
    futs = [ex.submit(square, i) for i in range(100)]
    seen = [f.result() async for f in ex.as_completed(futs)]
    assert sorted(seen) == [i * i for i in range(100)]
    ok("as_completed")
    rng = np.random.default_rng(7)
    costs = [float(c) for c in rng.exponential(0.004, 400)]
    costs[::40] = [0.06] * 10  # a few heavy ones
    t = time.perf_counter()
    assert await ex.map(spin, costs) == costs
    span = time.perf_counter() - t
    print(f"efficiency {max(sum(costs) / workers, max(costs)) / span:.3f}", flush=True)
    if not alone and len(os.sched_getaffinity(0)) >= 2:
        pids = [await ex.submit(pid) for _ in range(20)]
        assert len(set(pids[1:])) == 1, pids  # a task alone goes to the worker polling for it
    # a serving worker hands the GIL to its loop thread every millisecond
    assert max(await ex.map(switch_interval, range(8))) <= 0.001
    ok("skewed")


async def main(comm: zmqmesh.Comm) -> None:
    async with zmqmesh.Executor(comm, root=0) as ex:
        if ex is not None:
            await checks(ex, comm.size - 1 or 1, comm.size == 1)
    if comm.rank == 0:
        assert ex is not None
        stats = ex.stats()
        assert sorted(stats) == (list(range(1, comm.size)) or [0]), stats
        total = sum(s["run"] for s in stats.values())
        assert sum(s["stolen"] for s in stats.values()) == sum(s["given"] for s in stats.values())
        assert total >= 2000 + 16 + 10 + 14 + 1 + 1 + 1 + 2 + 100 + 400, stats
        ok("stats")
    await comm.barrier()  # the communicator is still usable afterwards
    print(f"switch interval {sys.getswitchinterval()}", flush=True)  # restored
    print("done", flush=True)


if __name__ == "__main__":
    zmqmesh.run(main)
