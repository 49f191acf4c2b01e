"""curve suite: the cost of CURVE encryption between hosts.

Brings up two network-namespace hosts with their own sshd (the test
fixture's ``tests/multihost/netns.py``; needs root, iproute2 and
openssh-server: ``sh tests/multihost/install.sh``), launches a 2-rank job
across them through ssh, and times a float64 allreduce with CURVE on (the
default between hosts) and off (``--insecure``), interleaved round by round.
Writes ``curve.md`` and ``curve.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import zmqmesh

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _run(hosts: object, hostfile: str, nbytes: int, iters: int, insecure: bool) -> list[float]:
    cmd = [
        sys.executable,
        "-m",
        "zmqmesh",
        "launch",
        "--hosts",
        hostfile,
        "--ssh",
        hosts.ssh_cmd,
        "--no-prefix",
        "--timeout",
        "600",  # type: ignore[attr-defined]
        *(["--insecure"] if insecure else []),
        str(HERE / "allreduce_hosts.py"),
        str(nbytes),
        str(iters),
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=700, env=env, cwd=ROOT)
    if res.returncode != 0:
        raise SystemExit(f"benchmark run failed:\n{res.stdout}\n{res.stderr}")
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("{")][-1]
    return [float(t) for t in json.loads(line)["times"]]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench curve", description=__doc__)
    p.add_argument("--quick", action="store_true", help="3 rounds of 10 calls")
    p.add_argument("--bytes", type=int, default=16 * 2**20)
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--iters", type=int, default=None)
    p.add_argument("--out", default=str(HERE / "results"))
    a = p.parse_args(argv)
    rounds = a.rounds or (3 if a.quick else 5)
    iters = a.iters or (10 if a.quick else 20)
    sys.path.insert(0, str(ROOT))
    from tests.multihost import netns

    medians: dict[str, list[float]] = {"CURVE": [], "--insecure": []}
    with netns.start_hosts(2) as hosts, tempfile.TemporaryDirectory() as tmp:
        hostfile = os.path.join(tmp, "hosts.txt")
        Path(hostfile).write_text("".join(f"{h}\n" for h in hosts.names))
        for r in range(rounds):
            for name, insecure in (("CURVE", False), ("--insecure", True)):
                times = _run(hosts, hostfile, a.bytes, iters, insecure)
                medians[name].append(statistics.median(times))
            print(f"round {r + 1}/{rounds} done", file=sys.stderr)
    on = statistics.median(medians["CURVE"])
    off = statistics.median(medians["--insecure"])
    report = "\n".join(
        [
            "# curve: allreduce across two namespace hosts, CURVE on and off",
            "",
            f"{time.strftime('%Y-%m-%d %H:%M')} · {platform.node()} · {os.cpu_count()} cores · "
            f"zmqmesh {zmqmesh.__version__}",
            "",
            f"Command: `python -m bench curve {' '.join(argv)}` — {rounds} rounds x {iters} "
            f"calls of a {a.bytes:,}-byte float64 allreduce on 2 ranks, one per host "
            "(veth pairs through a bridge); median over rounds of per-round medians of "
            "the slowest rank's time.",
            "",
            "| CURVE (default) | --insecure | cost of encryption |",
            "|---:|---:|---:|",
            f"| {on * 1e3:.2f} ms | {off * 1e3:.2f} ms | {on / off:.2f}x |",
            "",
        ]
    )
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "curve.md").write_text(report)
    (out / "curve.json").write_text(json.dumps(medians, indent=1))
    print(report)
    return 0
