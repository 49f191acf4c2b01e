"""p2p suite: ping-pong between two ranks on one host, zmqmesh beside raw
pyzmq (zmq.asyncio and blocking sockets, same socket layout, ``copy=False``).

Peers run interleaved in rounds within one invocation, so machine noise hits
all of them alike; each cell is the median over rounds of per-round medians.
Writes ``p2p.md`` (and ``p2p.json``) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import zmq

import zmqmesh

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

PEERS = {
    "zmqmesh": lambda sizes, iters: [
        sys.executable,
        "-m",
        "zmqmesh",
        "launch",
        "-n",
        "2",
        "--no-prefix",
        str(HERE / "pingpong_zmqmesh.py"),
        sizes,
        str(iters),
    ],
    "zmq.asyncio": lambda sizes, iters: [
        sys.executable,
        str(HERE / "pingpong_raw.py"),
        "--mode",
        "asyncio",
        "--sizes",
        sizes,
        "--iters",
        str(iters),
    ],
    "pyzmq sync": lambda sizes, iters: [
        sys.executable,
        str(HERE / "pingpong_raw.py"),
        "--mode",
        "sync",
        "--sizes",
        sizes,
        "--iters",
        str(iters),
    ],
}


def _run(cmd: list[str]) -> dict[int, list[float]]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    if res.returncode != 0:
        raise SystemExit(f"benchmark run failed: {' '.join(cmd)}\n{res.stdout}\n{res.stderr}")
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("{")][-1]
    return {int(k): v for k, v in json.loads(line).items()}


def _fmt_time(s: float) -> str:
    return f"{s * 1e6:,.1f} µs" if s < 1e-3 else f"{s * 1e3:,.2f} ms"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench p2p", description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer rounds and iterations")
    p.add_argument("--sizes", default="8,1024,65536,1048576,16777216")
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--iters", type=int, default=None)
    p.add_argument("--out", default=str(HERE / "results"))
    a = p.parse_args(argv)
    rounds = a.rounds or (3 if a.quick else 7)
    iters = a.iters or (100 if a.quick else 400)
    sizes = [int(s) for s in a.sizes.split(",")]
    per_round: dict[str, dict[int, list[float]]] = {k: {s: [] for s in sizes} for k in PEERS}
    for r in range(rounds):
        for name, cmd in PEERS.items():
            # big messages take long: fewer iterations above 1 MiB
            small = ",".join(str(s) for s in sizes if s < 2**20)
            large = ",".join(str(s) for s in sizes if s >= 2**20)
            for group, n in ((small, iters), (large, max(10, iters // 20))):
                if group:
                    for size, times in _run(cmd(group, n)).items():
                        per_round[name][size].append(statistics.median(times))
        print(f"round {r + 1}/{rounds} done", file=sys.stderr)
    med = {k: {s: statistics.median(v) for s, v in d.items()} for k, d in per_round.items()}

    lines = [
        "# p2p: ping-pong half round-trip time, two ranks on one host (ipc)",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')} · {platform.node()} · {os.cpu_count()} cores · "
        f"Python {platform.python_version()} · pyzmq {zmq.pyzmq_version()} · "
        f"libzmq {zmq.zmq_version()} · zmqmesh {zmqmesh.__version__}",
        "",
        f"Command: `python -m bench p2p {' '.join(argv)}` — {rounds} rounds x {iters} "
        "iterations (fewer above 1 MiB); median over rounds of per-round medians.",
        "",
        "| bytes | " + " | ".join(PEERS) + " | zmqmesh / zmq.asyncio | zmqmesh / pyzmq sync |",
        "|---:|" + "---:|" * (len(PEERS) + 2),
    ]
    for s in sizes:
        cells = [_fmt_time(med[k][s]) for k in PEERS]
        ra = med["zmqmesh"][s] / med["zmq.asyncio"][s]
        rs = med["zmqmesh"][s] / med["pyzmq sync"][s]
        lines.append(f"| {s:,} | " + " | ".join(cells) + f" | {ra:.2f}x | {rs:.2f}x |")
    lines += [
        "",
        "Bandwidth at the largest size: "
        + ", ".join(f"{k} {sizes[-1] / med[k][sizes[-1]] / 1e9:.2f} GB/s" for k in PEERS),
    ]
    report = "\n".join(lines) + "\n"
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "p2p.md").write_text(report)
    (out / "p2p.json").write_text(json.dumps({"rounds": per_round, "median": med}, indent=1))
    print(report)
    return 0
