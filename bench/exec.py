"""exec suite: zmqmesh's work-stealing ``Executor`` beside Dask distributed,
Ray and ``concurrent.futures.ProcessPoolExecutor``, each on the same number
of worker processes (``--workers``, default 2).

Measures no-op task throughput (submitted one by one, and by map),
single-task round trips, efficiency under a skewed load of busy-wait tasks
(beside the same load split in advance over as many plain processes, the
yardstick when workers outnumber cores), tasks that each receive a 16 MiB
array, the start-up time to the first result, and the workers' memory.
Every job (one peer, one round) runs in a process of its own, and the jobs
are interleaved round by round (the order rotating each round), so machine
noise hits all of them alike. A cell is the median over rounds. A peer that
is not installed is skipped and the report says so. Writes ``exec.md`` and
``exec.json`` (and ``exec.png`` when matplotlib is installed) to ``--out``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import zmq

import zmqmesh
from bench.coll_common import snapshot_zmqmesh
from bench.jobs import (
    Launch,
    _machine,
    _run,
    _version,
    _zmqmesh_source,
    failure_lines,
    run_notes,
    run_record,
)
from bench.plots import pyplot, ratio_axis

HERE = Path(__file__).resolve().parent

PEERS = ("dask", "ray", "ppe")
LABELS = {
    "zmqmesh": "zmqmesh",
    "dask": "Dask",
    "ray": "Ray",
    "ppe": "ProcessPool",
    "split": "no scheduler",
}
NEEDS = {"dask": ("dask", "distributed"), "ray": ("ray",), "ppe": ()}
INSTALL = {"dask": "pip install 'dask[distributed]'", "ray": "pip install ray"}
TASKS, QUICK_TASKS = "10000,100000", "10000"


def _fmt_rate(x: float) -> str:
    return f"{x:,.0f}/s" if x >= 100 else f"{x:,.1f}/s"


def _fmt_time(s: float) -> str:
    if s >= 1:
        return f"{s:,.2f} s"
    return f"{s * 1e6:,.0f} µs" if s < 1e-3 else f"{s * 1e3:,.2f} ms"


def _fmt_mib(b: float) -> str:
    return f"{b / 2**20:,.0f} MiB"


def rows(tasks: list[int], skewed: int, n_arrays: int, array_bytes: int) -> list[tuple]:
    """The table's rows: (key, label, formatter, higher is better)."""
    out: list[tuple] = []
    for how in ("submit", "map"):
        for n in tasks:
            out.append((f"{how} {n}", f"no-op tasks, {how}, {n:,} tasks", _fmt_rate, True))
    mib = f"{array_bytes / 2**20:g} MiB" if array_bytes >= 2**20 else f"{array_bytes} B"
    return [
        *out,
        ("latency", "round trip of one no-op task", _fmt_time, False),
        ("efficiency", f"skewed load efficiency ({skewed} tasks)", "{:.3f}".format, True),
        ("makespan", "skewed load makespan", _fmt_time, False),
        (
            "mix_efficiency",
            f"mixed load efficiency ({skewed} tasks of 1/5/10/50 ms, 70/20/8/2%)",
            "{:.3f}".format,
            True,
        ),
        ("mix_makespan", "mixed load makespan", _fmt_time, False),
        ("arrays", f"{mib} array tasks ({n_arrays} tasks)", _fmt_rate, True),
        ("tree", "tree reduction, 10,000 leaves (graph tasks/s)", _fmt_rate, True),
        ("chain", "chain of 100 tasks passing 16 MiB arrays", _fmt_time, False),
        ("chain_root_bytes", "chain: bytes of values through the root", _fmt_mib, False),
        ("actor_seq", "actor calls, 1,000 awaited one by one", _fmt_rate, True),
        ("actor_pipe", "actor calls, 10,000 pipelined", _fmt_rate, True),
        ("startup", "start-up to first result", _fmt_time, False),
        ("worker_rss", "worker RSS (mean per worker)", _fmt_mib, False),
        ("job_pss", "PSS of all the job's processes", _fmt_mib, False),
    ]


