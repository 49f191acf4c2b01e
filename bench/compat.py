"""compat suite: mpi4py programs under ``zmqmesh launch --mpi4py`` beside
real mpi4py under MPICH's ``mpiexec``, interleaved round by round.

``python -m bench compat [--rounds R] [--quick] [--mpi4py-python PY] [--out DIR]``

Each round runs, in a rotating order, these jobs:

- ``compat_prog.py`` (object API: a 16 MiB ``send``/``recv`` ping-pong and
  ``allreduce``) on 2 ranks;
- ``compat_osu.py`` (buffer API, OSU-style) on 2 ranks: ``Send``/``Recv``
  latency from 8 B to 4 MiB and ``Isend``/``Irecv`` window bandwidth at
  4 MiB; and on 4 ranks (oversubscribed on 2 cores): ``Allgather`` and
  ``Alltoall`` of 64 KiB;
- ``compat_futures.py`` under ``-m mpi4py.futures`` on 3 ranks (the root
  and 2 workers, oversubscribed on 2 cores): ``MPIPoolExecutor.map`` of many
  small tasks (tasks/s) and one ``submit`` round trip;
- ``compat_neighbor.py`` on 4 ranks, a 2 x 2 periodic Cartesian grid:
  ``Neighbor_alltoall`` and ``Neighbor_allgather`` at 8 B and 64 KiB per
  block, and a ``Sendrecv`` halo exchange;
- for zmqmesh only, ``pingpong_zmqmesh.py`` (the native API) at 8 B.

``--only futures,neighbor`` runs only those jobs (names: ``object``,
``osu2``, ``coll4``, ``native``, ``futures``, ``neighbor``).

The peer is mpi4py in the interpreter ``--mpi4py-python`` (or
``$ZMQMESH_BENCH_MPI4PY_PYTHON``; default: this one, if it has mpi4py) under
``mpiexec.mpich`` or ``mpiexec`` on PATH; without them the peer's columns
are skipped and the report says why. Writes ``compat.md`` and
``compat.json``: medians over rounds of each job's median, the ratio
zmqmesh / MPICH, the targets, and the load average at every job.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ENV_PEER = "ZMQMESH_BENCH_MPI4PY_PYTHON"
KiB, MiB = 1 << 10, 1 << 20
LAT_SIZES = (8, 512, 32 * KiB, 4 * MiB)


def _peer_python(asked: str | None) -> tuple[str | None, str]:
    """The interpreter that has mpi4py, or None and why not."""
    py = asked or os.environ.get(ENV_PEER) or sys.executable
    probe = [py, "-c", "import mpi4py, numpy; print(mpi4py.__version__)"]
    try:
        res = subprocess.run(probe, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{py}: {exc}"
    if res.returncode != 0:
        return None, f"no mpi4py (with numpy) in {py}: give --mpi4py-python or ${ENV_PEER}"
    return py, f"mpi4py {res.stdout.strip()} in {py}"


def _mpiexec() -> str | None:
    # MPICH's by name first, as the coll suite does
    return shutil.which("mpiexec.mpich") or shutil.which("mpiexec")


def _json_line(out: str) -> dict[str, Any] | None:
    for line in out.splitlines():
        line = line.split("] ", 1)[-1]
        if line.startswith("{"):
            got: dict[str, Any] = json.loads(line)
            return got
    return None


def _run(cmd: list[str], timeout: float, env: dict[str, str]) -> dict[str, Any] | None:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        print(f"timed out: {' '.join(cmd)}", file=sys.stderr)
        return None
    got = _json_line(res.stdout) if res.returncode == 0 else None
    if got is None:
        print(f"failed ({res.returncode}): {' '.join(cmd)}\n{res.stderr[-2000:]}", file=sys.stderr)
    return got


def jobs(a: argparse.Namespace, peer: str | None, mpiexec: str | None) -> dict[str, list[str]]:
    """Job name -> command line. Names are ``impl/what``."""
    osu = str(HERE / "compat_osu.py")
    lat = [f"--sizes={','.join(map(str, LAT_SIZES))}", f"--iters={a.iters}"]
    lat += [f"--iters-large={a.iters_large}", f"--bw-iters={a.bw_iters}"]
    coll = [f"--coll-iters={a.coll_iters}"]
    obj = [str(HERE / "compat_prog.py"), str(a.nbytes), str(a.obj_iters)]
    p2p, c4 = [osu, "--parts=lat,bw", *lat], [osu, "--parts=coll", *coll]
    fut = ["-m", "mpi4py.futures", str(HERE / "compat_futures.py"), f"--tasks={a.tasks}"]
    fut += [f"--reps={a.reps}", f"--submits={a.submits}"]
    nbr = [str(HERE / "compat_neighbor.py"), f"--iters={a.nbr_iters}"]
    zl = [sys.executable, "-m", "zmqmesh", "launch", "--mpi4py", "-n"]
    out = {
        "zmqmesh/object": [*zl, "2", *obj],
        "zmqmesh/osu2": [*zl, "2", *p2p],
        "zmqmesh/coll4": [*zl, "4", *c4],
        "zmqmesh/native": [
            *zl[:4],
            "-n",
            "2",
            str(HERE / "pingpong_zmqmesh.py"),
            "8",
            str(a.iters),
        ],
        "zmqmesh/futures": [*zl, "3", *fut],
        "zmqmesh/neighbor": [*zl, "4", *nbr],
    }
    if peer is not None and mpiexec is not None:
        out["mpich/object"] = [mpiexec, "-n", "2", peer, *obj]
        out["mpich/osu2"] = [mpiexec, "-n", "2", peer, *p2p]
        out["mpich/coll4"] = [mpiexec, "-n", "4", peer, *c4]
        out["mpich/futures"] = [mpiexec, "-n", "3", peer, *fut]
        out["mpich/neighbor"] = [mpiexec, "-n", "4", peer, *nbr]
    only = set(a.only.split(",")) if a.only else None
    return {k: v for k, v in out.items() if only is None or k.split("/")[1] in only}


JOBS = ("object", "osu2", "coll4", "native", "futures", "neighbor")


def measures(name: str, got: dict[str, Any]) -> dict[str, float]:
    """The numbers of one job's JSON line, by row name."""
    what = name.split("/")[1]
    if what == "object":
        return {
            "object send/recv 16 MiB": got["pingpong"],
            "object allreduce 16 MiB": got["allreduce"],
        }
    if what == "native":
        return {"native send/recv 8 B": statistics.median(got["results"]["8"])}
    if what == "coll4":
        return {
            "Allgather 64 KiB, 4 ranks": got["allgather"],
            "Alltoall 64 KiB, 4 ranks": got["alltoall"],
        }
    if what == "futures":
        w = got["workers"]
        return {
            f"futures map, {w} workers (tasks/s)": got["map"],
            f"futures submit round trip, {w} workers": got["submit"],
        }
    if what == "neighbor":
        grid = "x".join(map(str, got["dims"]))
        rows = {}
        for op, name in (("alltoall", "Neighbor_alltoall"), ("allgather", "Neighbor_allgather")):
            for s, v in got[op].items():
                rows[f"{name} {_size(int(s))}, {grid} grid"] = v
        for s, v in got["halo"].items():
            rows[f"halo Sendrecv {_size(int(s))}, {grid} grid"] = v
        return rows
    rows = {f"Send/Recv {_size(int(s))}": v for s, v in got["latency"].items()}
    rows["bandwidth 4 MiB (B/s)"] = got["bandwidth"]
    return rows


