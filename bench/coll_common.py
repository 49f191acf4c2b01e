"""What the coll workers (``coll_zmqmesh.py``, ``coll_mpi4py.py``,
``coll_gloo.py``) share: their command line, the data, the check of the
result, and how many iterations a cell gets.

Every worker runs the same protocol per (op, size): a few warm-up calls,
the last one's result checked against the exact answer; an iteration count
that fills ``--budget`` seconds, from the warm-ups' times (the slowest rank's
estimate, so every rank agrees; within ``--min-iters``..``--max-iters``);
then per iteration a barrier and the timed call on every rank. Rank 0 prints
one JSON line: ``{"meta": {...}, "results": {variant: {op: {size: [t]}}}}``
where ``t`` is, per iteration, the slowest rank's time. A worker whose
library lacks an op lists it in ``meta["unsupported"]`` (op -> why).

The first warm-up call bounds a cell's time: the ranks agree on its
slowest time, and when that times the cell's calls (warm-ups plus
``--min-iters``) exceeds ``--cell-limit`` seconds, the worker checks that
call's result and stops the op there (larger sizes take longer still).
``meta["over_limit"]`` lists such cells: ``{variant: {op: {size: seconds of
the first call}}}``.

Sizes are bytes of float64 arrays: the array every rank passes to allreduce
and allgather, the root's bcast array, and the chunk each rank sends to
each rank (itself included) in alltoall. ``barrier`` has no size: it has
one cell, recorded under size 0.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from typing import Any

import numpy as np

OPS = ("allreduce", "bcast", "barrier", "allgather", "alltoall")
# ops whose result is one array per rank, in rank order
GATHERED = ("allgather", "alltoall")


def parse_args(argv: list[str] | None = None, **extra: Any) -> argparse.Namespace:
    """The workers' common options; ``extra`` adds ``--name`` options (a default each)."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--ops", default=",".join(OPS))
    p.add_argument("--sizes", default="8,65536,16777216", help="bytes, multiples of 8")
    p.add_argument("--budget", type=float, default=0.3, help="seconds of timed calls per cell")
    p.add_argument("--min-iters", type=int, default=5)
    p.add_argument("--max-iters", type=int, default=2000)
    p.add_argument(
        "--cell-limit",
        type=float,
        default=60.0,
        help="stop an op at a size whose cell would take longer, seconds (0: never)",
    )
    for name, default in extra.items():
        p.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    a = p.parse_args(argv)
    a.ops = [o for o in a.ops.split(",") if o]
    for o in a.ops:
        if o not in OPS:
            p.error(f"unknown op {o!r}; choose among {', '.join(OPS)}")
    a.sizes = [int(s) for s in a.sizes.split(",")]
    for s in a.sizes:
        if s <= 0 or s % 8:
            p.error(f"size {s} is not a positive multiple of 8 (float64 elements)")
    return a


def data(nbytes: int, rank: int) -> np.ndarray:
    """Rank ``rank``'s float64 input: small integers, so any summation
    order gives the exact answer."""
    return (np.arange(nbytes // 8) % 1000).astype(np.float64) + rank


def sizes_of(op: str, sizes: list[int]) -> list[int]:
    """The sizes a worker runs ``op`` at: ``[0]`` for barrier, which has none."""
    return [0] if op == "barrier" else sizes


def expected(op: str, nbytes: int, size: int, root: int = 0) -> np.ndarray:
    """The exact result of ``op`` over ``data(nbytes, r)`` for every rank ``r``
    (for allgather and alltoall, where every rank sends ``data(nbytes, rank)``
    to every rank: a ``(size, nbytes // 8)`` array, row ``r`` from rank ``r``)."""
    if op == "allreduce":
        return (np.arange(nbytes // 8) % 1000).astype(np.float64) * size + size * (size - 1) // 2
    if op in GATHERED:
        return np.stack([data(nbytes, r) for r in range(size)])
    return data(nbytes, root)


def check(op: str, got: Any, nbytes: int, size: int, rank: int, who: str) -> None:
    """Raise ``SystemExit`` (non-zero exit) when ``got`` is not the exact result.
    A list of per-rank arrays (or tensors) is compared as their stack."""
    if op == "barrier":
        return
    want = expected(op, nbytes, size)
    if isinstance(got, (list, tuple)):
        got = np.stack([np.asarray(g) for g in got])
    got = np.asarray(got)
    if got.shape != want.shape or got.dtype != want.dtype or not np.array_equal(got, want):
        raise SystemExit(
            f"{who}: wrong {op} result on rank {rank} for {nbytes} bytes: "
            f"shape {got.shape} dtype {got.dtype}, first values {got.ravel()[:4]} "
            f"(want {want[:4]})"
        )


def warmups(nbytes: int) -> int:
    """Untimed calls before a cell: the first pays one-off costs (connections,
    page faults), the rest tell how long a call takes."""
    return 6 if nbytes < 2**20 else 3


def per_call(warm: list[float]) -> float:
    """A rank's estimate of one call's time from its warm-up calls' times."""
    return statistics.median(warm[1:])


def iterations(seconds_per_call: float, a: argparse.Namespace) -> int:
    """Iterations to fill the budget, given the slowest rank's ``per_call``
    (every rank passes the same value, so all agree)."""
    return int(min(a.max_iters, max(a.min_iters, round(a.budget / max(seconds_per_call, 1e-7)))))


def over_limit(first: float, nbytes: int, a: argparse.Namespace) -> bool:
    """Whether a cell whose first call took ``first`` seconds (the slowest
    rank's, so every rank agrees) would exceed ``--cell-limit`` with its
    warm-ups and ``--min-iters`` calls."""
    return a.cell_limit > 0 and first * (warmups(nbytes) + a.min_iters) > a.cell_limit


def slowest(per_rank: np.ndarray) -> list[float]:
    """Per iteration, the largest time over ranks: a ``(ranks, iters)`` array -> list."""
    return [float(t) for t in np.asarray(per_rank).max(axis=0)]


def emit(meta: dict[str, Any], results: dict[str, dict[str, dict[int, list[float]]]]) -> None:
    """Print rank 0's one JSON line."""
    print(json.dumps({"meta": meta, "results": results}))
    sys.stdout.flush()


def snapshot_zmqmesh(suite: str) -> Any:
    """A copy of the zmqmesh package in a new temporary directory (returned
    as a Path): a suite's jobs all import it, so one zmqmesh is measured
    throughout even while the working tree changes (put the directory first
    on PYTHONPATH: an editable install's finder comes after it)."""
    import compileall
    import shutil
    import tempfile
    from pathlib import Path

    import zmqmesh

    snapshot = Path(tempfile.mkdtemp(prefix=f"zmqmesh-{suite}-"))
    shutil.copytree(
        Path(zmqmesh.__file__).resolve().parent,
        snapshot / "zmqmesh",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    # Byte-compiled, as pip installs a package: where PYTHONDONTWRITEBYTECODE
    # is set, every rank would otherwise compile zmqmesh from source again.
    compileall.compile_dir(snapshot / "zmqmesh", quiet=1)
    return snapshot
