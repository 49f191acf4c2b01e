"""sbatch of the documented batch script; scancel and a lost rank."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pytest
from multihost import netns

from .cluster import Cluster
from .test_srun import PROG, results

DOC = Path(__file__).resolve().parents[2] / "docs" / "slurm.md"


def doc_blocks(text: str) -> tuple[str, str]:
    """The first bash block with ``#SBATCH`` lines in ``text`` and the first
    Python block after it: the batch script and its program."""
    blocks = re.findall(r"^```(\w+)\n(.*?)^```", text, re.S | re.M)
    i = next(i for i, (lang, body) in enumerate(blocks) if lang == "bash" and "#SBATCH" in body)
    program = next(body for lang, body in blocks[i + 1 :] if lang == "python")
    return blocks[i][1], program


def fake_home(home: Path, env: dict[str, str]) -> None:
    """``$HOME/venvs/zmqmesh/bin/activate`` as the documented script sources
    it: this interpreter first on PATH, zmqmesh importable."""
    bindir = home / "venvs" / "zmqmesh" / "bin"
    bindir.mkdir(parents=True)
    (bindir / "activate").write_text(
        f"export PATH={Path(sys.executable).parent}:$PATH\nexport PYTHONPATH={env['PYTHONPATH']}\n"
    )


def wait_for_lines(path: Path, pattern: str, count: int, timeout: float) -> list[tuple[str, ...]]:
    """Wait until ``path`` has ``count`` lines matching ``pattern``; them."""
    deadline = time.monotonic() + timeout
    found: list[tuple[str, ...]] = []
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        found = re.findall(pattern, text, re.M)
        if len(found) >= count:
            return found
        time.sleep(0.1)  # a file written by the job's ranks: no event to wait on
    raise AssertionError(f"{path}: {len(found)} of {count} lines {pattern!r} in {timeout} s")


def leftovers(cluster: Cluster, node: str) -> dict[int, str]:
    """Processes in ``node``'s namespace other than slurmd (and sshd)."""
    return {p: c for p, c in cluster.hosts.procs(node).items() if "slurmd" not in c}


READY = r"^(?:\[\d+\] )?ready (\d+) (\d+) (\S+) (\S+)$"


def assert_gone(cluster: Cluster, ready: list[tuple[str, ...]]) -> None:
    """The ranks that printed ``ready`` lines are gone, with their socket and
    shared-memory directories, and nothing but slurmd is left on the nodes."""
    assert netns.wait_exit([int(r[1]) for r in ready], 30) == set()
    for node in cluster.nodes:
        deadline = time.monotonic() + 30
        while (left := leftovers(cluster, node)) and time.monotonic() < deadline:
            netns.wait_exit(left, deadline - time.monotonic())
        assert left == {}, f"left on {node}: {left}"
    dirs = {d for r in ready for d in r[2:] if d != "-"}
    assert [d for d in dirs if os.path.exists(d)] == []


@pytest.mark.timeout(120)
def test_sbatch_of_the_documented_script(
    cluster: Cluster, job_env: dict[str, str], tmp_path: Path
) -> None:
    script, program = doc_blocks(DOC.read_text())
    assert "srun --kill-on-bad-exit=1 python script.py" in script
    (tmp_path / "job.sh").write_text(script)
    (tmp_path / "script.py").write_text(program)
    fake_home(tmp_path / "home", job_env)
    # The cluster is smaller than the documented one: 2 tasks a node, not 4.
    res = cluster.run(
        ["sbatch", "--parsable", "--ntasks-per-node=2", "job.sh"],
        env={**job_env, "HOME": str(tmp_path / "home")},
        cwd=tmp_path,
        check=True,
    )
    job = res.stdout.strip().split(";")[0]
    info = cluster.wait_job(job, timeout=90)
    out = (tmp_path / f"zmqmesh-demo-{job}.out").read_text()
    assert info["JobState"] == "COMPLETED", out
    assert info["NodeList"] == "zmh[1-2]"
    assert out.strip() == "4 ranks, sum of ranks 6", out


@pytest.mark.timeout(120)
def test_scancel_leaves_no_rank_behind(
    cluster: Cluster, job_env: dict[str, str], tmp_path: Path
) -> None:
    script = tmp_path / "job.sh"
    script.write_text(
        f"#!/bin/sh\nexec srun --kill-on-bad-exit=1 {sys.executable} {PROG} --sleep\n"
    )
    res = cluster.run(
        ["sbatch", "--parsable", "-N2", "--ntasks-per-node=2", "--output=out.txt", str(script)],
        env=job_env,
        cwd=tmp_path,
        check=True,
    )
    job = res.stdout.strip().split(";")[0]
    ready = wait_for_lines(tmp_path / "out.txt", READY, 4, 90)
    cluster.run(["scancel", job], check=True)
    info = cluster.wait_job(job, timeout=60)
    assert info["JobState"] == "CANCELLED"
    assert_gone(cluster, ready)


@pytest.mark.timeout(120)
def test_a_rank_killed_on_one_node_fails_the_others_and_the_job(
    cluster: Cluster, job_env: dict[str, str]
) -> None:
    res = cluster.run(
        ["srun", "-N2", "-n4", "--ntasks-per-node=2", sys.executable, str(PROG), "--die", "3"],
        env={**job_env, "ZMQMESH_FAILURE_TIMEOUT": "2"},
        timeout=100,
    )
    assert res.returncode != 0, res.stdout + res.stderr
    caught = re.findall(r"^caught RankFailedError (\d+)$", res.stdout, re.M)
    assert caught == ["3", "3", "3"], res.stdout + res.stderr
    assert sorted(results(res.stdout)) == [0, 1, 2, 3]
