"""The exec suite's jobs: the task functions and the measuring protocol that
``exec_zmqmesh.py`` shares, and the peers' side::

    python bench/exec_peers.py --peer dask|ray|ppe --workers W [options]
    python bench/exec_peers.py --split --workers W --skewed N

Every job, zmqmesh's and each peer's, runs :func:`measure` on W worker
processes, through an adapter with three calls: ``call(fn, x)`` (submit one
task and wait for it), ``submit_gather(fn, xs)`` (submit the tasks one by
one, then wait for all) and ``map(fn, xs)`` (the library's own map, or None
when it has none). The protocol, in order:

1. start-up: wall-clock time from ``--t0`` (the driver's clock just before it
   started the job process) to the first task's result back at the
   submitter; it covers the interpreter, the imports and the workers' start;
2. a warm-up of ``8 * W`` tasks that return their process id, then the RSS
   of those processes (the workers) and the PSS of the whole job;
3. single-task round trips, ``--latency`` of them;
4. no-op throughput, per count of ``--tasks`` (ascending), with
   ``submit_gather`` then ``map``; a count whose time, predicted from the
   rate at the count before, exceeds ``--cell-budget`` is skipped and its
   prediction reported under ``over_budget``;
5. skewed loads: ``--skewed`` busy-wait tasks through ``map``
   (``submit_gather`` where there is no map), first of :func:`skewed_costs`
   (exponential), then of :func:`mix_costs` (1/5/10/50 ms, 70/20/8/2%);
6. ``--arrays`` tasks each given its own ``--array-bytes`` float64 array,
   returning its sum;
7. task graphs and actors, for the adapters that have them (``graphs``):
   a tree reduction of ``--leaves`` ``inc`` tasks by ``add`` of pairs, all
   submitted before the top is awaited (graph tasks/s); a chain of
   ``--chain`` tasks each passing a ``--chain-bytes`` array to the next,
   the root awaiting only the last one's sum (wall time, and the bytes of
   values the root received, where the library can say); ``--actor-calls``
   method calls of one actor, awaited one by one, then pipelined
   (calls/s; Dask may run pipelined calls out of order, so its values are
   checked as a set: each call exactly once).

Each result is checked; the job prints one JSON line,
``{"meta": {...}, "results": {...}}``, and exits non-zero on a wrong one.

``--split`` runs no library: the reference for the skewed-load rows
(:func:`split_makespan`), its results only the efficiencies and makespans.
The peers' adapters are synchronous; :func:`run_sync` drives the protocol
coroutine for them without an event loop (none of their calls suspends).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

PEERS = ("dask", "ray", "ppe")


# -- the tasks (module level, so zmqmesh sends them by reference) -------------
def noop(x: Any) -> Any:
    return x


def pid(_: Any) -> int:
    return os.getpid()


def spin(seconds: float) -> float:
    """Busy-wait ``seconds`` of wall-clock time (holds a core, as CPU work does)."""
    t = time.perf_counter()
    while time.perf_counter() - t < seconds:
        pass
    return seconds


def total(a: np.ndarray) -> float:
    return float(a.sum())


# -- the data --------------------------------------------------------------------
def inc(x: int) -> int:
    return x + 1


def add(a: int, b: int) -> int:
    return a + b


def zeros(n: int) -> np.ndarray:
    return np.zeros(n)


def step(a: np.ndarray) -> np.ndarray:
    return a + 1.0


class Counter:
    """The actor of step 7."""

    def __init__(self) -> None:
        self.n = 0

    def increment(self) -> int:
        self.n += 1
        return self.n


def skewed_costs(n: int = 400, seed: int = 7) -> list[float]:
    """``n`` task costs in seconds: exponential with mean 4 ms from a fixed
    seed, every 40th replaced by a heavy 60 ms one (10 of 400)."""
    rng = np.random.default_rng(seed)
    costs = [float(c) for c in rng.exponential(0.004, n)]
    costs[::40] = [0.06] * len(costs[::40])
    return costs


MIX = ((0.001, 0.70), (0.005, 0.20), (0.010, 0.08), (0.050, 0.02))
"""The mixed load: busy waits of 1, 5, 10 or 50 ms, drawn 70/20/8/2%."""


def mix_costs(n: int = 400, seed: int = 11) -> list[float]:
    """``n`` task costs in seconds drawn from :data:`MIX` with a fixed seed."""
    rng = np.random.default_rng(seed)
    values, weights = zip(*MIX, strict=True)
    return [float(c) for c in rng.choice(values, size=n, p=weights)]


def balanced_parts(costs: list[float], parts: int) -> list[list[float]]:
    """``costs`` dealt longest first, each to the part with the least total
    time so far (LPT): parts of nearly equal total time."""
    out: list[list[float]] = [[] for _ in range(parts)]
    totals = [0.0] * parts
    for c in sorted(costs, reverse=True):
        i = totals.index(min(totals))
        out[i].append(c)
        totals[i] += c
    return out


def _spin_part(part: list[float], start: float, done: Any) -> None:
    os.setsid()  # a session of its own, as the launcher gives each rank
    while time.perf_counter() < start:
        pass
    for c in part:
        spin(c)
    done.put(time.perf_counter())


def split_makespan(costs: list[float], workers: int) -> float:
    """The skewed load with no scheduler: ``costs`` dealt in advance into
    ``workers`` balanced parts, each busy-waited by a process of its own,
    started together, with no messages; seconds from the start to the last
    part's end. With more workers than cores this is what the host's time
    slicing leaves any executor: a task's busy wait that should end while
    its process waits for a core ends only when the process gets one."""
    ctx = multiprocessing.get_context("fork")
    done = ctx.Queue()
    start = time.perf_counter() + 0.2  # after every process has started
    procs = [
        ctx.Process(target=_spin_part, args=(part, start, done))
        for part in balanced_parts(costs, workers)
    ]
    for proc in procs:
        proc.start()
    ends = [done.get(timeout=60 + sum(costs)) for _ in procs]
    for proc in procs:
        proc.join()
    return max(ends) - start


def efficiency(costs: list[float], workers: int, makespan: float) -> float:
    """Of a perfect schedule's makespan, ``max(sum / workers, max)``."""
    return max(sum(costs) / workers, max(costs)) / makespan


