"""Start-up without our launcher: the environment srun or mpirun gives."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from conftest import ROOT, job_env

PROGRAM = """
import numpy as np, zmqmesh
async def main(comm):
    total = await comm.allreduce(np.arange(3) + comm.rank)
    names = await comm.allgather(comm.rank)
    assert names == list(range(comm.size))
    print("rank", comm.rank, "of", comm.size, "sum", total.tolist(), flush=True)
zmqmesh.run(main)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_ranks(tmp_path, envs: list[dict[str, str]]) -> list[subprocess.CompletedProcess[str]]:
    prog = tmp_path / "prog.py"
    prog.write_text(PROGRAM)
    procs = [
        subprocess.Popen(
            [sys.executable, str(prog)],
            env=job_env(**env),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for env in envs
    ]
    out = []
    for p in procs:
        try:
            so, se = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        out.append(subprocess.CompletedProcess(p.args, p.returncode, so, se))
    return out


@pytest.mark.timeout(90)
def test_srun_environment(tmp_path) -> None:
    n, port = 3, free_port()
    envs = [
        {
            "SLURM_PROCID": str(r),
            "SLURM_NTASKS": str(n),
            "SLURM_NODELIST": "localhost",
            "SLURM_JOB_ID": "4242",
            "ZMQMESH_RENDEZVOUS_PORT": str(port),
        }
        for r in range(n)
    ]
    for r, res in enumerate(run_ranks(tmp_path, envs)):
        assert res.returncode == 0, res.stderr
        assert f"rank {r} of {n} sum [3, 6, 9]" in res.stdout


@pytest.mark.timeout(90)
def test_mpirun_environment_with_rendezvous(tmp_path) -> None:
    n, port = 2, free_port()
    envs = [
        {
            "OMPI_COMM_WORLD_RANK": str(r),
            "OMPI_COMM_WORLD_SIZE": str(n),
            "ZMQMESH_RENDEZVOUS": f"127.0.0.1:{port}",
        }
        for r in range(n)
    ]
    for r, res in enumerate(run_ranks(tmp_path, envs)):
        assert res.returncode == 0, res.stderr
        assert f"rank {r} of {n} sum [1, 3, 5]" in res.stdout


@pytest.mark.timeout(60)
def test_mpirun_without_rendezvous_is_a_clear_error(tmp_path) -> None:
    envs = [{"PMI_RANK": "0", "PMI_SIZE": "2"}]
    (res,) = run_ranks(tmp_path, envs)
    assert res.returncode != 0
    assert "ZMQMESH_RENDEZVOUS" in res.stderr


def test_a_rank_on_rank_0s_host_advertises_the_rendezvous_name_not_loopback() -> None:
    # Where a node's own name resolves to loopback (Debian's 127.0.1.1), the
    # route to rank 0's host is loopback for a rank that shares it: peers on
    # other hosts reach it by the name they reach rank 0 by.
    from zmqmesh.job.foreign import ForeignJob
    from zmqmesh.runtime.bootstrap import _foreign_addr

    for host in ("localhost", "127.0.0.1"):
        job = ForeignJob(1, 4, "slurm-1", host, 20001, "SLURM")
        assert _foreign_addr(job) == host
        assert _foreign_addr(ForeignJob(0, 4, "slurm-1", host, 20001, "SLURM")) == host


def test_an_unknown_forced_algorithm_stops_init_naming_the_variable() -> None:
    code = "import asyncio, zmqmesh; asyncio.run(zmqmesh.init())"
    res = subprocess.run(
        [sys.executable, "-c", code],
        env=job_env(ZMQMESH_BCAST="fast"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode != 0
    assert "LaunchError: ZMQMESH_BCAST='fast': unknown bcast algorithm 'fast'" in res.stderr