def _size(n: int) -> str:
    return f"{n // MiB} MiB" if n >= MiB else f"{n // KiB} KiB" if n >= KiB else f"{n} B"


def _fmt(row: str, v: float) -> str:
    if "B/s" in row:
        return f"{v / 1e6:.0f} MB/s"
    if "tasks/s" in row:
        return f"{v:,.0f}/s"
    return f"{v * 1e6:.0f} µs" if v < 1e-3 else f"{v * 1e3:.2f} ms"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench compat", description=__doc__)
    ap.add_argument("--rounds", type=int, default=None, help="default 5 (--quick 2)")
    ap.add_argument("--quick", action="store_true", help="2 rounds, fewer iterations")
    ap.add_argument("--mpi4py-python", default=None, help=f"the peer's Python (${ENV_PEER})")
    ap.add_argument("--nbytes", type=int, default=16 * MiB, help="object jobs' array bytes")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per job")
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--only", default=None, help=f"jobs to run, of {','.join(JOBS)}")
    a = ap.parse_args(argv)
    if a.only and not set(a.only.split(",")) <= set(JOBS):
        ap.error(f"--only: names are {','.join(JOBS)}")
    q = a.quick
    a.rounds = a.rounds if a.rounds is not None else (2 if q else 5)
    a.iters, a.iters_large, a.bw_iters = (50, 5, 3) if q else (300, 20, 10)
    a.coll_iters, a.obj_iters = (10, 3) if q else (50, 10)
    a.tasks, a.reps, a.submits = (1000, 3, 100) if q else (10_000, 5, 300)
    a.nbr_iters = 30 if q else 200
    peer, why = _peer_python(a.mpi4py_python)
    mpiexec = _mpiexec()
    if peer is not None and mpiexec is None:
        peer, why = None, "no mpiexec on PATH (apt-get install mpich)"
    if peer is None:
        print(f"MPICH peer skipped: {why}", file=sys.stderr)
    cmds = jobs(a, peer, mpiexec)
    # The peer's interpreter must find its own mpi4py, never zmqmesh's layer.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    got: dict[str, list[dict[str, float]]] = {k: [] for k in cmds}
    loads: dict[str, list[float]] = {k: [] for k in cmds}
    for r in range(a.rounds):
        names = list(cmds)
        for name in names[r % len(names) :] + names[: r % len(names)]:
            load = os.getloadavg()[0]
            out = _run(cmds[name], a.timeout, env)
            if out is not None:
                got[name].append(measures(name, out))
                loads[name].append(load)
    report, data = render(argv, a, got, loads, why)
    out_dir = Path(a.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "compat.md").write_text(report)
    (out_dir / "compat.json").write_text(json.dumps(data, indent=1))
    print(report)
    return 0 if all(got[k] for k in cmds) else 1