def arrays(count: int, nbytes: int) -> list[np.ndarray]:
    """``count`` distinct float64 arrays of ``nbytes`` each; small integers,
    so every summation order gives the exact sum."""
    base = (np.arange(nbytes // 8) % 1000).astype(np.float64)
    return [base + i for i in range(count)]


# -- memory --------------------------------------------------------------------------
def _status_kib(p: int, field: str, file: str = "status") -> int:
    try:
        for ln in Path(f"/proc/{p}/{file}").read_text().splitlines():
            if ln.startswith(field + ":"):
                return int(ln.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def rss(p: int) -> int:
    """Resident set size of process ``p`` in bytes (0 if unknown)."""
    return _status_kib(p, "VmRSS") * 1024


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(d.name))
    return kids


def job_pss(top: int) -> tuple[int, int]:
    """Proportional set size in bytes of ``top`` and all its descendants (shared
    pages split between the processes that map them, so libraries loaded by
    every process count once), and how many processes that is."""
    kids = _children()
    todo, seen = [top], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo.extend(kids.get(p, []))
    return sum(_status_kib(p, "Pss", "smaps_rollup") * 1024 for p in seen), len(seen)


# -- the protocol ------------------------------------------------------------------
class Adapter(Protocol):
    async def call(self, fn: Callable[..., Any], x: Any) -> Any: ...
    async def submit_gather(self, fn: Callable[..., Any], xs: Iterable[Any]) -> list[Any]: ...
    async def map(self, fn: Callable[..., Any], xs: Iterable[Any]) -> list[Any] | None: ...


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--peer", choices=PEERS, help="(exec_peers.py only)")
    p.add_argument(
        "--split", action="store_true", help="(exec_peers.py only) the no-scheduler reference"
    )
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--t0", type=float, default=None, help="time.time() when the job began")
    p.add_argument("--tasks", default="10000", help="no-op task counts, comma-separated")
    p.add_argument("--latency", type=int, default=300, help="single-task round trips")
    p.add_argument("--skewed", type=int, default=400, help="busy-wait tasks")
    p.add_argument("--arrays", type=int, default=20, help="array tasks")
    p.add_argument("--array-bytes", type=int, default=16 * 2**20)
    p.add_argument("--leaves", type=int, default=10_000, help="tree reduction leaves")
    p.add_argument("--chain", type=int, default=100, help="chain links")
    p.add_argument("--chain-bytes", type=int, default=16 * 2**20)
    p.add_argument("--actor-calls", type=int, default=1000, help="sequential calls")
    p.add_argument("--actor-pipelined", type=int, default=10_000, help="pipelined calls")
    p.add_argument(
        "--cell-budget",
        type=float,
        default=0,
        help="skip a throughput count whose predicted time (from the rate at the "
        "previous count) exceeds this many seconds (0: never skip)",
    )
    a = p.parse_args(argv)
    a.tasks = [int(n) for n in a.tasks.split(",") if n]
    if a.t0 is None:
        a.t0 = time.time()
    return a


class WrongResult(SystemExit):
    pass


def _check(what: str, got: Any, want: Any) -> None:
    if got != want:
        raise WrongResult(f"wrong result for {what}: {str(got)[:200]} (want {str(want)[:200]})")


async def measure(p: Adapter, a: argparse.Namespace, top: int) -> dict[str, Any]:
    """The protocol of the module docstring; ``top`` is the job's first
    process (its PSS counts every process under it)."""
    out: dict[str, Any] = {}
    _check("first task", await p.call(noop, 0), 0)
    out["startup"] = time.time() - a.t0

    pids = sorted(set(await p.submit_gather(pid, range(8 * a.workers))))
    out["worker_pids"] = len(pids)
    out["worker_rss"] = [rss(q) for q in pids]
    out["job_pss"], out["job_procs"] = job_pss(top)

    lat = []
    for i in range(a.latency):
        t = time.perf_counter()
        got = await p.call(noop, i)
        lat.append(time.perf_counter() - t)
        _check("round trip", got, i)
    out["latency"] = lat

    out["submit"], out["map"], out["over_budget"] = {}, {}, {}
    for n in sorted(a.tasks):
        want = list(range(n))
        for how, run in (("submit", p.submit_gather), ("map", p.map)):
            rate = out[how][max(out[how])] if out[how] else None
            if rate is not None and a.cell_budget and n / rate > a.cell_budget:
                # predicted from the rate at the last smaller count
                out["over_budget"][f"{how} {n}"] = n / rate
                continue
            t = time.perf_counter()
            got = await run(noop, range(n))
            if got is not None:
                out[how][n] = n / (time.perf_counter() - t)
                _check(f"{n} no-op tasks by {how}", got, want)
            del got

    for key, costs in (("", skewed_costs(a.skewed)), ("mix_", mix_costs(a.skewed))):
        t = time.perf_counter()
        got = await p.map(spin, costs)
        if got is None:
            got = await p.submit_gather(spin, costs)
        span = time.perf_counter() - t
        _check(f"{key}skewed tasks", got, costs)
        out[f"{key}makespan"] = span
        out[f"{key}efficiency"] = efficiency(costs, a.workers, span)

    arrs = arrays(a.arrays, a.array_bytes)
    want = [float(x.sum()) for x in arrs]
    t = time.perf_counter()
    got = await p.submit_gather(total, arrs)
    out["arrays"] = a.arrays / (time.perf_counter() - t)
    _check("array sums", got, want)
    del arrs, got
    graphs = getattr(p, "graphs", None)
    if graphs is not None:
        await graphs(a, out)
    return out


async def measure_graphs(g: Any, a: argparse.Namespace, out: dict[str, Any]) -> None:
    """Step 7 over an adapter's ``tree``, ``chain`` and ``actor`` calls."""
    t = time.perf_counter()
    got = await g.tree(a.leaves)
    out["tree"] = (2 * a.leaves - 1) / (time.perf_counter() - t)
    _check("tree reduction", got, a.leaves * (a.leaves + 1) // 2)
    n = a.chain_bytes // 8
    t = time.perf_counter()
    got, root_bytes = await g.chain(n, a.chain)
    out["chain"] = time.perf_counter() - t
    _check("chain", got, float(n * a.chain))
    if root_bytes is not None:
        out["chain_root_bytes"] = root_bytes
    for key, count, pipelined in (
        ("actor_seq", a.actor_calls, False),
        ("actor_pipe", a.actor_pipelined, True),
    ):
        t = time.perf_counter()
        got = await g.actor(count, pipelined)
        out[key] = count / (time.perf_counter() - t)
        if not getattr(g, "ordered_actor", True):
            got = sorted(got)  # each call still ran exactly once
        _check(f"{key} calls", got, list(range(1, count + 1)))


def emit(meta: dict[str, Any], results: dict[str, Any]) -> None:
    print(json.dumps({"meta": meta, "results": results}))
    sys.stdout.flush()


def run_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never suspends (its awaits are all on
    synchronous adapters) to its end, without an event loop."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("the protocol suspended outside an event loop")


# -- the peers ------------------------------------------------------------------------
class Dask:
    """``distributed.LocalCluster(n_workers=W, threads_per_worker=1,
    processes=True)``; tasks by ``client.submit(fn, x, pure=False)``, map by
    ``client.map(fn, xs, pure=False)`` (unique keys, so nothing is
    deduplicated), results by ``client.gather``."""

    def __init__(self, workers: int) -> None:
        import warnings

        import dask
        import distributed

        # a 16 MiB argument makes Dask suggest scatter; the suite measures submit
        warnings.filterwarnings("ignore", message=".*[Ll]arge object.*")
        warnings.filterwarnings("ignore", message=".*[Ss]ending large graph.*")
        self.cluster = distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        )
        self.client = distributed.Client(self.cluster)
        self.versions = {"dask": dask.__version__, "distributed": distributed.__version__}

    async def call(self, fn: Callable[..., Any], x: Any) -> Any:
        return self.client.submit(fn, x, pure=False).result()

    async def submit_gather(self, fn: Callable[..., Any], xs: Iterable[Any]) -> list[Any]:
        futs = [self.client.submit(fn, x, pure=False) for x in xs]
        return list(self.client.gather(futs))

    async def map(self, fn: Callable[..., Any], xs: Iterable[Any]) -> list[Any] | None:
        return list(self.client.gather(self.client.map(fn, list(xs), pure=False)))

    async def graphs(self, a: argparse.Namespace, out: dict[str, Any]) -> None:
        await measure_graphs(self, a, out)

    async def tree(self, leaves: int) -> int:
        c = self.client
        level = [c.submit(inc, i, pure=False) for i in range(leaves)]
        while len(level) > 1:
            pairs = [
                c.submit(add, level[i], level[i + 1], pure=False)
                for i in range(0, len(level) - 1, 2)
            ]
            level = pairs + ([level[-1]] if len(level) % 2 else [])
        return int(level[0].result())

    async def chain(self, n: int, links: int) -> tuple[float, int | None]:
        c = self.client
        x = c.submit(zeros, n, pure=False)
        for _ in range(links):
            x = c.submit(step, x, pure=False)
        return float(c.submit(total, x, pure=False).result()), None

    # Pipelined calls of a Dask actor reach it over the client's pooled
    # connections and may run in another order than they were made.
    ordered_actor = False

    async def actor(self, count: int, pipelined: bool) -> list[int]:
        counter = self.client.submit(Counter, actor=True).result()
        if pipelined:
            futs = [counter.increment() for _ in range(count)]
            return [f.result() for f in futs]
        return [counter.increment().result() for _ in range(count)]

    def close(self) -> None:
        self.client.close()
        self.cluster.close()


class Ray:
    """``ray.init(num_cpus=W)``; tasks by ``ray.remote(fn).remote(x)``,
    results by ``ray.get``. Ray has no map over tasks, so ``map`` is None."""

    def __init__(self, workers: int) -> None:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        import ray

        self.ray = ray
        ray.init(
            num_cpus=workers,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="ERROR",
        )
        self.remote: dict[Callable[..., Any], Any] = {}
        self.versions = {"ray": ray.__version__}

    def _r(self, fn: Callable[..., Any]) -> Any:
        r = self.remote.get(fn)
        if r is None:
            r = self.remote[fn] = self.ray.remote(fn)
        return r

    async def call(self, fn: Callable[..., Any], x: Any) -> Any:
        return self.ray.get(self._r(fn).remote(x))

    async def submit_gather(self, fn: Callable[..., Any], xs: Iterable[Any]) -> list[Any]:
        r = self._r(fn)
        return list(self.ray.get([r.remote(x) for x in xs]))

    async def map(self, fn: Callable[..., Any], xs: Iterable[Any]) -> list[Any] | None:
        return None

    async def graphs(self, a: argparse.Namespace, out: dict[str, Any]) -> None:
        await measure_graphs(self, a, out)

    async def tree(self, leaves: int) -> int:
        r_inc, r_add = self._r(inc), self._r(add)
        level = [r_inc.remote(i) for i in range(leaves)]
        while len(level) > 1:
            pairs = [r_add.remote(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            level = pairs + ([level[-1]] if len(level) % 2 else [])
        return int(self.ray.get(level[0]))

    async def chain(self, n: int, links: int) -> tuple[float, int | None]:
        x = self._r(zeros).remote(n)
        r_step = self._r(step)
        for _ in range(links):
            x = r_step.remote(x)
        return float(self.ray.get(self._r(total).remote(x))), None

    async def actor(self, count: int, pipelined: bool) -> list[int]:
        counter = self.ray.remote(Counter).remote()
        if pipelined:
            return list(self.ray.get([counter.increment.remote() for _ in range(count)]))
        return [self.ray.get(counter.increment.remote()) for _ in range(count)]

    def close(self) -> None:
        self.ray.shutdown()


class Ppe:
    """``concurrent.futures.ProcessPoolExecutor(W)`` (the platform's default
    start method, fork on Linux); tasks by ``pool.submit``, map by
    ``pool.map`` (chunksize 1, as zmqmesh's and Dask's)."""

    def __init__(self, workers: int) -> None:
        from concurrent.futures import ProcessPoolExecutor

        self.pool = ProcessPoolExecutor(workers)
        self.versions: dict[str, str] = {}

    async def call(self, fn: Callable[..., Any], x: Any) -> Any:
        return self.pool.submit(fn, x).result()

    async def submit_gather(self, fn: Callable[..., Any], xs: Iterable[Any]) -> list[Any]:
        futs = [self.pool.submit(fn, x) for x in xs]
        return [f.result() for f in futs]

    async def map(self, fn: Callable[..., Any], xs: Iterable[Any]) -> list[Any] | None:
        return list(self.pool.map(fn, xs))

    def close(self) -> None:
        self.pool.shutdown()


def main() -> None:
    a = parse_args(sys.argv[1:])
    if a.split:
        res = {}
        for key, costs in (("", skewed_costs(a.skewed)), ("mix_", mix_costs(a.skewed))):
            span = split_makespan(costs, a.workers)
            res[f"{key}makespan"] = span
            res[f"{key}efficiency"] = efficiency(costs, a.workers, span)
        emit({"peer": "split", "workers": a.workers}, res)
        return
    if a.peer is None:
        raise SystemExit("--peer or --split is required")
    p = {"dask": Dask, "ray": Ray, "ppe": Ppe}[a.peer](a.workers)
    results = run_sync(measure(p, a, os.getpid()))
    meta = {"peer": a.peer, "workers": a.workers, **p.versions}
    emit(meta, results)
    p.close()


if __name__ == "__main__":
    main()
