"""compat suite: the same mpi4py object-API program under MPICH's mpi4py and
under ``zmqmesh launch --mpi4py``, interleaved round by round.

``python -m bench compat [--rounds R] [--iters N] [--nbytes B] [--out DIR]``
writes ``compat.md``: medians over rounds of each run's median, and the
zmqmesh/mpi4py ratio (below 1: zmqmesh faster).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROG = HERE / "compat_prog.py"


def _run(cmd: list[str], timeout: float) -> dict[str, float] | None:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"timed out: {' '.join(cmd)}", file=sys.stderr)
        return None
    for line in res.stdout.splitlines():
        line = line.split("] ", 1)[-1]
        if line.startswith("{"):
            return dict(json.loads(line))
    print(f"failed: {' '.join(cmd)}\n{res.stderr[-2000:]}", file=sys.stderr)
    return None


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench compat")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--nbytes", type=int, default=16 * 2**20)
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--out", default=str(HERE / "results"))
    a = ap.parse_args(argv)
    args = [str(PROG), str(a.nbytes), str(a.iters)]
    py = sys.executable
    runs = {
        "zmqmesh --mpi4py": [py, "-m", "zmqmesh", "launch", "-n", str(a.ranks), "--mpi4py", *args]
    }
    mpiexec = shutil.which("mpiexec")
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        mpiexec = None
    if mpiexec is not None:
        runs["mpi4py (MPICH)"] = [mpiexec, "-n", str(a.ranks), py, *args]
    else:
        print("mpi4py or mpiexec not installed: measuring zmqmesh alone", file=sys.stderr)
    got: dict[str, list[dict[str, float]]] = {k: [] for k in runs}
    for r in range(a.rounds):
        order = list(runs)[r % len(runs) :] + list(runs)[: r % len(runs)]
        for name in order:
            out = _run(runs[name], a.timeout)
            if out is not None:
                got[name].append(out)
    med = {
        k: {m: statistics.median(o[m] for o in v) for m in ("pingpong", "allreduce")}
        for k, v in got.items()
        if v
    }
    lines = [
        "# compat: one mpi4py program, two implementations",
        "",
        f"Command: `python -m bench compat {' '.join(argv)}` — {a.ranks} ranks, "
        f"{a.nbytes} bytes, {a.rounds} rounds x {a.iters} iterations; medians.",
        "",
        "| call | " + " | ".join(med) + (" | zmqmesh / mpi4py |" if len(med) == 2 else " |"),
        "|---|" + "---:|" * (len(med) + (1 if len(med) == 2 else 0)),
    ]
    for m, label in (("pingpong", "send/recv half round trip"), ("allreduce", "allreduce")):
        row = [label, *(f"{v[m] * 1e3:.2f} ms" for v in med.values())]
        if len(med) == 2:
            z, p = (med[k][m] for k in runs)
            row.append(f"{z / p:.2f}x")
        lines.append("| " + " | ".join(row) + " |")
    report = "\n".join(lines) + "\n"
    out_dir = Path(a.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "compat.md").write_text(report)
    print(report)
    return 0 if all(got.values()) else 1
