"""scale suite: the collectives priced for p = 64 .. 100,000 by simulation.

1. Fits the alpha-beta-gamma model of ``zmqmesh.collectives.simulate`` to
   this machine: alpha and beta from a zmqmesh ping-pong between two ranks
   (``pingpong_zmqmesh.py``), gamma from a timed ``np.add`` of 16 MiB.
2. Checks it: real zmqmesh allreduce, bcast, allgather and alltoall (each
   algorithm forced in turn) and barrier on 2, 4 and 8 ranks
   (``coll_zmqmesh.py``), model against measured.
3. Predicts every algorithm of every collective for p = 64, 1,000, 10,000
   and 100,000 at 8 B, 64 KiB and 16 MiB, and compares the model's pick
   with ``plan``'s.
4. Starts 64 real ranks through one barrier and one allreduce and reports
   the start-up time.
5. Tabulates the connections per rank that each topology needs.

Writes ``scale.md`` and ``scale.json`` to ``--out`` (and ``scale.png``
when matplotlib is installed).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.jobs import Launch, _fmt_bytes, _fmt_time, _machine, _run
from bench.plots import pyplot, time_axis
from zmqmesh.collectives import plan as policy
from zmqmesh.collectives.simulate import ALGORITHMS, Model, predict

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

PINGPONG_SIZES = (8, 1024, 65536, 1048576, 16777216)
PINGPONG_ITERS = (300, 300, 200, 30, 10)
MEASURE_RANKS = (2, 4, 8)
MEASURE_SIZES = (8, 65536, 1048576)
QUICK_MEASURE_SIZES = (8, 65536)
PREDICT_P = (64, 1000, 10_000, 100_000)
PREDICT_SIZES = (8, 65536, 16 * 2**20)
SOCKET_P = (64, 256, 1000, 4096, 10_000, 100_000)
FD_LIMIT = 1024  # the usual default soft limit of open files per process

BIG_RANKS = 64
BIG_PROGRAM = """\
import json, time
import numpy as np
import zmqmesh

async def main(comm):
    t_main = time.time()
    await comm.barrier()
    t_barrier = time.time()
    x = await comm.allreduce(np.ones(8), op=zmqmesh.SUM)
    t_allreduce = time.time()
    assert x[0] == comm.size
    if comm.rank == 0:
        print(json.dumps({"meta": {"ranks": comm.size}, "main": t_main,
                          "barrier": t_barrier, "allreduce": t_allreduce}), flush=True)

