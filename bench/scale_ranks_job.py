"""One job of the scale-ranks suite, on every rank::

    zmqmesh launch -n N bench/scale_ranks_job.py --api zmqmesh --t0 T [options]
    mpiexec -n N python bench/scale_ranks_job.py --api mpi4py --t0 T [options]

Each rank notes when its program started and when it was past the
library's start-up (zmqmesh: ``init()`` returned, in ``zmqmesh.run``'s
main; mpi4py: ``from mpi4py import MPI``, which runs ``MPI_Init``), then
times three collectives, each after one untimed call (which also makes the
connections) and per iteration after a barrier:

- ``barrier``;
- ``allreduce`` (SUM) of a 1 MiB float64 array (``--allreduce-bytes``),
  mpi4py into a preallocated array (``comm.Allreduce``);
- ``alltoall`` of one ``--item-bytes`` float64 array per destination (8 KiB,
  so a rank sends 8 KiB x N), mpi4py as ``comm.Alltoall`` between
  preallocated ``(N, n)`` arrays.

An iteration's time is its slowest rank's; iterations go on while the op
has used less than ``--budget`` seconds on rank 0, ``--min-iters`` to
``--max-iters`` of them. Results are checked exactly. At the end, with
every rank alive, each rank reads its own RSS and PSS, and rank 0 the PSS
of the whole job (the launcher or ``mpiexec`` and every process under it,
``SCALE_DRIVER`` naming the process that started it). Rank 0 prints one
JSON line ``{"meta": ..., "results": ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

T_START = time.time()  # before NumPy and the library: they are part of start-up

import numpy as np  # noqa: E402


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--api", choices=("zmqmesh", "mpi4py"), required=True)
    p.add_argument("--t0", type=float, required=True, help="time.time() when the job began")
    p.add_argument("--allreduce-bytes", type=int, default=2**20)
    p.add_argument("--item-bytes", type=int, default=8192)
    p.add_argument("--budget", type=float, default=2.0, help="seconds of timed calls per op")
    p.add_argument("--min-iters", type=int, default=3)
    p.add_argument("--max-iters", type=int, default=20)
    return p.parse_args(argv)


def _status_kib(pid: int | str, key: str, name: str = "status") -> int:
    try:
        for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def job_tree_pss() -> tuple[int, int]:
    """PSS in bytes of the job's processes (the launcher, or mpiexec, and
    every process under it), and how many they are."""
    driver = int(os.environ.get("SCALE_DRIVER", "0"))
    parent: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parent[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    top = os.getpid()
    while parent.get(top, 0) not in (driver, 0, 1):
        top = parent[top]
    kids: dict[int, list[int]] = {}
    for pid, ppid in parent.items():
        kids.setdefault(ppid, []).append(pid)
    todo, seen = [top], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo.extend(kids.get(p, []))
    return sum(_status_kib(p, "Pss", "smaps_rollup") * 1024 for p in seen), len(seen)


class Mesh:
    """zmqmesh's calls."""

    def __init__(self, comm: Any) -> None:
        import zmqmesh

        self.comm, self.sum = comm, zmqmesh.SUM
        self.rank, self.size = comm.rank, comm.size

    async def barrier(self) -> None:
        await self.comm.barrier()

    async def allreduce(self, x: np.ndarray) -> Any:
        return await self.comm.allreduce(x, op=self.sum)

    async def alltoall(self, rows: np.ndarray) -> Any:
        return np.stack(await self.comm.alltoall(list(rows)))

    async def gather(self, obj: Any) -> Any:
        return await self.comm.gather(obj, root=0)

    async def bcast(self, obj: Any) -> Any:
        return await self.comm.bcast(obj, root=0)


class Mpi:
    """mpi4py's buffer calls, into preallocated arrays (its fastest path)."""

    def __init__(self, comm: Any) -> None:
        from mpi4py import MPI

        self.comm, self.sum = comm, MPI.SUM
        self.rank, self.size = comm.rank, comm.size
        self.out: dict[tuple[int, ...], np.ndarray] = {}

    def _out(self, shape: tuple[int, ...]) -> np.ndarray:
        if shape not in self.out:
            self.out[shape] = np.empty(shape)
        return self.out[shape]

    async def barrier(self) -> None:
        self.comm.Barrier()

    async def allreduce(self, x: np.ndarray) -> Any:
        out = self._out(x.shape)
        self.comm.Allreduce(x, out, op=self.sum)
        return out

    async def alltoall(self, rows: np.ndarray) -> Any:
        out = self._out(rows.shape)
        self.comm.Alltoall(rows, out)
        return out

    async def gather(self, obj: Any) -> Any:
        return self.comm.gather(obj, root=0)

    async def bcast(self, obj: Any) -> Any:
        return self.comm.bcast(obj, root=0)