def per_round_values(res: dict[str, Any]) -> dict[str, float]:
    """One job's results as the table's keys: one number each."""
    v = {f"{how} {n}": r for how in ("submit", "map") for n, r in res[how].items()}
    v["latency"] = statistics.median(res["latency"])
    v["worker_rss"] = statistics.fmean(res["worker_rss"])
    keys = ("efficiency", "makespan", "mix_efficiency", "mix_makespan", "arrays", "startup")
    for k in (*keys, "job_pss"):
        v[k] = res[k]
    for k in ("tree", "chain", "chain_root_bytes", "actor_seq", "actor_pipe"):
        if k in res:
            v[k] = res[k]
    return v


def jobs(peers: list[str], workers: int, timeout: float) -> list[tuple[str, Launch]]:
    """(name, launch) per job of a round; ``Launch.command`` takes the job's
    options."""

    def zmqmesh_cmd(opts: list[str]) -> list[str]:
        return [
            sys.executable,
            "-m",
            "zmqmesh",
            "launch",
            "-n",
            str(workers + 1),
            "--no-prefix",
            "--timeout",
            str(math.ceil(timeout)),
            str(HERE / "exec_zmqmesh.py"),
            *opts,
        ]

    out = [("zmqmesh", Launch("zmqmesh", [], zmqmesh_cmd, {}))]
    for peer in peers:

        def peer_cmd(opts: list[str], peer: str = peer) -> list[str]:
            return [sys.executable, str(HERE / "exec_peers.py"), "--peer", peer, *opts]

        env = {"RAY_USAGE_STATS_ENABLED": "0"} if peer == "ray" else {}
        out.append((peer, Launch(LABELS[peer], [], peer_cmd, {}, env=env)))

    def split_cmd(opts: list[str]) -> list[str]:
        return [sys.executable, str(HERE / "exec_peers.py"), "--split", *opts]

    return [*out, ("split", Launch(LABELS["split"], [], split_cmd, {}))]


def table_lines(
    cols: list[str],
    med: dict[str, dict[str, float]],
    over_budget: dict[str, dict[str, float]],
    row_defs: list[tuple],
    cell_budget: float,
) -> list[str]:
    """The markdown table of medians and ratios, and its footnote on skipped cells."""
    peer_cols = [c for c in cols if c != "zmqmesh"]
    lines: list[str] = []
    head = [
        "metric",
        *(LABELS[c] for c in cols),
        *(f"zmqmesh / {LABELS[c]}" for c in peer_cols),
        "zmqmesh ahead",
    ]
    lines += ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 2) + ":---:|"]
    notes: list[str] = []
    for key, label, fmt, higher in row_defs:
        cells = []
        for c in cols:
            if key in med[c]:
                cells.append(fmt(med[c][key]))
            elif key in over_budget.get(c, {}):
                est = over_budget[c][key]
                cells.append("skipped¹")
                notes.append(f"{LABELS[c]}, {label}: predicted {est:,.0f} s")
            elif c == "ray" and key.startswith("map"):
                cells.append("n/a²")
            else:
                cells.append("n/a")
        for c in peer_cols:
            z, q = med.get("zmqmesh", {}).get(key), med[c].get(key)
            cells.append(f"{z / q:.2f}x" if z is not None and q else "n/a")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {'> 1' if higher else '< 1'} |")
    lines.append("")
    if notes:
        lines += [
            f"¹ Not run: the time predicted from the rate at the count before exceeds "
            f"`--cell-budget` ({cell_budget:g} s): " + "; ".join(sorted(set(notes))) + ".",
            "",
        ]
    return lines