zmqmesh.run(main)
"""


def _launch(n: int, timeout: float, script: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "zmqmesh",
        "launch",
        "-n",
        str(n),
        "--no-prefix",
        "--timeout",
        str(math.ceil(timeout)),
        str(script),
        *args,
    ]


def _job(label: str, cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> Any:
    """Run one launch from the repository root (its zmqmesh first on the
    path); the JSON line, or raise with what went wrong."""
    unset = tuple(f"ZMQMESH_{k.upper()}" for k in policy.ALGORITHMS)
    got, err = _run(Launch(label, [], None, {}, env or {}, unset), cmd, timeout + 30, ROOT)
    if got is None:
        raise RuntimeError(f"{label}: {err}")
    return got


# -- 1. fitting the model ------------------------------------------------------


def fit_alpha_beta(timeout: float) -> tuple[float, float, dict[int, float]]:
    """alpha and beta by least squares on the relative error of
    ``alpha + beta * size`` against every size's median half round trip
    (so 8 B weighs as much as 16 MiB)."""
    cmd = _launch(
        2,
        timeout,
        HERE / "pingpong_zmqmesh.py",
        ",".join(map(str, PINGPONG_SIZES)),
        ",".join(map(str, PINGPONG_ITERS)),
    )
    got = _job("pingpong", cmd, timeout)
    med = {int(s): statistics.median(ts) for s, ts in got["results"].items()}
    sizes = sorted(med)
    rows = np.array([[1 / med[s], s / med[s]] for s in sizes])
    (alpha, beta), *_ = np.linalg.lstsq(rows, np.ones(len(sizes)), rcond=None)
    return float(alpha), max(float(beta), 0.0), med


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


# -- 2. model against measured ---------------------------------------------------


# The collectives the check runs, each algorithm forced in turn.
MEASURED = ("allreduce", "bcast", "allgather", "alltoall")


def measure(ranks: int, sizes: tuple[int, ...], timeout: float) -> dict[str, dict[int, float]]:
    """Median seconds per call: ``<collective>/<algorithm>`` per size for
    every algorithm of every collective in ``MEASURED`` (each forced with
    ``ZMQMESH_<COLLECTIVE>``), and ``barrier/dissemination`` under size 0."""
    out: dict[str, dict[int, float]] = {}
    for collective in MEASURED:
        for algorithm in ALGORITHMS[collective]:
            first = not out
            cmd = _launch(
                ranks,
                timeout,
                HERE / "coll_zmqmesh.py",
                "--ops",
                f"{collective},barrier" if first else collective,
                "--sizes",
                ",".join(map(str, sizes)),
                "--budget",
                "0.2",
                "--max-iters",
                "300",
                "--cell-limit",
                "20",
            )
            env = {f"ZMQMESH_{collective.upper()}": algorithm}
            label = f"coll {ranks} {collective} {algorithm}"
            got = _job(label, cmd, timeout, env)["results"]["zmqmesh"]
            out[f"{collective}/{algorithm}"] = {
                int(s): statistics.median(ts) for s, ts in got[collective].items()
            }
            if "barrier" in got:
                out["barrier/dissemination"] = {0: statistics.median(got["barrier"]["0"])}
    return out


def model_errors(
    model: Model, measured: dict[int, dict[str, dict[int, float]]]
) -> list[dict[str, Any]]:
    rows = []
    for ranks, by_alg in measured.items():
        for key, by_size in by_alg.items():
            collective, algorithm = key.split("/")
            for nbytes, t in by_size.items():
                pred = predict(collective, algorithm, ranks, nbytes, model).time
                rows.append(
                    {
                        "ranks": ranks,
                        "collective": collective,
                        "algorithm": algorithm,
                        "nbytes": nbytes,
                        "measured": t,
                        "model": pred,
                        "error": (pred - t) / t,
                    }
                )
    return rows


# -- 3. predictions ------------------------------------------------------------------


def predictions(model: Model) -> list[dict[str, Any]]:
    rows = []
    for collective, algorithms in ALGORITHMS.items():
        sizes = (0,) if collective == "barrier" else PREDICT_SIZES
        for p in PREDICT_P:
            for nbytes in sizes:
                cost = {a: predict(collective, a, p, nbytes, model) for a in algorithms}
                best = min(cost, key=lambda a: cost[a].time)
                chosen = policy.plan(
                    collective,
                    kind="general",
                    size=p,
                    nbytes=nbytes,
                    segmentable=True,
                    config=policy.AUTOMATIC,
                )
                rows.append(
                    {
                        "collective": collective,
                        "p": p,
                        "nbytes": nbytes,
                        "times": {a: c.time for a, c in cost.items()},
                        "messages": {a: c.messages for a, c in cost.items()},
                        "bytes_per_rank": {a: c.bytes_per_rank for a, c in cost.items()},
                        "model_pick": best,
                        "select_pick": chosen,
                        "select_over_best": cost[chosen].time / cost[best].time,
                    }
                )
    return rows


# -- 4. 64 real ranks ------------------------------------------------------------------


def big_run(ranks: int, timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "scale_big.py"
        script.write_text(BIG_PROGRAM)
        t0 = time.time()
        try:
            got = _job(f"{ranks} ranks", _launch(ranks, timeout, script), timeout)
        except RuntimeError as e:
            return {"ranks": ranks, "ok": False, "error": str(e)[-800:], "wall": time.time() - t0}
        wall = time.time() - t0
    return {
        "ranks": ranks,
        "ok": True,
        "rank0_main": got["main"] - t0,  # launch to rank 0 in its main
        "startup": got["barrier"] - t0,  # launch to every rank through a barrier
        "barrier": got["barrier"] - got["main"],
        "allreduce": got["allreduce"] - got["barrier"],
        "wall": wall,
    }


# -- 5. connections per rank ------------------------------------------------------------


def sockets_table() -> list[dict[str, Any]]:
    return [
        {
            "p": p,
            "ring": 2,
            "binary tree": 3,
            "2-D mesh": 4,
            "log peers (dissemination, Bruck)": 2 * math.ceil(math.log2(p)),
            "all-to-all": p - 1,
        }
        for p in SOCKET_P
    ]


# -- report -----------------------------------------------------------------------------


def _pct(x: float) -> str:
    return f"{x * 100:+.0f}%"


def report(res: dict[str, Any]) -> str:
    m = res["model"]
    lines = [
        "# scale: collectives priced by simulation",
        "",
        f"Machine: {res['machine']}",
        "",
        "## Model (alpha-beta-gamma) fitted on this machine",
        "",
        f"- alpha = {m['alpha'] * 1e6:.1f} µs per message"
        " (zmqmesh ping-pong, 8 B .. 16 MiB, least squares on relative error)",
        f"- beta = {m['beta'] * 1e9:.3f} ns per byte ({1 / m['beta'] / 1e9:.2f} GB/s; same fit)",
        f"- gamma = {m['gamma'] * 1e9:.3f} ns per byte (np.add of 16 MiB float64)",
        "",
        "Ping-pong half round trips: "
        + ", ".join(f"{_fmt_bytes(s)} {_fmt_time(t)}" for s, t in res["pingpong"].items()),
        "",
        "## Model against measured (real zmqmesh, this machine)",
        "",
        "Error = (model - measured) / measured. With more ranks than cores the"
        " ranks share CPUs, which the model (one rank per core) does not see.",
        "",
        "| ranks | collective | algorithm | size | measured | model | error |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in res["errors"]:
        lines.append(
            f"| {r['ranks']} | {r['collective']} | {r['algorithm']} | {_fmt_bytes(r['nbytes'])} "
            f"| {_fmt_time(r['measured'])} | {_fmt_time(r['model'])} | {_pct(r['error'])} |"
        )
    by_p: dict[int, list[float]] = {}
    by_c: dict[str, list[float]] = {}
    for r in res["errors"]:
        by_p.setdefault(r["ranks"], []).append(abs(r["error"]))
        by_c.setdefault(r["collective"], []).append(abs(r["error"]))
    lines += [
        "",
        "Median |error| by ranks: "
        + ", ".join(f"{p}: {statistics.median(e) * 100:.0f}%" for p, e in sorted(by_p.items()))
        + "; by collective: "
        + ", ".join(f"{c} {statistics.median(e) * 100:.0f}%" for c, e in by_c.items()),
        "",
        "## Predictions (model)",
        "",
        "Time per call per algorithm; `model` is the cheapest, `select` what"
        " `plan` runs (and its time over the cheapest).",
        "",
        "| collective | p | size | algorithms | model | select | select/best |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in res["predictions"]:
        times = ", ".join(f"{a} {_fmt_time(t)}" for a, t in r["times"].items())
        mark = "" if r["model_pick"] == r["select_pick"] else " **differs**"
        lines.append(
            f"| {r['collective']} | {r['p']:,} | {_fmt_bytes(r['nbytes'])} | {times} "
            f"| {r['model_pick']} | {r['select_pick']}{mark} | {r['select_over_best']:.2f}x |"
        )
    big = res["big"]
    lines += ["", f"## {big['ranks']} real ranks on this machine", ""]
    if big["ok"]:
        lines += [
            f"- launch to rank 0 in main: {big['rank0_main']:.2f} s",
            f"- start-up (launch to every rank through the first barrier): {big['startup']:.2f} s",
            f"- that first barrier: {big['barrier'] * 1e3:.1f} ms; then one 64 B allreduce:"
            f" {big['allreduce'] * 1e3:.1f} ms (model: "
            f"{_fmt_time(big['model_barrier'])} and {_fmt_time(big['model_allreduce'])},"
            " for 64 cores)",
            f"- whole launch, exit included: {big['wall']:.2f} s",
        ]
    else:
        lines += [f"Did not finish: {big['error']}"]
    lines += [
        "",
        "## Connections per rank by topology (computed)",
        "",
        f"One ZeroMQ connection is one file descriptor; the usual default limit is {FD_LIMIT}.",
        "",
        "| p | ring | binary tree | 2-D mesh | log peers (dissemination, Bruck) | all-to-all |",
        "|---|---|---|---|---|---|",
    ]
    for r in res["sockets"]:
        a2a = f"{r['all-to-all']:,}" + (" (over the limit)" if r["all-to-all"] > FD_LIMIT else "")
        lines.append(
            f"| {r['p']:,} | {r['ring']} | {r['binary tree']} | {r['2-D mesh']} "
            f"| {r['log peers (dissemination, Bruck)']} | {a2a} |"
        )
    return "\n".join(lines) + "\n"


def plot(res: dict[str, Any], path: Path) -> bool:
    """allreduce time against p, a line per algorithm (the model) and a
    cross per real run of that algorithm (step 2), a panel per size; False,
    with a note, when matplotlib is not installed."""
    plt = pyplot("scale.png")
    if plt is None:
        return False
    model = Model(**res["model"])
    ps = [2**k for k in range(1, 18)]  # powers of two: off them the curves jump
    fig, axes = plt.subplots(1, len(PREDICT_SIZES), figsize=(15, 4.5))
    for ax, nbytes in zip(axes, PREDICT_SIZES, strict=True):
        for i, a in enumerate(ALGORITHMS["allreduce"]):
            ts = [predict("allreduce", a, p, nbytes, model).time for p in ps]
            ax.plot(ps, ts, color=f"C{i}", label=f"{a} (model)")
            real = [
                (e["ranks"], e["measured"])
                for e in res["errors"]
                if e["collective"] == "allreduce" and e["algorithm"] == a and e["nbytes"] == nbytes
            ]
            if real:
                ax.scatter(*zip(*real, strict=True), color=f"C{i}", marker="x", label=f"{a} (run)")
        ax.set_xscale("log")
        time_axis(ax)
        ax.set_title(f"allreduce {_fmt_bytes(nbytes)}")
        ax.set_xlabel("ranks (p)")
        ax.set_ylabel("time")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8)
    m = res["model"]
    fig.suptitle(
        f"scale: alpha {m['alpha'] * 1e6:.1f} µs, beta {m['beta'] * 1e9:.3f} ns/B, "
        f"gamma {m['gamma'] * 1e9:.3f} ns/B (fitted here); crosses: real runs on this machine"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench scale", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="sizes 8 B and 64 KiB only for the check")
    ap.add_argument("--ranks", default=",".join(map(str, MEASURE_RANKS)))
    ap.add_argument("--big-ranks", type=int, default=BIG_RANKS, help="0: skip the real big run")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per job")
    ap.add_argument("--out", default=str(HERE / "results"))
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    sizes = QUICK_MEASURE_SIZES if a.quick else MEASURE_SIZES
    try:
        alpha, beta, pingpong = fit_alpha_beta(a.timeout)
    except RuntimeError as e:
        print(e, file=sys.stderr)
        return 1
    model = Model(alpha, beta, fit_gamma())
    print(
        f"model: alpha {alpha * 1e6:.1f} µs, beta {beta * 1e9:.3f} ns/B, gamma "
        f"{model.gamma * 1e9:.3f} ns/B",
        flush=True,
    )
    measured: dict[int, dict[str, dict[int, float]]] = {}
    failed = []
    for ranks in (int(x) for x in a.ranks.split(",") if x):
        try:
            measured[ranks] = measure(ranks, sizes, a.timeout)
        except RuntimeError as e:
            failed.append(str(e))
            print(e, file=sys.stderr)
        print(f"measured {ranks} ranks", flush=True)
    big: dict[str, Any] = {"ranks": a.big_ranks, "ok": False, "error": "skipped (--big-ranks 0)"}
    if a.big_ranks:
        big = big_run(a.big_ranks, min(a.timeout, 180))
        big["model_barrier"] = predict("barrier", "dissemination", a.big_ranks, 0, model).time
        big["model_allreduce"] = predict(
            "allreduce", "recursive_doubling", a.big_ranks, 64, model
        ).time
        print(f"{a.big_ranks} ranks: {'ok' if big['ok'] else 'failed'}", flush=True)
    res = {
        "machine": _machine(),
        "model": {"alpha": alpha, "beta": beta, "gamma": model.gamma},
        "pingpong": pingpong,
        "errors": model_errors(model, measured),
        "predictions": predictions(model),
        "big": big,
        "sockets": sockets_table(),
        "failed": failed,
    }
    (out / "scale.json").write_text(json.dumps(res, indent=1))
    (out / "scale.md").write_text(report(res))
    if plot(res, out / "scale.png"):
        print(f"wrote {out / 'scale.png'}")
    print(f"wrote {out / 'scale.md'}")
    return 1 if failed or (a.big_ranks and not big["ok"]) else 0