async def timed(
    ops: Mesh | Mpi, call: Callable[[], Awaitable[Any]], a: argparse.Namespace
) -> dict[str, Any]:
    """The op's first (untimed) call's slowest time, and each timed
    iteration's slowest time (on rank 0; None elsewhere)."""
    await ops.barrier()
    t = time.perf_counter()
    await call()
    first = time.perf_counter() - t
    times: list[float] = []
    start = time.perf_counter()
    while True:
        n = len(times)
        go = n < a.min_iters or (n < a.max_iters and time.perf_counter() - start < a.budget)
        if not await ops.bcast(go if ops.rank == 0 else None):
            break
        await ops.barrier()
        t = time.perf_counter()
        await call()
        times.append(time.perf_counter() - t)
    firsts = await ops.gather(first)
    every = await ops.gather(times)
    if ops.rank != 0:
        return {}
    slowest = [max(col) for col in zip(*every, strict=True)]
    return {"first": max(firsts), "times": slowest, "median": statistics.median(slowest)}


async def protocol(ops: Mesh | Mpi, a: argparse.Namespace, t_init: float) -> dict[str, Any]:
    rank, size = ops.rank, ops.size
    out: dict[str, Any] = {}
    starts = await ops.gather((T_START, t_init))
    if rank == 0:
        out["first_line"] = max(s for s, _ in starts) - a.t0
        out["startup"] = max(i for _, i in starts) - a.t0

    out["barrier"] = await timed(ops, ops.barrier, a)

    x = np.full(a.allreduce_bytes // 8, float(rank + 1))
    want = size * (size + 1) / 2

    async def allreduce() -> None:
        got = await ops.allreduce(x)
        if got.shape != x.shape or not (got == want).all():
            raise SystemExit(f"rank {rank}: wrong allreduce result {got[:3]}, want {want}")

    out["allreduce"] = await timed(ops, allreduce, a)

    n = a.item_bytes // 8
    rows = np.repeat((rank * size + np.arange(size, dtype=np.float64))[:, None], n, axis=1)
    want_rows = np.repeat((np.arange(size) * size + rank).astype(np.float64)[:, None], n, axis=1)

    async def alltoall() -> None:
        got = await ops.alltoall(rows)
        if got.shape != want_rows.shape or not (got == want_rows).all():
            raise SystemExit(f"rank {rank}: wrong alltoall result")

    out["alltoall"] = await timed(ops, alltoall, a)

    await ops.barrier()  # every rank alive, its arrays still held
    mine = (_status_kib("self", "VmRSS") * 1024, _status_kib("self", "Pss", "smaps_rollup") * 1024)
    job = job_tree_pss() if rank == 0 else (0, 0)
    every = await ops.gather(mine)
    await ops.barrier()
    if rank == 0:
        out["rss_ranks"] = sum(r for r, _ in every)
        out["pss_ranks"] = sum(p for _, p in every)
        out["pss_job"], out["job_procs"] = job
        out["done"] = time.time() - a.t0  # what follows is the job's exit
    return out


def emit(meta: dict[str, Any], results: dict[str, Any]) -> None:
    print(json.dumps({"meta": meta, "results": results}), flush=True)


def run_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """Drive a coroutine that never suspends (the mpi4py calls are blocking)."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise RuntimeError("the protocol suspended under mpi4py")


def main() -> None:
    a = parse_args(sys.argv[1:])
    meta = {"api": a.api, "item_bytes": a.item_bytes, "allreduce_bytes": a.allreduce_bytes}
    if a.api == "mpi4py":
        from mpi4py import MPI

        t_init = time.time()
        ops: Mesh | Mpi = Mpi(MPI.COMM_WORLD)
        res = run_sync(protocol(ops, a, t_init))
        if ops.rank == 0:
            meta.update(ranks=ops.size, mpi=MPI.Get_library_version().splitlines()[0].strip())
            emit(meta, res)
        return
    import zmqmesh

    async def body(comm: Any) -> None:
        t_init = time.time()
        res = await protocol(Mesh(comm), a, t_init)
        if comm.rank == 0:
            meta.update(ranks=comm.size, zmqmesh=zmqmesh.__version__)
            emit(meta, res)

    zmqmesh.run(body)


if __name__ == "__main__":
    main()