def plot(path: Path, table: dict[str, dict[str, float]], row_defs: list[tuple], title: str) -> bool:
    """A bar per metric and peer: how many times better zmqmesh is (the
    ratio turned so that above 1 always means zmqmesh ahead); False, with a
    note, when matplotlib is not installed or no peer ran beside zmqmesh."""
    z = table.get("zmqmesh", {})
    peers = [p for p in table if p != "zmqmesh"]
    keys = [r for r in row_defs if r[0] in z and any(r[0] in table[p] for p in peers)]
    if not keys:
        print("exec: no peer measured beside zmqmesh, no exec.png", file=sys.stderr)
        return False
    plt = pyplot("exec.png")
    if plt is None:
        return False
    fig, ax = plt.subplots(figsize=(9, 0.3 * len(keys) * len(peers) + 1.8))
    height = 0.8 / len(peers)
    for i, p in enumerate(peers):
        ys, xs = [], []
        for j, (key, _label, _fmt, higher) in enumerate(keys):
            if key in table[p] and table[p][key] > 0 and z[key] > 0:
                q = z[key] / table[p][key]
                ys.append(j + i * height)
                xs.append(q if higher else 1 / q)
        # from 1 to the ratio, so a bar's direction says who is ahead
        bars = ax.barh(ys, [x - 1 for x in xs], left=1, height=height, label=LABELS[p])
        ax.bar_label(bars, labels=[f"{x:.2g}x" for x in xs], padding=3, fontsize=8)
    ax.set_yticks([j + height * (len(peers) - 1) / 2 for j in range(len(keys))])
    ax.set_yticklabels([r[1] for r in keys])
    ax.invert_yaxis()
    ratio_axis(ax, "x", (1.0, 2.0, 5.0))
    ax.margins(x=0.15)
    ax.axvline(1, color="black", linewidth=0.8)
    ax.set_xlabel("times better for zmqmesh (above 1: zmqmesh ahead)")
    ax.set_title(title, fontsize=10)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench exec", description=__doc__)
    p.add_argument("--quick", action="store_true", help="2 rounds, 10,000 no-op tasks only")
    p.add_argument("--peers", default=",".join(PEERS), help="of dask,ray,ppe (default all)")
    p.add_argument("--workers", type=int, default=2, help="worker processes for everyone (2)")
    p.add_argument("--rounds", type=int, default=None, help="default 3 (--quick 2)")
    p.add_argument(
        "--tasks", default=None, help=f"no-op task counts ({TASKS}; --quick {QUICK_TASKS})"
    )
    p.add_argument("--latency", type=int, default=None, help="round trips per job (500; 200)")
    p.add_argument(
        "--cell-budget",
        type=float,
        default=90,
        help="seconds: a peer skips a no-op count predicted to take longer (90)",
    )
    p.add_argument("--timeout", type=float, default=600, help="seconds per job (default 600)")
    p.add_argument("--out", default=str(HERE / "results"))
    a = p.parse_args(argv)
    rounds = a.rounds or (2 if a.quick else 3)
    tasks = sorted(int(n) for n in (a.tasks or (QUICK_TASKS if a.quick else TASKS)).split(","))
    latency = a.latency or (200 if a.quick else 500)
    skewed, n_arrays, array_bytes = 400, 20, 16 * 2**20
    peers = [x for x in a.peers.split(",") if x]
    for x in peers:
        if x not in PEERS:
            p.error(f"unknown peer {x!r}; choose among {', '.join(PEERS)}")
    if a.workers < 1:
        p.error("--workers must be at least 1")

    skipped: dict[str, str] = {}
    for x in list(peers):
        missing = [m for m in NEEDS[x] if importlib.util.find_spec(m) is None]
        if missing:
            skipped[LABELS[x]] = f"{', '.join(missing)} not installed ({INSTALL[x]})"
            peers.remove(x)
    for name, why in skipped.items():
        print(f"skipping {name}: {why}", file=sys.stderr)

    opts = [
        "--workers",
        str(a.workers),
        "--tasks",
        ",".join(map(str, tasks)),
        "--latency",
        str(latency),
        "--skewed",
        str(skewed),
        "--arrays",
        str(n_arrays),
        "--array-bytes",
        str(array_bytes),
        "--cell-budget",
        str(a.cell_budget),
    ]
    todo = jobs(peers, a.workers, a.timeout)
    per_round: dict[str, dict[str, list[float]]] = {name: {} for name, _ in todo}
    raw: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in todo}
    meta: dict[str, Any] = {}
    over_budget: dict[str, dict[str, float]] = {}
    split: list[float] = []
    split_mix: list[float] = []
    failures: list[str] = []
    commit, source_before = _zmqmesh_source()
    snapshot = snapshot_zmqmesh("exec")
    t_start = time.monotonic()
    try:
        for r in range(rounds):
            k = r % len(todo)
            for name, launch in todo[k:] + todo[:k]:
                cmd = launch.command([*opts, "--t0", repr(time.time())])
                got, err = _run(launch, cmd, a.timeout, snapshot)
                if got is None:
                    msg = f"round {r + 1}, {LABELS[name]}: {err.strip()}"
                    failures.append(msg)
                    print(f"FAILED {msg}", file=sys.stderr)
                    continue
                meta.setdefault(name, got["meta"])
                res = got["results"]
                raw[name].append(res)
                if name == "split":  # the skewed load's reference: not a column
                    split.append(res["efficiency"])
                    split_mix.append(res["mix_efficiency"])
                    continue
                for key, val in per_round_values(res).items():
                    per_round[name].setdefault(key, []).append(val)
                for key, est in res.get("over_budget", {}).items():
                    over_budget.setdefault(name, {})[key] = est
            elapsed = time.monotonic() - t_start
            print(f"round {r + 1}/{rounds} done ({elapsed:.0f} s)", file=sys.stderr)
    finally:
        shutil.rmtree(snapshot, ignore_errors=True)
    med = {n: {k: statistics.median(v) for k, v in d.items()} for n, d in per_round.items()}
    source_changed = _zmqmesh_source()[1] != source_before

    # -- report ---------------------------------------------------------------------
    versions = [
        f"Python {platform.python_version()}",
        f"NumPy {np.__version__}",
        f"pyzmq {zmq.pyzmq_version()}",
        f"libzmq {zmq.zmq_version()}",
        f"zmqmesh {zmqmesh.__version__}" + (f" ({commit})" if commit else ""),
    ]
    for dist in ("dask", "distributed", "ray"):
        if any(dist in NEEDS[x] for x in peers) and (v := _version(dist)):
            versions.append(f"{dist} {v}")
    cmd_line = "python -m bench exec" + "".join(f" {w}" for w in argv)
    cols = [name for name, _ in todo if med.get(name) and name != "split"]
    row_defs = rows(tasks, skewed, n_arrays, array_bytes)
    lines = [
        f"# exec: task executors, {a.workers} worker process{'es' * (a.workers != 1)} each, "
        "on one host",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')} · {_machine()}",
        "",
        " · ".join(versions),
        "",
        f"Command: `{cmd_line}` — {rounds} round{'s' * (rounds != 1)}, each running every "
        "column's job once in a process of its own (the order rotating each round); "
        "cells are medians over rounds (for the round trip, of per-round medians over "
        f"{latency} calls). The ratio columns are zmqmesh's number over the peer's; "
        "the column *zmqmesh ahead* says which side of 1 favours zmqmesh (> 1 for "
        "rates and efficiency, < 1 for times and memory).",
        "",
        "Workers: "
        + "; ".join(
            {
                "zmqmesh": f"zmqmesh `launch -n {a.workers + 1}` (root rank 0 submits, "
                f"ranks 1-{a.workers} run tasks)",
                "dask": f"Dask `LocalCluster(n_workers={a.workers}, threads_per_worker=1, "
                "processes=True)`",
                "ray": f"Ray `ray.init(num_cpus={a.workers})`",
                "ppe": f"`ProcessPoolExecutor({a.workers})`",
            }[c]
            for c in cols
        )
        + ". See bench/README.md for each row's calls.",
        "",
    ]
    cores = os.cpu_count() or 1
    if a.workers + 1 > cores:
        lines += [
            f"{a.workers} workers plus the submitting process on {cores} cores: the "
            "submitter shares a core with the workers in every column.",
            "",
        ]
    lines += run_notes(source_changed, source_before, skipped)

    if cols:
        lines += table_lines(cols, med, over_budget, row_defs, a.cell_budget)
    else:
        lines += ["No job finished: no table.", ""]
    if split:
        lines += [
            f"The skewed loads without a scheduler: the same {skewed} costs dealt in advance "
            f"into {a.workers} parts of equal total time (longest first), each busy-waited by "
            "a process of its own in its own session (as the launcher starts ranks), with no "
            f"messages, had efficiency {statistics.median(split):.3f} (median of "
            f"{len(split)}: {', '.join(f'{x:.3f}' for x in split)}), and "
            f"{statistics.median(split_mix):.3f} for the mixed load "
            f"({', '.join(f'{x:.3f}' for x in split_mix)})."
            + (
                f" With more workers than cores ({cores} here) that, not 1, is the "
                "yardstick: the busy waits share the cores in time slices, and a task "
                "whose wait should end while its process waits for a core ends only when "
                "the process gets one back."
                if a.workers > cores
                else ""
            ),
            "",
        ]
    if "ray" in cols:
        lines += [
            "² Ray has no map over tasks; its skewed-load row uses its submit "
            "(`[f.remote(c) for c in costs]`).",
            "",
        ]
    procs = [
        f"{LABELS[c]} {raw[c][0]['job_procs']}" for c in cols if raw[c] and "job_procs" in raw[c][0]
    ]
    if procs:
        lines += ["Processes counted in the PSS row: " + ", ".join(procs) + ".", ""]
    if raw.get("zmqmesh"):
        st = raw["zmqmesh"][-1].get("stats", {})
        if st:
            lines += [
                "zmqmesh's executor stats for the last round's job (all its tasks): "
                + "; ".join(
                    f"rank {w}: run {s['run']:,}, stolen {s['stolen']:,}, given {s['given']:,}"
                    for w, s in st.items()
                ),
                "",
            ]
    lines += failure_lines(failures)

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    table = {c: med[c] for c in cols}
    title = f"exec: zmqmesh against each peer, {a.workers} workers\n{cmd_line}"
    if plot(out / "exec.png", table, row_defs, title):
        lines += ["Plot: `exec.png` (how many times better zmqmesh is, per row and peer).", ""]
    report = "\n".join(lines)
    (out / "exec.md").write_text(report)
    for res in (x for v in raw.values() for x in v):
        res.pop("latency", None)  # the per-round medians are kept instead
    settings = {
        "rounds": rounds,
        "workers": a.workers,
        "tasks": tasks,
        "latency_calls": latency,
        "skewed_tasks": skewed,
        "arrays": n_arrays,
        "array_bytes": array_bytes,
        "cell_budget": a.cell_budget,
    }
    record = run_record(cmd_line, versions, meta, settings, commit, source_before, source_changed)
    (out / "exec.json").write_text(
        json.dumps(
            {
                **record,
                "skipped": skipped,
                "failures": failures,
                "over_budget": over_budget,
                "median": {n: m for n, m in med.items() if n != "split"},
                "split_efficiency": split,
                "split_mix_efficiency": split_mix,
                "rounds": per_round,
                "jobs": raw,
            },
            indent=1,
        )
    )
    print(report)
    return 0 if not failures else 1
