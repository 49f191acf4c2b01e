"""scale-ranks suite: real jobs of 8 to 128 ranks on this machine.

Per rank count (``--ranks``, default 8,16,32,64,128) and peer, one job per
round runs ``scale_ranks_job.py`` on every rank: start-up (the driver's
clock when it starts the launcher to the last rank past the library's
start-up), the job's whole wall time (launch to the launcher's exit), the
median time of a barrier, of a 1 MiB float64 allreduce and of an alltoall
of one 8 KiB array per destination (each iteration's slowest rank), and the
memory of the job with every rank alive: the sum of the ranks' RSS (shared
pages counted once per rank) and the PSS of the whole job (the launcher or
mpiexec and every process under it; shared pages split between the
processes that map them, so this is the memory the job uses).

Peers: ``zmqmesh`` (``zmqmesh launch``, the ranks forked by its fork
server), ``zmqmesh-exec`` (``zmqmesh launch --spawn exec``: each rank a new
interpreter; up to ``--exec-max`` ranks) and ``mpi4py`` (MPICH's
``mpiexec`` and mpi4py's buffer calls; skipped, with a note, without an
``mpiexec`` or mpi4py). Jobs interleave round by round, the order rotating,
so the noise of a shared machine hits every peer alike; a cell is the
median over rounds. A job that fails or passes ``--timeout`` is listed, and
the larger rank counts of that peer are then skipped.

Writes ``scale_ranks.md`` and ``scale_ranks.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.coll import Launch, _fmt_time, _machine, _run, _zmqmesh_source
from bench.coll_common import snapshot_zmqmesh

HERE = Path(__file__).resolve().parent
JOB = HERE / "scale_ranks_job.py"
RANKS = "8,16,32,64,128"
PEERS = ("zmqmesh", "zmqmesh-exec", "mpi4py")
# The targets, checked in the report.
TARGET_WALL, TARGET_MEMORY, TARGET_STARTUP = 60.0, 6e9, 5.0
ROWS = (
    ("startup", "start-up (launch to every rank past init)", "s"),
    ("wall", "job wall time (launch to exit)", "s"),
    ("exit", "of which the exit (last op done to launcher exit)", "s"),
    ("barrier", "barrier", "t"),
    ("allreduce", "allreduce 1 MiB", "t"),
    ("alltoall", "alltoall 8 KiB per destination", "t"),
    ("allreduce_first", "first allreduce (makes connections)", "t"),
    ("rss_ranks", "RSS, sum over ranks", "b"),
    ("pss_job", "PSS of the whole job", "b"),
)


def _mpiexec() -> str | None:
    return shutil.which("mpiexec.mpich") or shutil.which("mpiexec")


def launches(peers: list[str], timeout: float) -> tuple[list[Launch], dict[str, str]]:
    out, skipped = [], {}
    limit = str(int(timeout))
    for peer in peers:
        if peer.startswith("zmqmesh"):
            spawn = ["--spawn", "exec"] if peer == "zmqmesh-exec" else []
            out.append(
                Launch(
                    peer,
                    [],
                    lambda n, opts, spawn=spawn: [
                        sys.executable,
                        *("-m", "zmqmesh", "launch", "-n", str(n), "--no-prefix"),
                        *("--timeout", limit, *spawn, str(JOB), "--api", "zmqmesh", *opts),
                    ],
                    {},
                    env={"SCALE_DRIVER": str(os.getpid())},
                )
            )
            continue
        mpiexec = _mpiexec()
        if importlib.util.find_spec("mpi4py") is None:
            skipped[peer] = "mpi4py is not installed (see bench/README.md)"
        elif mpiexec is None:
            skipped[peer] = "no mpiexec on PATH (apt-get install mpich)"
        else:
            out.append(
                Launch(
                    peer,
                    [],
                    lambda n, opts, m=mpiexec: [
                        *(m, "-n", str(n), sys.executable, str(JOB), "--api", "mpi4py", *opts)
                    ],
                    {},
                    env={"SCALE_DRIVER": str(os.getpid())},
                )
            )
    return out, skipped


def cells(res: dict[str, Any], wall: float) -> dict[str, float]:
    """One job's numbers, by row."""
    return {
        "startup": res["startup"],
        "first_line": res["first_line"],
        "wall": wall,
        "exit": wall - res["done"],
        "barrier": res["barrier"]["median"],
        "allreduce": res["allreduce"]["median"],
        "alltoall": res["alltoall"]["median"],
        "allreduce_first": res["allreduce"]["first"],
        "alltoall_first": res["alltoall"]["first"],
        "rss_ranks": res["rss_ranks"],
        "pss_ranks": res["pss_ranks"],
        "pss_job": res["pss_job"],
        "job_procs": res["job_procs"],
    }


