"""scale suite: the collectives priced for p = 64 .. 100,000 by simulation.

1. Fits the model of ``zmqmesh.collectives.simulate`` to this machine:
   alpha and beta from a zmqmesh ping-pong between two ranks
   (``pingpong_zmqmesh.py``), gamma from a timed ``np.add`` of 16 MiB.
2. Runs real zmqmesh allreduce, bcast, allgather and alltoall (each
   algorithm forced in turn) and barrier on 2, 4 and 8 ranks
   (``coll_zmqmesh.py``), fits what the ping-pong cannot see to them (the
   software cost per message and per call, from the runs with a core per
   rank; how much sharing cores slows, from the others), and gives model
   against measured, before and after that fit.
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
import dataclasses
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.jobs import _fmt_bytes, _fmt_time, _machine, launch_cmd
from bench.plots import pyplot, time_axis
from bench.scale_measure import (
    Measured,
    fit_gamma,
    measure,
    median_errors,
    median_of,
    model_errors,
    pingpong,
    run_job,
    samples,
)
from zmqmesh.collectives import plan as policy
from zmqmesh.collectives.fit import fit, fit_alpha_beta, held_out
from zmqmesh.collectives.simulate import ALGORITHMS, Model, predict

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

MEASURE_RANKS = (2, 4, 8)
MEASURE_SIZES = (8, 65536, 1048576)
# one size where latency dominates and one where bytes do: the per-byte
# cost fitted to 8 B and 64 KiB alone came out three times too high
QUICK_MEASURE_SIZES = (8, 1048576)
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


# -- 3. predictions ------------------------------------------------------------------


def predictions(model: Model) -> list[dict[str, Any]]:
    rows = []
    for collective, algorithms in ALGORITHMS.items():
        sizes = (0,) if collective == "barrier" else PREDICT_SIZES
        for p in PREDICT_P:
            for nbytes in sizes:
                cost = {a: predict(collective, a, p, nbytes, model) for a in algorithms}
                best = min(cost, key=lambda a: cost[a].time)
                chosen, blind = (
                    policy.plan(
                        collective,
                        kind="general",
                        size=p,
                        nbytes=nbytes if known else 0,
                        segmentable=known,
                        config=policy.AUTOMATIC,
                    )
                    for known in (True, False)
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
                        "blind_pick": blind,
                        "blind_over_best": cost[blind].time / cost[best].time,
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
            got = run_job(f"{ranks} ranks", launch_cmd(ranks, timeout, script), timeout)
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
    rows = res["errors"]
    before, after = median_errors(rows, "ping-pong"), median_errors(rows, "fit")
    rounds = f", medians over {res['rounds']} rounds" if res["rounds"] > 1 else ""
    lines = [
        "# scale: collectives priced by simulation",
        "",
        f"Machine: {res['machine']}",
        "",
        "## Model fitted on this machine",
        "",
        f"- alpha = {m['alpha'] * 1e6:.1f} µs per message"
        " (zmqmesh ping-pong, 8 B .. 16 MiB, least squares on relative error)",
        f"- beta = {m['beta'] * 1e9:.3f} ns per byte ({1 / m['beta'] / 1e9:.2f} GB/s; same fit)",
        f"- gamma = {m['gamma'] * 1e9:.3f} ns per byte (np.add of 16 MiB float64)",
        f"- step = {m['step'] * 1e6:.1f} µs per message, copy = {m['copy'] * 1e9:.3f} ns"
        f" per byte and call = {m['call'] * 1e6:.1f} µs per call: what collectives cost"
        " beyond the ping-pong (least absolute relative error over the runs below with a"
        " core per rank)",
        f"- share = {m['share']:.2f} and share_bytes = {m['share_bytes']:.2f}: with p ranks"
        f" on {m['cores']} cores the costs per message and per call are"
        f" 1 + share (p / {m['cores']} - 1) times as long, those per byte"
        f" 1 + share_bytes (p / {m['cores']} - 1) times (least absolute log error over"
        " the runs with more ranks than cores)",
        "",
        "Ping-pong half round trips: "
        + ", ".join(f"{_fmt_bytes(int(s))} {_fmt_time(t)}" for s, t in res["pingpong"].items()),
        "",
        "## Model against measured (real zmqmesh, this machine)",
        "",
        f"Error = (model - measured) / measured{rounds}. Measured: every cell of a"
        " rank count in one job, interleaved (`coll_cells.py`), so load from other"
        " processes hits them alike. `ping-pong`: alpha, beta and gamma alone, a core"
        " per rank; `fit`: with step, copy, call and the shares.",
        "",
        "| ranks | collective | algorithm | size | measured | ping-pong | error | fit | error |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['ranks']} | {r['collective']} | {r['algorithm']} | {_fmt_bytes(r['nbytes'])} "
            f"| {_fmt_time(r['measured'])} | {_fmt_time(r['ping-pong'])}"
            f" | {_pct(r['ping-pong_error'])} | {_fmt_time(r['fit'])} | {_pct(r['fit_error'])} |"
        )
    by_c: dict[str, list[float]] = {}
    for r in rows:
        by_c.setdefault(r["collective"], []).append(abs(r["fit_error"]))
    lines += [
        "",
        "Median |error| by ranks, ping-pong alone -> fit: "
        + ", ".join(f"{p}: {before[p] * 100:.0f}% -> {after[p] * 100:.0f}%" for p in after)
        + "; fit, by collective: "
        + ", ".join(f"{c} {statistics.median(e) * 100:.0f}%" for c, e in by_c.items())
        + ".",
        "",
        "Held out (step, copy and call fitted without the collective, median |error| on it"
        " with a core per rank): "
        + ", ".join(f"{c} {e * 100:.0f}%" for c, e in res["held_out"].items())
        + ".",
        "",
        "## Predictions (model)",
        "",
        "Time per call per algorithm, a core per rank; `model` is the cheapest,"
        " `select` what `plan` runs for arrays that every rank knows the size of"
        " (and its time over the cheapest); `blind`, where it differs, what `plan`"
        " runs when the size is not known alike (objects, and alltoall's items today).",
        "",
        "| collective | p | size | algorithms | model | select | select/best | blind |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in res["predictions"]:
        times = ", ".join(f"{a} {_fmt_time(t)}" for a, t in r["times"].items())
        mark = "" if r["model_pick"] == r["select_pick"] else " **differs**"
        blind = ""
        if r["blind_pick"] != r["select_pick"]:
            blind = f"{r['blind_pick']} ({r['blind_over_best']:.2f}x)"
        lines.append(
            f"| {r['collective']} | {r['p']:,} | {_fmt_bytes(r['nbytes'])} | {times} "
            f"| {r['model_pick']} | {r['select_pick']}{mark} | {r['select_over_best']:.2f}x "
            f"| {blind} |"
        )
    big = res["big"]
    lines += ["", f"## {big['ranks']} real ranks on this machine", ""]
    if big["ok"]:
        lines += [
            f"- launch to rank 0 in main: {big['rank0_main']:.2f} s",
            f"- start-up (launch to every rank through the first barrier): {big['startup']:.2f} s",
            f"- that first barrier: {big['barrier'] * 1e3:.1f} ms; then one 64 B allreduce:"
            f" {big['allreduce'] * 1e3:.1f} ms (model: "
            f"{_fmt_time(big['shared_barrier'])} and {_fmt_time(big['shared_allreduce'])}"
            f" on this machine's {m['cores']} cores; {_fmt_time(big['model_barrier'])} and"
            f" {_fmt_time(big['model_allreduce'])} with a core per rank)",
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
    model = dataclasses.replace(Model(**res["model"]), cores=0)  # a core per rank
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
    ap.add_argument("--quick", action="store_true", help="sizes 8 B and 1 MiB only for the check")
    ap.add_argument("--ranks", default=",".join(map(str, MEASURE_RANKS)))
    ap.add_argument(
        "--rounds", type=int, default=1, help="runs of the ping-pong and check; medians over them"
    )
    ap.add_argument("--big-ranks", type=int, default=BIG_RANKS, help="0: skip the real big run")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per job")
    ap.add_argument("--out", default=str(HERE / "results"))
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    sizes = QUICK_MEASURE_SIZES if a.quick else MEASURE_SIZES
    pingpongs: list[dict[int, float]] = []
    runs: list[Measured] = []
    failed = []
    for k in range(a.rounds):
        try:
            pingpongs.append(pingpong(a.timeout))
        except RuntimeError as e:
            print(e, file=sys.stderr)
            return 1
        run: Measured = {}
        for ranks in (int(x) for x in a.ranks.split(",") if x):
            try:
                run[ranks] = measure(ranks, sizes, a.timeout)
            except RuntimeError as e:
                failed.append(str(e))
                print(e, file=sys.stderr)
            print(f"round {k + 1}: measured {ranks} ranks", flush=True)
        runs.append(run)
    pp = {n: statistics.median(run[n] for run in pingpongs) for n in pingpongs[0]}
    measured = median_of(runs)
    alpha, beta = fit_alpha_beta(pp)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    base = Model(alpha, beta, fit_gamma(), cores=cores or 1)
    model = fit(base, samples(measured))
    alone = dataclasses.replace(model, cores=0)  # a core per rank: what scale means
    print(
        f"model: alpha {alpha * 1e6:.1f} µs, beta {beta * 1e9:.3f} ns/B, gamma "
        f"{model.gamma * 1e9:.3f} ns/B, step {model.step * 1e6:.1f} µs, copy "
        f"{model.copy * 1e9:.3f} ns/B, call "
        f"{model.call * 1e6:.1f} µs, share {model.share:.2f} (bytes {model.share_bytes:.2f})"
        f" of {model.cores} cores",
        flush=True,
    )
    big: dict[str, Any] = {"ranks": a.big_ranks, "ok": False, "error": "skipped (--big-ranks 0)"}
    if a.big_ranks:
        big = big_run(a.big_ranks, min(a.timeout, 180))
        for name, m in (("model", alone), ("shared", model)):
            big[f"{name}_barrier"] = predict("barrier", "dissemination", a.big_ranks, 0, m).time
            big[f"{name}_allreduce"] = predict(
                "allreduce", "recursive_doubling", a.big_ranks, 64, m
            ).time
        print(f"{a.big_ranks} ranks: {'ok' if big['ok'] else 'failed'}", flush=True)
    res = {
        "machine": _machine(),
        "rounds": a.rounds,
        "model": dataclasses.asdict(model),
        "pingpong": pp,
        "measured": measured,
        "errors": model_errors(
            {"ping-pong": dataclasses.replace(base, cores=0), "fit": model}, measured
        ),
        "held_out": held_out(base, samples(measured)),
        "predictions": predictions(alone),
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
