"""``zmqmesh launch`` inside a SLURM allocation: the allocation's task slots,
ranks started as job steps through srun."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from zmqmesh.job.allocation import parse_tasks_per_node
from zmqmesh.job.hostlist import expand_hostlist

from .cluster import Cluster
from .test_batch import READY, assert_gone, wait_for_lines
from .test_srun import PROG, check_mesh, results

LAUNCH = f"{sys.executable} -m zmqmesh launch --timeout 80"


def assert_srun_steps(out: str) -> None:
    """Each rank ran as a SLURM job step of its own (srun, not ssh)."""
    steps = [d["step"] for d in results(out).values()]
    assert None not in steps
    assert len(set(steps)) == len(steps)


def batch(cluster: Cluster, env: dict[str, str], tmp: Path, body: str, *options: str) -> str:
    """Submit a batch script of ``body`` with ``options``; the job id."""
    script = tmp / "job.sh"
    script.write_text(f"#!/bin/sh\n{body}\n")
    res = cluster.run(
        ["sbatch", "--parsable", "--output=out.txt", *options, str(script)],
        env={**env, "TMPDIR": str(tmp / "t")},
        cwd=tmp,
        check=True,
    )
    (tmp / "t").mkdir(exist_ok=True)
    return res.stdout.strip().split(";")[0]


@pytest.mark.timeout(120)
def test_launch_in_salloc_takes_the_allocation(cluster: Cluster, job_env: dict[str, str]) -> None:
    res = cluster.run(
        ["salloc", "-N2", "--ntasks-per-node=2", *LAUNCH.split(), str(PROG)],
        env=job_env,
        timeout=100,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    check_mesh(res.stdout, 4, ["zmh1", "zmh1", "zmh2", "zmh2"])
    assert all(line.startswith("[") for line in res.stdout.splitlines() if "result" in line)
    assert_srun_steps(res.stdout)


@pytest.mark.timeout(120)
def test_launch_in_a_batch_script_takes_the_allocation(
    cluster: Cluster, job_env: dict[str, str], tmp_path: Path
) -> None:
    # 3 tasks on 2 nodes: not the same number on each
    body = f"echo tasks=$SLURM_TASKS_PER_NODE nodes=$SLURM_JOB_NODELIST\n{LAUNCH} {PROG}"
    job = batch(cluster, job_env, tmp_path, body, "-N2", "-n3")
    info = cluster.wait_job(job, timeout=90)
    out = (tmp_path / "out.txt").read_text()
    assert info["JobState"] == "COMPLETED", out
    tasks, nodes = re.search(r"^tasks=(\S+) nodes=(\S+)$", out, re.M).groups()  # type: ignore[union-attr]
    counts = parse_tasks_per_node(tasks)
    assert sorted(counts) == [1, 2]
    placement = [n for n, c in zip(expand_hostlist(nodes), counts, strict=True) for _ in range(c)]
    check_mesh(out, 3, placement)
    assert_srun_steps(out)


@pytest.mark.timeout(120)
def test_scancel_of_a_launch_in_a_batch_script_leaves_nothing(
    cluster: Cluster, job_env: dict[str, str], tmp_path: Path
) -> None:
    job = batch(
        cluster, job_env, tmp_path, f"{LAUNCH} {PROG} --sleep", "-N2", "--ntasks-per-node=2"
    )
    ready = wait_for_lines(tmp_path / "out.txt", READY, 4, 90)
    cluster.run(["scancel", job], check=True)
    assert cluster.wait_job(job, timeout=60)["JobState"] == "CANCELLED"
    assert_gone(cluster, ready)
    assert list((tmp_path / "t").iterdir()) == []  # the launcher's own directories


@pytest.mark.timeout(120)
def test_scancel_of_local_ranks_in_a_batch_script_leaves_no_directory(
    cluster: Cluster, job_env: dict[str, str], tmp_path: Path
) -> None:
    # -n: ranks on the batch script's node, with sockets and shared memory
    body = f"{LAUNCH} -n 2 {PROG} --sleep"
    job = batch(cluster, job_env, tmp_path, body, "-N1", "-n2")
    ready = wait_for_lines(tmp_path / "out.txt", READY, 2, 90)
    assert all(r[2] != "-" and r[3] != "-" for r in ready), ready
    cluster.run(["scancel", job], check=True)
    assert cluster.wait_job(job, timeout=60)["JobState"] == "CANCELLED"
    assert_gone(cluster, ready)


@pytest.mark.timeout(120)
def test_a_rank_killed_under_launch_in_salloc_fails_the_job(
    cluster: Cluster, job_env: dict[str, str]
) -> None:
    res = cluster.run(
        ["salloc", "-N2", "--ntasks-per-node=2", *LAUNCH.split(), "--grace", "20",
         str(PROG), "--die", "3"],
        env={**job_env, "ZMQMESH_FAILURE_TIMEOUT": "2"},
        timeout=100,
    )  # fmt: skip
    assert res.returncode != 0, res.stdout + res.stderr
    caught = re.findall(r"^\[(\d)\] caught RankFailedError 3$", res.stdout, re.M)
    assert sorted(caught) == ["0", "1", "2"], res.stdout + res.stderr
    assert "zmqmesh: rank 3 on zmh2 (srun pid" in res.stderr, res.stderr