def _medians(runs: list[dict[str, float]]) -> dict[str, float]:
    rows = {k for r in runs for k in r}
    return {k: statistics.median(r[k] for r in runs if k in r) for k in rows}


def render(
    argv: list[str],
    a: argparse.Namespace,
    got: dict[str, list[dict[str, float]]],
    loads: dict[str, list[float]],
    peer_note: str,
) -> tuple[str, dict[str, Any]]:
    """The report (markdown) and its data."""
    z: dict[str, float] = {}
    m: dict[str, float] = {}
    for name, runs in got.items():
        (z if name.startswith("zmqmesh/") else m).update(_medians(runs))
    all_loads = [x for v in loads.values() for x in v]
    load_note = (
        f"1-min load average at the start of each job: median {statistics.median(all_loads):.1f}, "
        f"range {min(all_loads):.1f}..{max(all_loads):.1f}"
        if all_loads
        else "no job ran"
    )
    lines = [
        "# compat: mpi4py programs on zmqmesh's layer beside mpi4py on MPICH",
        "",
        f"Command: `python -m bench compat {' '.join(argv)}`: {a.rounds} rounds, jobs "
        f"interleaved; each cell is the median over rounds of the job's median. "
        f"Peer: {peer_note}. {load_note} ({os.cpu_count()} CPUs).",
        "",
        "| call | zmqmesh --mpi4py | mpi4py (MPICH) | zmqmesh / MPICH |",
        "|---|---:|---:|---:|",
    ]
    for row in sorted(z, key=_order):
        mine, theirs = z[row], m.get(row)
        ratio = f"{mine / theirs:.2f}x" if theirs else ""
        other = _fmt(row, theirs) if theirs else ""
        lines.append(f"| {row} | {_fmt(row, mine)} | {other} | {ratio} |")
    lines += ["", "Targets (bandwidth, tasks/s: above 1 is better; times: below 1 is better):", ""]
    targets = _targets(z, m)
    for t in targets:
        lines.append(f"- {t['rule']}: {t['value']} -> **{t['verdict']}**")
    data = {"argv": argv, "zmqmesh": z, "mpich": m, "runs": got, "loads": loads}
    data["targets"] = targets
    return "\n".join(lines) + "\n", data


def _order(row: str) -> tuple[int, str]:
    first = ("Send/Recv", "native", "bandwidth", "Allgather", "Alltoall", "object", "futures")
    first += ("Neighbor_alltoall", "Neighbor_allgather", "halo")
    kind = next((i for i, p in enumerate(first) if row.startswith(p)), len(first))
    if row.startswith(("Send/Recv", "Neighbor", "halo")):
        n = row.split(",")[0].split()[-2:]
        mult = {"B": 1, "KiB": KiB, "MiB": MiB}[n[1]]
        return kind, f"{int(n[0]) * mult:012d}"
    return kind, row


def _targets(z: dict[str, float], m: dict[str, float]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(rule: str, q: float | None, ok: bool) -> None:
        verdict = "not measured" if q is None else ("met" if ok else "missed")
        out.append({"rule": rule, "value": "-" if q is None else f"{q:.2f}x", "verdict": verdict})

    bw, mbw = z.get("bandwidth 4 MiB (B/s)"), m.get("bandwidth 4 MiB (B/s)")
    q = bw / mbw if bw and mbw else None
    add("bandwidth at 4 MiB, 2 ranks, zmqmesh / MPICH >= 1", q, q is not None and q >= 1)
    lat, nat = z.get("Send/Recv 8 B"), z.get("native send/recv 8 B")
    q = lat / nat if lat and nat else None
    add("8 B latency, layer / native API <= 1.5", q, q is not None and q <= 1.5)
    for op in ("Allgather", "Alltoall"):
        row = f"{op} 64 KiB, 4 ranks"
        q = z[row] / m[row] if row in z and row in m else None
        add(f"{op} 64 KiB on 4 ranks, zmqmesh / MPICH < 1", q, q is not None and q < 1)
    rows = [r for r in z if r.startswith("futures map")]
    q = z[rows[0]] / m[rows[0]] if rows and rows[0] in m else None
    add("futures map of small tasks, tasks/s zmqmesh / MPICH >= 10", q, q is not None and q >= 10)
    rows = sorted((r for r in z if r.startswith("Neighbor_")), key=_order)
    for row in rows:
        q = z[row] / m[row] if row in m else None
        add(f"{row}, zmqmesh / MPICH <= 1", q, q is not None and q <= 1)
    if not rows:
        add("neighbor collectives on a 2-D grid, zmqmesh / MPICH <= 1", None, False)
    return out
