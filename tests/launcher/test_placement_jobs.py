"""--bind-to core and --oversubscribe in real jobs on this machine: each rank
reports the CPUs it may use, read inside the rank with os.sched_getaffinity
(and for each of its threads). Across hosts: tests/multihost."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from zmqmesh.launcher.placement import cores, sysfs_core

ROOT = Path(__file__).resolve().parents[2]
PROG = Path(__file__).resolve().parent / "where_prog.py"
# The launcher runs on the CPUs of at most two of this machine's cores (its
# affinity, which the ranks inherit), so the same ranks share cores or not
# on any machine.
CORES = cores(os.sched_getaffinity(0), sysfs_core)[:2]
CPUS = sorted(c for core in CORES for c in core)


def launch(*words: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZMQMESH_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    cmd = [
        sys.executable,
        "-m",
        "zmqmesh",
        "launch",
        "--timeout",
        str(timeout - 10),
        *words,
        str(PROG),
    ]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT,
        preexec_fn=lambda: os.sched_setaffinity(0, CPUS),
    )  # fmt: skip


def where(res: subprocess.CompletedProcess[str], size: int) -> list[dict[str, object]]:
    assert res.returncode == 0, res.stdout + res.stderr
    m = re.search(r"^\[0\] where (.*)$", res.stdout, re.M)
    assert m, res.stdout + res.stderr
    records: list[dict[str, object]] = json.loads(m.group(1))
    assert [r["rank"] for r in records] == list(range(size))
    return records


def cpu_list(cpus: tuple[int, ...]) -> str:
    """CPUs as the kernel lists them in /proc/*/status: runs as ranges, commas."""
    runs: list[list[int]] = []
    for cpu in sorted(cpus):
        if runs and runs[-1][-1] + 1 == cpu:
            runs[-1].append(cpu)
        else:
            runs.append([cpu])
    return ",".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("spawn", ["fork", "exec"])
def test_bind_to_core_gives_each_rank_a_core_of_its_own(spawn: str) -> None:
    n = len(CORES)
    records = where(launch("-n", str(n), "--bind-to", "core", "--spawn", spawn), n)
    assert [r["cpus"] for r in records] == [list(core) for core in CORES]
    # every thread of the rank, NumPy's included, was started pinned
    assert [r["threads"] for r in records] == [[cpu_list(core)] for core in CORES]


@pytest.mark.timeout(120)
def test_oversubscribed_ranks_share_the_cores_round_robin() -> None:
    n = 2 * len(CORES)
    records = where(launch("-n", str(n), "--bind-to", "core", "--oversubscribe"), n)
    assert [r["cpus"] for r in records] == [list(CORES[i % len(CORES)]) for i in range(n)]
    assert {r["bind"] for r in records} == {f"core:{i}/{n}:share" for i in range(n)}


@pytest.mark.timeout(60)
def test_more_ranks_than_cores_without_oversubscribe_do_not_start() -> None:
    n = len(CORES) + 1
    res = launch("-n", str(n), "--bind-to", "core", timeout=50)
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.startswith(f"zmqmesh: error: --bind-to core: {n} ranks on this host but")
    assert "where" not in res.stdout


@pytest.mark.timeout(120)
def test_without_bind_to_ranks_keep_the_launchers_cpus() -> None:
    records = where(launch("-n", "2"), 2)
    assert [r["cpus"] for r in records] == [CPUS, CPUS]
    assert {r["bind"] for r in records} == {None}
