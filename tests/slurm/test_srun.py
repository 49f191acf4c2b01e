"""zmqmesh programs started by the real srun, sbatch and salloc."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from .cluster import Cluster

PROG = Path(__file__).resolve().parent / "mesh_prog.py"


def results(out: str) -> dict[int, dict[str, object]]:
    """rank -> the ``result`` record of that rank in ``out`` (found anywhere:
    some launchers run the ranks' lines together)."""
    found = [json.loads(m) for m in re.findall(r"result (\{[^{}]*\})", out)]
    return {int(d["rank"]): d for d in found}


def check_mesh(out: str, size: int, nodes: list[str]) -> None:
    """Every rank of a job of ``size`` ranks, placed on ``nodes`` (rank ->
    node), reported its checks as passed."""
    got = results(out)
    assert sorted(got) == list(range(size)), out
    for r, d in got.items():
        assert d["size"] == size
        assert d["node"] == nodes[r]
        assert d["nodes"] == nodes
        assert d["sum"] == size * (size + 1) / 2
    assert len({d["pid"] for d in got.values()}) == size


@pytest.mark.timeout(120)
def test_srun_two_nodes_four_ranks(cluster: Cluster, job_env: dict[str, str]) -> None:
    res = cluster.run(
        ["srun", "-N2", "-n4", "--ntasks-per-node=2", "--kill-on-bad-exit=1",
         sys.executable, str(PROG)],
        env=job_env, timeout=100,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    check_mesh(res.stdout, 4, ["zmh1", "zmh1", "zmh2", "zmh2"])


@pytest.mark.timeout(120)
def test_srun_cyclic_puts_neighbours_on_other_nodes(
    cluster: Cluster, job_env: dict[str, str]
) -> None:
    res = cluster.run(
        ["srun", "-N2", "-n4", "--ntasks-per-node=2", "--distribution=cyclic",
         "--kill-on-bad-exit=1", sys.executable, str(PROG)],
        env=job_env, timeout=100,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    check_mesh(res.stdout, 4, ["zmh1", "zmh2", "zmh1", "zmh2"])


@pytest.mark.timeout(120)
def test_a_batch_script_running_python_directly_is_a_job_of_one_rank(
    cluster: Cluster, job_env: dict[str, str], tmp_path: Path
) -> None:
    # Slurm 22.05 gives the batch script SLURM_PROCID=0 and SLURM_NTASKS=4
    # but no step id: the program must not wait for 3 ranks that never come.
    script = tmp_path / "job.sh"
    script.write_text(f"#!/bin/sh\nexec {sys.executable} {PROG}\n")
    res = cluster.run(
        ["sbatch", "--parsable", "-N2", "-n4", f"--output={tmp_path}/out.txt", str(script)],
        env=job_env, cwd=tmp_path, check=True,
    )  # fmt: skip
    info = cluster.wait_job(res.stdout.strip().split(";")[0], timeout=90)
    out = (tmp_path / "out.txt").read_text()
    assert info["JobState"] == "COMPLETED", out
    got = results(out)
    assert list(got) == [0], out
    assert got[0]["size"] == 1
    assert got[0]["node"] == "zmh1"


@pytest.mark.timeout(120)
def test_an_salloc_shell_running_python_directly_is_a_job_of_one_rank(
    cluster: Cluster, job_env: dict[str, str]
) -> None:
    res = cluster.run(["salloc", "-N2", "-n4", sys.executable, str(PROG)], env=job_env, timeout=100)
    assert res.returncode == 0, res.stdout + res.stderr
    got = results(res.stdout)
    assert list(got) == [0], res.stdout
    assert got[0]["size"] == 1
