"""MPICH's mpiexec and Open MPI's mpirun inside a SLURM allocation: their
ranks carry SLURM variables of the daemons that started them, and the MPI
launcher's variables win."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from .cluster import Cluster, on_ci
from .test_srun import PROG, results


def need(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        reason = f"{program} is not installed (tests/slurm/install.sh installs it)"
        if on_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return path


def run_batch(cluster: Cluster, env: dict[str, str], tmp: Path, body: str, *options: str) -> str:
    script = tmp / "job.sh"
    script.write_text(f"#!/bin/sh\n{body}\n")
    res = cluster.run(
        ["sbatch", "--parsable", "--output=out.txt", *options, str(script)],
        env=env,
        cwd=tmp,
        check=True,
    )
    info = cluster.wait_job(res.stdout.strip().split(";")[0], timeout=90)
    out = (tmp / "out.txt").read_text()
    assert info["JobState"] == "COMPLETED", out
    return out


def check_two_nodes(cluster: Cluster, out: str) -> None:
    """Four ranks, 0 and 1 on zmh1, 2 and 3 on zmh2 (told apart by their
    network namespace: the nodes share one host name here)."""
    got = results(out)
    assert sorted(got) == [0, 1, 2, 3], out
    assert {d["size"] for d in got.values()} == {4}
    assert {d["sum"] for d in got.values()} == {10.0}
    where = [
        cluster.hosts.run(n, "readlink /proc/self/ns/net").stdout.strip() for n in cluster.nodes
    ]
    assert [got[r]["netns"] for r in range(4)] == [where[0], where[0], where[1], where[1]]


@pytest.mark.timeout(120)
def test_mpich_mpiexec_in_a_batch_script_across_nodes(
    cluster: Cluster, job_env: dict[str, str], tmp_path: Path
) -> None:
    mpiexec = need("mpiexec.mpich")
    # -localhost: the nodes share one host name here, which Hydra's proxies
    # would otherwise be told to call back to
    body = (
        f"{mpiexec} -localhost zmh1 -n 4 -genv ZMQMESH_RENDEZVOUS zmh1:29600 "
        f"{sys.executable} {PROG}"
    )
    out = run_batch(cluster, job_env, tmp_path, body, "-N2", "--ntasks-per-node=2")
    check_two_nodes(cluster, out)


@pytest.mark.timeout(120)
def test_open_mpi_mpirun_in_a_batch_script_across_nodes(
    cluster: Cluster, job_env: dict[str, str], tmp_path: Path
) -> None:
    mpirun = need("mpirun.openmpi")
    body = (
        f"{mpirun} --allow-run-as-root -x ZMQMESH_RENDEZVOUS=zmh1:29601 -x PYTHONPATH "
        f"{sys.executable} {PROG}"
    )
    out = run_batch(cluster, job_env, tmp_path, body, "-N2", "--ntasks-per-node=2")
    check_two_nodes(cluster, out)


@pytest.mark.timeout(120)
def test_mpiexec_on_one_node_of_an_allocation_needs_no_rendezvous(
    cluster: Cluster, job_env: dict[str, str], tmp_path: Path
) -> None:
    mpiexec = need("mpiexec.mpich")
    body = f"{mpiexec} -n 2 {sys.executable} {PROG}"
    out = run_batch(cluster, job_env, tmp_path, body, "-N1", "-n2")
    got = results(out)
    assert sorted(got) == [0, 1], out
    assert {d["size"] for d in got.values()} == {2}
