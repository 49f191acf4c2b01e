"""A job larger than the usual limit of open descriptors allows still runs:
the launcher and the ranks raise their soft limit to the hard one."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, job_env

pytestmark = pytest.mark.timeout(120)

ALLTOALL = """
import numpy as np
import zmqmesh

async def main(comm):
    got = await comm.alltoall([np.full(16, float(comm.rank)) for _ in range(comm.size)])
    assert [int(g[0]) for g in got] == list(range(comm.size))
    await comm.barrier()
    if comm.rank == 0:
        print("alltoall ok", comm.size, flush=True)

zmqmesh.run(main)
"""


def _low_soft_limit(soft: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _hard() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


@pytest.mark.skipif(_hard() < 1024, reason="a hard limit of open files too low to raise to")
def test_raise_open_files_reaches_the_hard_limit() -> None:
    code = (
        "import resource\n"
        "from zmqmesh.transport.limits import raise_open_files\n"
        "now = raise_open_files()\n"
        "assert now == resource.getrlimit(resource.RLIMIT_NOFILE)[0], now\n"
        "print(now)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        preexec_fn=lambda: _low_soft_limit(64),
        capture_output=True,
        text=True,
        env=job_env(),
        check=True,
        timeout=60,
    )
    soft = int(out.stdout)
    assert soft > 64
    assert soft == _hard() or _hard() == resource.RLIM_INFINITY


@pytest.mark.skipif(_hard() < 1024, reason="a hard limit of open files too low to raise to")
def test_a_job_needing_more_descriptors_than_the_soft_limit_runs(tmp_path: Path) -> None:
    # 24 ranks: the launcher holds 3 descriptors per rank and each rank one
    # link per peer, past a soft limit of 64 for both
    script = tmp_path / "alltoall.py"
    script.write_text(ALLTOALL)
    res = subprocess.run(
        [sys.executable, "-m", "zmqmesh", "launch", "-n", "24", "--timeout", "100", str(script)],
        preexec_fn=lambda: _low_soft_limit(64),
        capture_output=True,
        text=True,
        env=job_env(),
        cwd=ROOT,
        timeout=115,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "[0] alltoall ok 24" in res.stdout