def _fmt(kind: str, v: float | None) -> str:
    if v is None:
        return "—"
    if kind == "s":
        return f"{v:.2f} s"
    if kind == "b":
        return f"{v / 1e9:.2f} GB" if v >= 1e9 else f"{v / 1e6:.0f} MB"
    return _fmt_time(v) if v < 1 else f"{v:.2f} s"


def report(res: dict[str, Any]) -> str:
    med: dict[str, dict[str, dict[str, float]]] = res["median"]
    peers = [p for p in res["peers"] if p in med]
    lines = [
        "# scale-ranks: real jobs of 8 to 128 ranks on one machine",
        "",
        f"Machine: {res['machine']}  ",
        f"zmqmesh {res['zmqmesh_source']}; {res.get('mpi') or 'no MPI'}  ",
        f"Command: `{res['command']}`; {res['rounds']} round(s), medians over rounds; "
        f"load average at the start {res['load'][0]}, at the end {res['load'][1]}",
        "",
    ]
    for peer, why in res["skipped"].items():
        lines.append(f"- {peer} skipped: {why}")
    big = str(max(int(n) for n in res["ranks"]))
    z = med.get("zmqmesh", {})
    if big in z and "64" in z:
        ok = (
            z[big]["wall"] < TARGET_WALL,
            z[big]["pss_job"] < TARGET_MEMORY,
            z["64"]["startup"] < TARGET_STARTUP,
        )
        lines += [
            "",
            "Targets (zmqmesh):",
            f"- {big} ranks start and finish in under {TARGET_WALL:.0f} s: "
            f"{z[big]['wall']:.1f} s, {'met' if ok[0] else 'NOT met'}",
            f"- and in under {TARGET_MEMORY / 1e9:.0f} GB: PSS of the job "
            f"{z[big]['pss_job'] / 1e9:.2f} GB, {'met' if ok[1] else 'NOT met'} (RSS summed "
            f"over ranks, shared pages counted per rank: {z[big]['rss_ranks'] / 1e9:.2f} GB)",
            f"- start-up under {TARGET_STARTUP:.0f} s at 64 ranks: {z['64']['startup']:.2f} s, "
            f"{'met' if ok[2] else 'NOT met'}",
        ]
    for n in res["ranks"]:
        cols = [p for p in peers if str(n) in med[p]]
        if not cols:
            continue
        lines += ["", f"## {n} ranks", "", "| | " + " | ".join(cols) + " |"]
        lines.append("|---" * (len(cols) + 1) + "|")
        for key, title, kind in ROWS:
            vals = [_fmt(kind, med[p][str(n)].get(key)) for p in cols]
            lines.append(f"| {title} | " + " | ".join(vals) + " |")
    if res["failures"]:
        lines += ["", "## Failed or skipped jobs", ""]
        lines += [f"- {f}" for f in res["failures"]]
    lines += [
        "",
        "Start-up: from the driver's clock when it starts `zmqmesh launch` or `mpiexec` to the",
        "last rank past `init()` (zmqmesh: entering `zmqmesh.run`'s main; mpi4py: after",
        "`from mpi4py import MPI`). Each program imports NumPy first. alltoall sends one",
        "8 KiB float64 array to each rank (8 KiB x N per rank). Times per call are each",
        "iteration's slowest rank, after a barrier; the first call (untimed) makes the",
        "connections. Memory is read with every rank alive, after the three collectives.",
        "On 2 cores every rank count above 2 is oversubscribed: MPICH's ranks busy-poll",
        "while they wait, zmqmesh's block in the kernel (bench/README.md).",
    ]
    return "\n".join(lines) + "\n"


