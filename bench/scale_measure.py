"""What the scale suite (``scale.py``) measures to fit the cost model of
``zmqmesh.collectives.simulate`` (the fitting itself is
``zmqmesh.collectives.fit``): a zmqmesh ping-pong between two ranks, a
timed ``np.add``, and real collectives (``coll_zmqmesh.py``, each algorithm
forced in turn) on 2, 4 and 8 ranks; and how far a model is from them.
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.jobs import Launch, _run, launch_cmd
from zmqmesh.collectives import plan as policy
from zmqmesh.collectives.fit import Sample
from zmqmesh.collectives.simulate import Model

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

PINGPONG_SIZES = (8, 1024, 65536, 1048576, 16777216)
PINGPONG_ITERS = (300, 300, 200, 30, 10)


def run_job(label: str, cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> Any:
    """Run one launch from the repository root (its zmqmesh first on the
    path); the JSON line, or raise with what went wrong."""
    unset = tuple(f"ZMQMESH_{k.upper()}" for k in policy.ALGORITHMS)
    got, err = _run(Launch(label, [], None, {}, env or {}, unset), cmd, timeout + 30, ROOT)
    if got is None:
        raise RuntimeError(f"{label}: {err}")
    return got


# -- the machine's bare costs -------------------------------------------------


def pingpong(timeout: float) -> dict[int, float]:
    """Median half round trip per size of a zmqmesh ping-pong, seconds."""
    cmd = launch_cmd(
        2,
        timeout,
        HERE / "pingpong_zmqmesh.py",
        ",".join(map(str, PINGPONG_SIZES)),
        ",".join(map(str, PINGPONG_ITERS)),
    )
    got = run_job("pingpong", cmd, timeout)
    return {int(s): statistics.median(ts) for s, ts in got["results"].items()}


def fit_gamma(nbytes: int = 16 * 2**20, reps: int = 7) -> float:
    """Seconds per byte of ``np.add(a, b, out=a)`` on float64 (warm memory)."""
    a = np.ones(nbytes // 8)
    b = np.ones(nbytes // 8)
    np.add(a, b, out=a)
    best = math.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        np.add(a, b, out=a)
        best = min(best, time.perf_counter() - t0)
    return best / nbytes


# -- real collectives ------------------------------------------------------------


# The collectives the check runs, each algorithm forced in turn (and barrier).
MEASURED = ("allreduce", "bcast", "allgather", "alltoall")


def measure(ranks: int, sizes: tuple[int, ...], timeout: float) -> dict[str, dict[int, float]]:
    """Median seconds per call: ``<collective>/<algorithm>`` per size for
    every algorithm of every collective in ``MEASURED``, and
    ``barrier/dissemination`` under size 0; one job, the calls interleaved
    (``coll_cells.py``)."""
    cmd = launch_cmd(
        ranks,
        timeout,
        HERE / "coll_cells.py",
        "--ops",
        ",".join((*MEASURED, "barrier")),
        "--sizes",
        ",".join(map(str, sizes)),
        "--budget",
        "0.3",
        "--max-iters",
        "300",
    )
    got = run_job(f"coll {ranks}", cmd, timeout)["results"]["zmqmesh"]
    return {
        key: {int(n): statistics.median(ts) for n, ts in by_size.items()}
        for key, by_size in got.items()
    }


Measured = dict[int, dict[str, dict[int, float]]]  # ranks -> collective/algorithm -> size -> s


def samples(measured: Measured) -> list[Sample]:
    """Every measured cell as a sample for ``zmqmesh.collectives.fit``."""
    out = []
    for ranks, by_alg in measured.items():
        for key, by_size in by_alg.items():
            collective, algorithm = key.split("/")
            out += [Sample(ranks, collective, algorithm, n, t) for n, t in by_size.items()]
    return out


def model_errors(models: dict[str, Model], measured: Measured) -> list[dict[str, Any]]:
    """Per measured cell, each model's prediction and its relative error."""
    rows = []
    for s in samples(measured):
        row: dict[str, Any] = {
            "ranks": s.ranks,
            "collective": s.collective,
            "algorithm": s.algorithm,
            "nbytes": s.nbytes,
            "measured": s.seconds,
        }
        for name, model in models.items():
            row[name] = s.predicted(model)
            row[f"{name}_error"] = s.error(model)
        rows.append(row)
    return rows


def median_errors(rows: list[dict[str, Any]], name: str) -> dict[int, float]:
    """Median |error| of model ``name`` by ranks."""
    by_p: dict[int, list[float]] = {}
    for r in rows:
        by_p.setdefault(r["ranks"], []).append(abs(r[f"{name}_error"]))
    return {p: statistics.median(e) for p, e in sorted(by_p.items())}


def median_of(runs: list[Measured]) -> Measured:
    """Per cell, the median over ``runs`` (of the runs that have it)."""
    times: dict[tuple[int, str, int], list[float]] = {}
    for run in runs:
        for ranks, by_alg in run.items():
            for key, by_size in by_alg.items():
                for nbytes, t in by_size.items():
                    times.setdefault((ranks, key, nbytes), []).append(t)
    out: Measured = {}
    for (ranks, key, nbytes), ts in times.items():
        out.setdefault(ranks, {}).setdefault(key, {})[nbytes] = statistics.median(ts)
    return out
