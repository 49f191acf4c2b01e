"""p2p suite: ping-pong between two ranks on one host, zmqmesh beside raw
pyzmq (zmq.asyncio and blocking sockets, same socket layout, ``copy=False``)
and mpi4py over MPICH (buffer ``Send``/``Recv`` and pickle ``send``/``recv``).

Peers run interleaved in rounds within one invocation (their order rotating
each round), so machine noise hits all of them alike; each cell is the
median over rounds of per-round medians. A peer that is not installed is
skipped, and the report says so; ``--peers`` picks the peers. Writes
``p2p.md`` and ``p2p.json`` (and ``p2p.png`` when matplotlib is installed)
to ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
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
    _fmt_bytes,
    _machine,
    _mpiexec,
    _run,
    _zmqmesh_source,
    failure_lines,
    run_notes,
    run_record,
)
from bench.load import busy
from bench.plots import p2p_plot

HERE = Path(__file__).resolve().parent

SIZES = "8,1024,65536,1048576,16777216,67108864"
QUICK_SIZES = "8,65536,16777216"
# report columns, in table order
COLUMNS = (
    "zmqmesh",
    "zmqmesh stats",  # the same with the --report counters on (ZMQMESH_STATS=1)
    "zmq.asyncio",
    "pyzmq sync",
    "mpi4py buffer",
    "mpi4py pickle",
)
# --peers names: a column (spaces as dashes) or a group of columns
GROUPS = {
    "pyzmq": ("zmq.asyncio", "pyzmq sync"),
    "mpi4py": ("mpi4py buffer", "mpi4py pickle"),
}
# zmqmesh's time over each of these (below 1: zmqmesh is faster)
RATIOS = ("zmq.asyncio", "pyzmq sync", "mpi4py buffer")
# bandwidth rows: these sizes, when measured
BANDWIDTH_SIZES = (16 * 2**20, 64 * 2**20)
LARGE = 2**20  # from this size on, fewer iterations


def _columns(spec: str) -> list[str]:
    """The columns ``--peers`` names, in table order."""
    want: set[str] = set()
    for name in (x.strip().replace(" ", "-") for x in spec.split(",")):
        if not name:
            continue
        if name in GROUPS:
            want.update(GROUPS[name])
            continue
        match = [c for c in COLUMNS if c.replace(" ", "-") == name]
        if not match:
            names = [c.replace(" ", "-") for c in COLUMNS] + list(GROUPS)
            raise ValueError(f"unknown peer {name!r}; choose among {', '.join(names)}")
        want.update(match)
    return [c for c in COLUMNS if c in want]


def jobs(columns: list[str]) -> tuple[list[Launch], dict[str, str]]:
    """One job per column, and the columns skipped with the reason. A job's
    command takes (sizes, iterations), both comma-separated."""
    py = sys.executable
    out: list[Launch] = []
    skipped: dict[str, str] = {}

    def add(column: str, command: Any) -> None:
        out.append(Launch(column, [], command, {}))

    for column in columns:
        if column in ("zmqmesh", "zmqmesh stats"):
            extra = ["-x", "ZMQMESH_STATS=1"] if column == "zmqmesh stats" else []
            add(
                column,
                lambda sizes, iters, extra=extra: [
                    py,
                    "-m",
                    "zmqmesh",
                    "launch",
                    "-n",
                    "2",
                    "--no-prefix",
                    *extra,
                    str(HERE / "pingpong_zmqmesh.py"),
                    sizes,
                    iters,
                ],
            )
        elif column in GROUPS["pyzmq"]:
            mode = "asyncio" if column == "zmq.asyncio" else "sync"
            add(
                column,
                lambda sizes, iters, mode=mode: [
                    py,
                    str(HERE / "pingpong_raw.py"),
                    "--mode",
                    mode,
                    "--sizes",
                    sizes,
                    "--iters",
                    iters,
                ],
            )
    mpi_columns = [c for c in columns if c in GROUPS["mpi4py"]]
    mpiexec = _mpiexec()
    why = None
    if mpi_columns and importlib.util.find_spec("mpi4py") is None:
        why = "mpi4py is not installed (see bench/README.md)"
    elif mpi_columns and mpiexec is None:
        why = "no mpiexec on PATH (apt-get install mpich)"
    if why:
        skipped[" and ".join(mpi_columns)] = why
    else:
        for column in mpi_columns:
            api = column.split()[1]  # "buffer" or "pickle"
            add(
                column,
                lambda sizes, iters, api=api: [
                    mpiexec,
                    "-n",
                    "2",
                    py,
                    str(HERE / "pingpong_mpi4py.py"),
                    "--api",
                    api,
                    "--sizes",
                    sizes,
                    "--iters",
                    iters,
                ],
            )
    return out, skipped


def _fmt_time(s: float) -> str:
    return f"{s * 1e6:,.1f} µs" if s < 1e-3 else f"{s * 1e3:,.2f} ms"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench p2p", description=__doc__)
    p.add_argument(
        "--quick", action="store_true", help=f"sizes {QUICK_SIZES}, 3 rounds x 100 iterations"
    )
    p.add_argument("--sizes", default=None, help=f"bytes (default {SIZES}; --quick {QUICK_SIZES})")
    p.add_argument("--rounds", type=int, default=None, help="default 7 (--quick 3)")
    p.add_argument(
        "--iters",
        type=int,
        default=None,
        help="iterations per size below 1 MiB, default 400 (--quick 100); "
        "from 1 MiB on, a twentieth (at least 10)",
    )
    p.add_argument(
        "--peers",
        default="zmqmesh,zmqmesh-stats,pyzmq,mpi4py",
        help="comma-separated among zmqmesh, zmqmesh-stats, zmq.asyncio, pyzmq-sync, "
        "mpi4py-buffer, mpi4py-pickle, or the groups pyzmq and mpi4py (default all; one "
        "not installed is skipped with a note)",
    )
    p.add_argument("--timeout", type=float, default=600, help="seconds per job (default 600)")
    p.add_argument(
        "--load",
        type=int,
        default=0,
        help="busy processes running beside the measurement (default 0: an idle machine)",
    )
    p.add_argument("--out", default=str(HERE / "results"))
    a = p.parse_args(argv)
    if a.load < 0:
        p.error("--load is a number of processes: not negative")
    rounds = a.rounds or (3 if a.quick else 7)
    iters = a.iters or (100 if a.quick else 400)
    sizes = [int(s) for s in (a.sizes or (QUICK_SIZES if a.quick else SIZES)).split(",")]
    if any(s < 0 for s in sizes):
        p.error("sizes are bytes: not negative")
    try:
        columns = _columns(a.peers)
    except ValueError as e:
        p.error(str(e))
    counts = [iters if s < LARGE else max(10, iters // 20) for s in sizes]
    opts = (",".join(map(str, sizes)), ",".join(map(str, counts)))

    launches, skipped = jobs(columns)
    for name, why in skipped.items():
        print(f"skipping {name}: {why}", file=sys.stderr)
    per_round: dict[str, dict[int, list[float]]] = {j.label: {} for j in launches}
    meta: dict[str, Any] = {}
    failures: list[str] = []
    commit, source_before = _zmqmesh_source()
    snapshot = snapshot_zmqmesh("p2p")
    t_start = time.monotonic()
    load = contextlib.ExitStack()
    load.enter_context(busy(a.load))
    try:
        for r in range(rounds):
            k = r % len(launches) if launches else 0
            for job in launches[k:] + launches[:k]:
                got, err = _run(job, job.command(*opts), a.timeout, snapshot)
                if got is None:
                    msg = f"round {r + 1}, {job.label}: {err.strip()}"
                    failures.append(msg)
                    print(f"FAILED {msg}", file=sys.stderr)
                    continue
                meta.setdefault(job.label, got["meta"])
                for size, times in got["results"].items():
                    per_round[job.label].setdefault(int(size), []).append(statistics.median(times))
            elapsed = time.monotonic() - t_start
            print(f"round {r + 1}/{rounds} done ({elapsed:.0f} s)", file=sys.stderr)
    finally:
        load.close()
        shutil.rmtree(snapshot, ignore_errors=True)
    med = {c: {s: statistics.median(v) for s, v in d.items()} for c, d in per_round.items()}
    source_changed = _zmqmesh_source()[1] != source_before

    # -- report ---------------------------------------------------------------
    cols = [c for c in COLUMNS if med.get(c)]
    ratios = [q for q in RATIOS if "zmqmesh" in cols and q in cols]
    versions = [
        f"Python {platform.python_version()}",
        f"NumPy {np.__version__}",
        f"pyzmq {zmq.pyzmq_version()}",
        f"libzmq {zmq.zmq_version()}",
        f"zmqmesh {zmqmesh.__version__}" + (f" ({commit})" if commit else ""),
    ]
    mpi = meta.get("mpi4py buffer") or meta.get("mpi4py pickle")
    if mpi:
        versions.append(f"mpi4py {mpi['mpi4py']} ({mpi['mpi_vendor']})")
    cmd_line = "python -m bench p2p" + "".join(f" {w}" for w in argv)
    lines = [
        "# p2p: ping-pong half round-trip time, two ranks on one host",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')} · {_machine()}",
        "",
        " · ".join(versions),
        "",
        f"Command: `{cmd_line}` — {rounds} rounds x {iters} iterations "
        f"({max(10, iters // 20)} from 1 MiB on); median over rounds of per-round medians. "
        "Ratios are zmqmesh's time over the peer's (below 1: zmqmesh is faster).",
        "",
    ]
    if a.load:
        lines += [
            f"**Loaded**: {a.load} busy process(es) ran beside the ranks for the whole run.",
            "",
        ]
    lines += run_notes(source_changed, source_before, skipped)
    head = ["bytes", *cols, *(f"zmqmesh / {q}" for q in ratios)]
    lines += ["| " + " | ".join(head) + " |", "|---:|" + "---:|" * (len(head) - 1)]
    for s in sizes:
        row = [_fmt_bytes(s) if s else "0 B"]
        row += [_fmt_time(med[c][s]) if s in med[c] else "n/a" for c in cols]
        for q in ratios:
            ok = s in med["zmqmesh"] and s in med[q]
            row.append(f"{med['zmqmesh'][s] / med[q][s]:.2f}x" if ok else "n/a")
        lines.append("| " + " | ".join(row) + " |")
    if "zmqmesh" in cols and "zmqmesh stats" in cols:
        on, off = med["zmqmesh stats"], med["zmqmesh"]
        cells = [
            f"{_fmt_bytes(s) if s else '0 B'} {100 * (on[s] / off[s] - 1):+.1f}%"
            for s in sizes
            if s in med["zmqmesh"] and s in med["zmqmesh stats"]
        ]
        lines += [
            "",
            "Cost of the --report counters (zmqmesh stats / zmqmesh - 1): " + ", ".join(cells),
        ]
    bw_sizes = [s for s in BANDWIDTH_SIZES if s in sizes]
    if not bw_sizes and sizes and max(sizes) >= LARGE:
        bw_sizes = [max(sizes)]
    if bw_sizes and cols:
        lines += [
            "",
            "Bandwidth (bytes / half round-trip time; GB/s = 10⁹ bytes/s):",
            "",
            "| bytes | " + " | ".join(cols) + " |",
            "|---:|" + "---:|" * len(cols),
        ]
        for s in bw_sizes:
            row = [_fmt_bytes(s)]
            row += [f"{s / med[c][s] / 1e9:.2f} GB/s" if s in med[c] else "n/a" for c in cols]
            lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines += failure_lines(failures)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if p2p_plot(out / "p2p.png", med, cols, f"p2p: {cmd_line}"):
        lines += ["Plot: `p2p.png` (time against size per column; zmqmesh's ratios).", ""]
    report = "\n".join(lines)
    (out / "p2p.md").write_text(report)
    settings = {
        "rounds": rounds,
        "sizes": sizes,
        "iterations": dict(zip(sizes, counts, strict=True)),
        "columns": columns,
        "load": a.load,
    }
    record = run_record(cmd_line, versions, meta, settings, commit, source_before, source_changed)
    (out / "p2p.json").write_text(
        json.dumps(
            {
                **record,
                "skipped": skipped,
                "failures": failures,
                "median": med,
                "rounds": per_round,
            },
            indent=1,
        )
    )
    print(report)
    return 0 if not failures else 1