def _load() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench scale-ranks", description=__doc__)
    p.add_argument("--ranks", default=RANKS)
    p.add_argument("--peers", default=",".join(PEERS))
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--exec-max", type=int, default=64, help="largest job of zmqmesh-exec")
    p.add_argument("--budget", type=float, default=2.0, help="seconds of timed calls per op")
    p.add_argument("--timeout", type=float, default=300, help="seconds per job")
    p.add_argument("--out", default=str(HERE / "results"))
    a = p.parse_args(argv)
    ranks = sorted(int(n) for n in a.ranks.split(",") if n)
    peers = [x for x in a.peers.split(",") if x]
    for x in peers:
        if x not in PEERS:
            p.error(f"unknown peer {x!r}; choose among {', '.join(PEERS)}")
    todo, skipped = launches(peers, a.timeout)
    for name, why in skipped.items():
        print(f"skipping {name}: {why}", file=sys.stderr)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    commit, _ = _zmqmesh_source()
    snapshot = snapshot_zmqmesh("scale-ranks")
    per_round: dict[str, dict[str, list[dict[str, float]]]] = {x.label: {} for x in todo}
    failures: list[str] = []
    broken: set[str] = set()
    meta: dict[str, Any] = {}
    load_start = _load()
    opts = ["--budget", str(a.budget)]
    try:
        for n in ranks:
            for r in range(a.rounds):
                k = r % max(len(todo), 1)
                for job in todo[k:] + todo[:k]:
                    if job.label in broken or (job.label == "zmqmesh-exec" and n > a.exec_max):
                        continue
                    t0 = time.time()
                    cmd = job.command(n, [*opts, "--t0", repr(t0)])
                    got, err = _run(job, cmd, a.timeout, snapshot)
                    wall = time.time() - t0
                    if got is None:
                        failures.append(f"{job.label}, {n} ranks, round {r + 1}: {err.strip()}")
                        print(f"FAILED {failures[-1][:2000]}", file=sys.stderr)
                        broken.add(job.label)  # its larger jobs would fail too, or take longer
                        continue
                    meta.setdefault(job.label, got["meta"])
                    row = cells(got["results"], wall)
                    per_round[job.label].setdefault(str(n), []).append(row)
                    print(
                        f"{job.label} {n} ranks: start-up {row['startup']:.2f} s, "
                        f"wall {wall:.1f} s, PSS {row['pss_job'] / 1e9:.2f} GB",
                        file=sys.stderr,
                    )
    finally:
        shutil.rmtree(snapshot, ignore_errors=True)
    median = {
        peer: {
            n: {k: statistics.median(r[k] for r in rows) for k in rows[0]}
            for n, rows in by_n.items()
        }
        for peer, by_n in per_round.items()
    }
    res = {
        "command": "python -m bench scale-ranks " + " ".join(argv),
        "machine": _machine(),
        "zmqmesh_source": commit,
        "mpi": meta.get("mpi4py", {}).get("mpi"),
        "load": [load_start, _load()],
        "ranks": ranks,
        "peers": [x.label for x in todo],
        "rounds": a.rounds,
        "skipped": skipped,
        "failures": failures,
        "meta": meta,
        "median": median,
        "rounds_data": per_round,
    }
    (out / "scale_ranks.json").write_text(json.dumps(res, indent=1))
    (out / "scale_ranks.md").write_text(report(res))
    print(f"wrote {out / 'scale_ranks.md'}")
    return 1 if failures else 0
