"""coll suite: allreduce (SUM), bcast (root 0), barrier, allgather and
alltoall of float64 arrays on N ranks of one host, zmqmesh beside mpi4py
(MPICH; buffer and pickle APIs) and torch.distributed's gloo backend.

Peers run interleaved in rounds within one invocation, so machine noise hits
all of them alike. A cell is the median over rounds of per-round medians over
iterations, where an iteration's time is the slowest rank's (barrier, then
the timed call on every rank). A peer that is not installed is skipped, and
the report says so; ``--peers`` picks the peers. Writes ``coll.md``,
``coll.json`` and, when matplotlib is installed, ``coll.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
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
from bench.coll_common import OPS, snapshot_zmqmesh
from bench.jobs import (
    Launch,
    _fmt_bytes,
    _fmt_time,
    _machine,
    _mpiexec,
    _run,
    _zmqmesh_source,
    failure_lines,
    launch_cmd,
    run_notes,
    run_record,
)
from bench.plots import coll_plot

HERE = Path(__file__).resolve().parent

# how the report names each op
OP_TITLES = {
    "allreduce": "allreduce (SUM)",
    "bcast": "bcast (root 0)",
    "barrier": "barrier",
    "allgather": "allgather",
    "alltoall": "alltoall",
}
# what a table's "bytes" column means, per op
OP_SIZE_NOTES = {
    "allgather": "bytes: each rank's array; every rank gets all N.",
    "alltoall": "bytes: the chunk each rank sends to each rank (itself included), "
    "N chunks per rank.",
}
PEERS = ("zmqmesh", "mpi4py", "gloo")
SIZES = "8,1024,65536,1048576,16777216,67108864"
QUICK_SIZES = "8,65536,16777216"
ALGORITHMS = {
    "allreduce": ("recursive_doubling", "ring", "rabenseifner"),
    "bcast": ("binomial", "scatter_allgather"),
}
FORCE_ENV = {"allreduce": "ZMQMESH_ALLREDUCE", "bcast": "ZMQMESH_BCAST"}
TARGET_SIZE = 16 * 2**20
PEER_COLUMNS = ("mpi4py buffer", "mpi4py pickle", "gloo")
# (column, peer) pairs of the ratio columns: zmqmesh's time over the peer's
RATIOS = (("zmqmesh", "mpi4py buffer"), ("zmqmesh", "gloo"))


def _zmqmesh_ops(ops: list[str]) -> tuple[list[str], dict[str, str]]:
    """The ops this zmqmesh has, and why each other one is left out."""
    missing: dict[str, str] = {}
    for op in ops:
        if not hasattr(zmqmesh.Comm, op):
            missing[f"zmqmesh {op}"] = f"this zmqmesh has no Comm.{op}"
        elif op == "allreduce" and not hasattr(zmqmesh, "SUM"):
            missing["zmqmesh allreduce"] = "this zmqmesh has no zmqmesh.SUM"
    return [o for o in ops if f"zmqmesh {o}" not in missing], missing


def launches(
    ops: list[str], algorithms: bool, timeout: float, peers: tuple[str, ...] = PEERS
) -> tuple[list[Launch], dict[str, str]]:
    """The jobs of one round (of the ``peers`` asked for), and the peers
    skipped with the reason."""
    skipped: dict[str, str] = {}
    out: list[Launch] = []
    zops, missing = _zmqmesh_ops(ops) if "zmqmesh" in peers else ([], {})
    skipped.update(missing)

    def zmqmesh_cmd(n: int, opts: list[str]) -> list[str]:
        return launch_cmd(n, timeout, HERE / "coll_zmqmesh.py", *opts)

    if zops:
        out.append(
            Launch(
                "zmqmesh",
                zops,
                zmqmesh_cmd,
                {"zmqmesh": "zmqmesh"},
                unset=tuple(FORCE_ENV.values()),
            )
        )
        if algorithms:
            for op in zops:
                for alg in ALGORITHMS.get(op, ()):
                    out.append(
                        Launch(
                            f"zmqmesh {alg}",
                            [op],
                            zmqmesh_cmd,
                            {"zmqmesh": f"zmqmesh {alg}"},
                            env={FORCE_ENV[op]: alg},
                            unset=tuple(FORCE_ENV.values()),
                        )
                    )
    mpiexec = _mpiexec()
    if "mpi4py" in peers and importlib.util.find_spec("mpi4py") is None:
        skipped["mpi4py"] = "mpi4py is not installed (see bench/README.md)"
    elif "mpi4py" in peers and mpiexec is None:
        skipped["mpi4py"] = "no mpiexec on PATH (apt-get install mpich)"
    elif "mpi4py" in peers:
        out.append(
            Launch(
                "mpi4py",
                ops,
                lambda n, opts: [
                    mpiexec,
                    "-n",
                    str(n),
                    sys.executable,
                    str(HERE / "coll_mpi4py.py"),
                    *opts,
                    "--apis",
                    "buffer,pickle",
                ],
                {"buffer": "mpi4py buffer", "pickle": "mpi4py pickle"},
            )
        )
    if "gloo" in peers and importlib.util.find_spec("torch") is None:
        skipped["gloo"] = "torch is not installed (see bench/README.md)"
    elif "gloo" in peers:
        out.append(
            Launch(
                "gloo",
                ops,
                lambda n, opts: [
                    sys.executable,
                    str(HERE / "coll_gloo.py"),
                    "--nprocs",
                    str(n),
                    *opts,
                ],
                {"gloo": "gloo"},
            )
        )
    return out, skipped


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench coll", description=__doc__)
    p.add_argument("--quick", action="store_true", help="3 sizes, fewer rounds and iterations")
    p.add_argument("--ranks", default="2,4", help="rank counts, comma-separated (default 2,4)")
    p.add_argument("--sizes", default=None, help=f"bytes (default {SIZES}; --quick {QUICK_SIZES})")
    p.add_argument(
        "--ops", default=",".join(OPS), help=f"comma-separated (default {','.join(OPS)})"
    )
    p.add_argument(
        "--peers",
        default=",".join(PEERS),
        help=f"comma-separated among {','.join(PEERS)} (default all; one not installed "
        "is skipped with a note)",
    )
    p.add_argument(
        "--algorithms",
        action="store_true",
        help="also run each of zmqmesh's algorithms, forced with ZMQMESH_ALLREDUCE/_BCAST",
    )
    p.add_argument("--rounds", type=int, default=None, help="default 5 (--quick 3)")
    p.add_argument(
        "--budget", type=float, default=None, help="seconds of timed calls per cell (0.3; 0.1)"
    )
    p.add_argument(
        "--cell-limit",
        type=float,
        default=None,
        help="stop an op at a size whose first call, times the cell's calls, exceeds this "
        "many seconds (60; --quick 10; 0: never)",
    )
    p.add_argument("--timeout", type=float, default=900, help="seconds per job (default 900)")
    p.add_argument("--out", default=str(HERE / "results"))
    a = p.parse_args(argv)
    rounds = a.rounds or (3 if a.quick else 5)
    budget = a.budget or (0.1 if a.quick else 0.3)
    cell_limit = a.cell_limit if a.cell_limit is not None else (10.0 if a.quick else 60.0)
    min_iters, max_iters = (3, 300) if a.quick else (5, 2000)
    sizes = [int(s) for s in (a.sizes or (QUICK_SIZES if a.quick else SIZES)).split(",")]
    ranks = [int(n) for n in a.ranks.split(",")]
    ops = [o for o in a.ops.split(",") if o]
    for o in ops:
        if o not in OPS:
            p.error(f"unknown op {o!r}; choose among {', '.join(OPS)}")
    if any(s <= 0 or s % 8 for s in sizes):
        p.error("sizes are bytes of float64 arrays: positive multiples of 8")
    if any(n < 2 for n in ranks):
        p.error("rank counts must be at least 2")
    peers = tuple(x for x in a.peers.split(",") if x)
    for x in peers:
        if x not in PEERS:
            p.error(f"unknown peer {x!r}; choose among {', '.join(PEERS)}")

    jobs, skipped = launches(ops, a.algorithms, a.timeout, peers)
    for name, why in skipped.items():
        print(f"skipping {name}: {why}", file=sys.stderr)
    worker_opts = [
        "--sizes",
        ",".join(map(str, sizes)),
        "--budget",
        str(budget),
        "--cell-limit",
        str(cell_limit),
        "--min-iters",
        str(min_iters),
        "--max-iters",
        str(max_iters),
    ]
    # per_round[op][ranks][column][size] = per-round medians; iters alike
    per_round: dict[str, dict[int, dict[str, dict[int, list[float]]]]] = {
        op: {n: {} for n in ranks} for op in ops
    }
    iters: dict[str, dict[int, dict[str, dict[int, list[int]]]]] = {
        op: {n: {} for n in ranks} for op in ops
    }
    # cells stopped after their first call (--cell-limit): its seconds, per round
    over_limit: dict[str, dict[int, dict[str, dict[int, list[float]]]]] = {
        op: {n: {} for n in ranks} for op in ops
    }
    meta: dict[str, Any] = {}
    failures: list[str] = []
    commit, source_before = _zmqmesh_source()
    snapshot = snapshot_zmqmesh("coll")
    t_start = time.monotonic()
    try:
        for r in range(rounds):
            for n in ranks:
                # rotate the order each round: no peer always runs first
                k = r % len(jobs) if jobs else 0
                for job in jobs[k:] + jobs[:k]:
                    cmd = job.command(n, [*worker_opts, "--ops", ",".join(job.ops)])
                    t_job = time.monotonic()
                    got, err = _run(job, cmd, a.timeout, snapshot)
                    took = time.monotonic() - t_job
                    print(f"  {job.label}, {n} ranks: {took:.0f} s", file=sys.stderr)
                    if got is None:
                        msg = f"round {r + 1}, {n} ranks, {job.label}: {err.strip()}"
                        failures.append(msg)
                        print(f"FAILED {msg}", file=sys.stderr)
                        continue
                    meta.setdefault(job.label.split()[0], got["meta"])
                    for op, why in got["meta"].get("unsupported", {}).items():
                        name = f"{job.label} {op}"
                        if name not in skipped:
                            skipped[name] = f"it raised {why}"
                            print(f"skipping {name}: {skipped[name]}", file=sys.stderr)
                    for variant, by_op in got["meta"].get("over_limit", {}).items():
                        for op, by_size in by_op.items():
                            ov = over_limit[op][n].setdefault(job.columns[variant], {})
                            for size, first in by_size.items():
                                ov.setdefault(int(size), []).append(first)
                    for variant, by_op in got["results"].items():
                        for op, by_size in by_op.items():
                            pr = per_round[op][n].setdefault(job.columns[variant], {})
                            it = iters[op][n].setdefault(job.columns[variant], {})
                            for size, times in by_size.items():
                                pr.setdefault(int(size), []).append(statistics.median(times))
                                it.setdefault(int(size), []).append(len(times))
            elapsed = time.monotonic() - t_start
            print(f"round {r + 1}/{rounds} done ({elapsed:.0f} s)", file=sys.stderr)
    finally:
        shutil.rmtree(snapshot, ignore_errors=True)
    med = {
        op: {
            n: {c: {s: statistics.median(v) for s, v in d.items()} for c, d in by_col.items()}
            for n, by_col in by_n.items()
        }
        for op, by_n in per_round.items()
    }

    source_changed = _zmqmesh_source()[1] != source_before

    # -- report ---------------------------------------------------------------
    versions = [
        f"Python {platform.python_version()}",
        f"NumPy {np.__version__}",
        f"pyzmq {zmq.pyzmq_version()}",
        f"libzmq {zmq.zmq_version()}",
        f"zmqmesh {zmqmesh.__version__}" + (f" ({commit})" if commit else ""),
    ]
    if "mpi4py" in meta:
        versions.append(f"mpi4py {meta['mpi4py']['mpi4py']} ({meta['mpi4py']['mpi_vendor']})")
    if "gloo" in meta:
        versions.append(f"torch {meta['gloo']['torch']} (gloo)")
    cmd_line = "python -m bench coll" + "".join(f" {w}" for w in argv)
    lines = [
        f"# coll: {', '.join(OP_TITLES[op] for op in ops)} of float64 arrays, N ranks on one host",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')} · {_machine()}",
        "",
        " · ".join(versions),
        "",
        f"Command: `{cmd_line}` — {rounds} round{'s' * (rounds != 1)}; per cell and round, "
        f"{min_iters}-{max_iters} "
        f"iterations (about {budget:g} s of calls), each a barrier then the timed call on "
        "every rank; an iteration counts the slowest rank; cells are the median over "
        "rounds of per-round medians. Ratios are zmqmesh's time over the peer's "
        "(below 1: zmqmesh is faster).",
        "",
    ]
    if any(c for by_n in over_limit.values() for by_col in by_n.values() for c in by_col.values()):
        lines += [
            "*over limit (T)*: the cell's first call took T (slowest rank), so its warm-ups "
            f"and {min_iters} timed calls would have taken over {cell_limit:g} s "
            "(`--cell-limit`); the column stopped that op there, and larger sizes are "
            "*not run*.",
            "",
        ]
    cores = os.cpu_count() or 1
    over = [n for n in ranks if n > cores]
    if over:
        lines += [
            f"**Oversubscribed**: {', '.join(map(str, over))} ranks on {cores} cores, so ranks "
            "share cores and a peer that busy-polls while it waits (MPICH does) takes CPU "
            "from the rank it waits for.",
            "",
        ]
    lines += run_notes(source_changed, source_before, skipped)

    targets: list[dict[str, Any]] = []
    if "allreduce" in ops and TARGET_SIZE in sizes:
        lines += ["## Targets: 16 MiB allreduce", ""]
        for n in ranks:
            cells = med["allreduce"][n]
            z = cells.get("zmqmesh", {}).get(TARGET_SIZE)
            for peer, rule, ok_if in (
                ("mpi4py buffer", "no slower than", lambda q: q <= 1.0),
                ("gloo", "faster than", lambda q: q < 1.0),
            ):
                t = cells.get(peer, {}).get(TARGET_SIZE)
                if z is None or t is None:
                    verdict, q = "not measured", None
                else:
                    q = z / t
                    verdict = "met" if ok_if(q) else "MISSED"
                targets.append(
                    {"ranks": n, "peer": peer, "rule": rule, "ratio": q, "verdict": verdict}
                )
                detail = (
                    f": zmqmesh {_fmt_time(z)} vs {_fmt_time(t)}, {q:.2f}x"
                    if q is not None and z is not None and t is not None
                    else ""
                )
                lines.append(f"- {n} ranks, zmqmesh {rule} {peer}: **{verdict}**{detail}")
        lines.append("")

    for op in ops:
        for n in ranks:
            cells = med[op][n]
            cols = [c for c in cells if c.startswith("zmqmesh")]
            cols.sort(key=lambda c: (c != "zmqmesh", c))
            cols += [c for c in PEER_COLUMNS if c in cells]
            ratios = [(z, q) for z, q in RATIOS if z in cells and q in cells]
            lines += [f"## {op}, {n} ranks", ""]
            if op in OP_SIZE_NOTES:
                lines += [OP_SIZE_NOTES[op], ""]
            if not cells:
                lines += ["No column measured this op.", ""]
                continue
            head = ["bytes", *cols, *(f"{z} / {q}" for z, q in ratios)]
            lines += ["| " + " | ".join(head) + " |", "|---:|" + "---:|" * (len(head) - 1)]
            for s in [0] if op == "barrier" else sizes:
                row = [_fmt_bytes(s)]
                for c in cols:
                    ov = over_limit[op][n].get(c, {})
                    if s in cells[c]:
                        row.append(_fmt_time(cells[c][s]))
                    elif s in ov:
                        row.append(f"over limit ({_fmt_time(statistics.median(ov[s]))})")
                    elif any(t < s for t in ov):
                        row.append("not run")
                    else:
                        row.append("n/a")
                for z, q in ratios:
                    ok = s in cells[z] and s in cells[q]
                    row.append(f"{cells[z][s] / cells[q][s]:.2f}x" if ok else "n/a")
                lines.append("| " + " | ".join(row) + " |")
            big = sizes[-1]
            bw = [f"{c} {big / cells[c][big] / 1e9:.2f} GB/s" for c in cols if big in cells[c]]
            if bw and big >= 2**20 and op != "barrier":
                lines += ["", f"Bytes / time at {_fmt_bytes(big)}: " + ", ".join(bw)]
            lines.append("")
    lines += failure_lines(failures)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if coll_plot(out / "coll.png", med, ops, ranks, f"coll: {cmd_line}"):
        lines += ["Plot: `coll.png` (time against bytes, a panel per op and rank count).", ""]
    report = "\n".join(lines)
    (out / "coll.md").write_text(report)
    settings = {
        "rounds": rounds,
        "budget": budget,
        "cell_limit": cell_limit,
        "min_iters": min_iters,
        "max_iters": max_iters,
        "sizes": sizes,
        "ranks": ranks,
        "ops": ops,
        "peers": list(peers),
        "algorithms": a.algorithms,
    }
    record = run_record(cmd_line, versions, meta, settings, commit, source_before, source_changed)
    (out / "coll.json").write_text(
        json.dumps(
            {
                **record,
                "skipped": skipped,
                "failures": failures,
                "targets": targets,
                "median": med,
                "rounds": per_round,
                "iterations": iters,
                "over_limit": over_limit,
            },
            indent=1,
        )
    )
    print(report)
    return 0 if not failures else 1
