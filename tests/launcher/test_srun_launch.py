"""``zmqmesh launch`` inside a SLURM allocation: the job it makes, the srun
command of each rank, and how a rank started by srun finds the launcher.
(The real thing runs in tests/slurm.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from zmqmesh.errors import LaunchError
from zmqmesh.launcher import remote
from zmqmesh.launcher.cli import job_spec, parse_args
from zmqmesh.launcher.jobspec import JobSpec
from zmqmesh.launcher.policy import describe_exit
from zmqmesh.launcher.srun import SRUN_OPTIONS, srun_command

pytestmark = pytest.mark.timeout(30)

ALLOCATION = {
    "SLURM_JOB_ID": "3",
    "SLURM_JOB_NODELIST": "zmh[1-2]",
    "SLURM_TASKS_PER_NODE": "3,1",
    "SLURM_NTASKS": "4",
}


@pytest.fixture
def srun(tmp_path: Path) -> Path:
    path = tmp_path / "bin" / "srun"
    path.parent.mkdir()
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def spec_of(words: list[str], env: dict[str, str], tmp_path: Path) -> JobSpec:
    script = tmp_path / "prog.py"
    script.write_text("")
    return job_spec(parse_args(["launch", *words, str(script)]), env)


def test_no_n_and_no_hosts_inside_an_allocation_takes_every_task_slot(
    srun: Path, tmp_path: Path
) -> None:
    spec = spec_of([], {**ALLOCATION, "PATH": str(srun.parent)}, tmp_path)
    assert spec.size == 4
    assert spec.hosts == ("zmh1", "zmh1", "zmh1", "zmh2")
    assert spec.srun == str(srun)
    assert spec.spans_hosts


@pytest.mark.parametrize("words", [["-n", "2"], ["--host", "localhost:2"]])
def test_n_or_hosts_choose_for_themselves(words: list[str], srun: Path, tmp_path: Path) -> None:
    spec = spec_of(words, {**ALLOCATION, "PATH": str(srun.parent)}, tmp_path)
    assert spec.size == 2
    assert spec.srun is None
    assert not spec.spans_hosts


def test_outside_an_allocation_one_local_rank(srun: Path, tmp_path: Path) -> None:
    spec = spec_of([], {"PATH": str(srun.parent)}, tmp_path)
    assert (spec.size, spec.hosts, spec.srun) == (1, (), None)


def test_an_allocation_without_srun_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LaunchError, match=r"^inside SLURM job 3, but srun is not on PATH: give"):
        spec_of([], {**ALLOCATION, "PATH": str(tmp_path)}, tmp_path)


def test_a_malformed_allocation_is_a_launch_error(srun: Path, tmp_path: Path) -> None:
    env = {**ALLOCATION, "SLURM_TASKS_PER_NODE": "3", "PATH": str(srun.parent)}
    with pytest.raises(LaunchError, match=r"^SLURM_TASKS_PER_NODE='3' gives 1 nodes"):
        spec_of([], env, tmp_path)


def test_the_srun_command_of_a_rank() -> None:
    cmd = srun_command("/usr/bin/srun", "zmh2", "/venv/bin/python", 3)
    assert cmd == [
        "/usr/bin/srun", *SRUN_OPTIONS, "--nodelist=zmh2", "--job-name=zmqmesh-rank-3",
        "/venv/bin/python", "-m", "zmqmesh.launcher.remote",
    ]  # fmt: skip
    # one task, sharing the allocation's CPUs with the other ranks' steps
    assert {"--nodes=1", "--ntasks=1", "--overlap", "--kill-on-bad-exit=0"} <= set(cmd)


def test_a_rank_over_ssh_learns_the_ends_from_ssh() -> None:
    env = {"SSH_CONNECTION": "10.0.0.1 5555 10.0.0.7 22", "SLURM_LAUNCH_NODE_IPADDR": "x"}
    assert remote._launcher_and_self(env) == ("10.0.0.1", "10.0.0.7")


def test_a_rank_of_srun_learns_the_launcher_from_slurm() -> None:
    env = {"SLURM_LAUNCH_NODE_IPADDR": "127.0.0.1", "SLURM_STEP_ID": "4"}
    # the route to a loopback launcher is loopback: the node's name instead
    assert remote._launcher_and_self({**env, "SLURMD_NODENAME": "zmh1"}) == ("127.0.0.1", "zmh1")


def test_a_rank_of_neither_keeps_its_environment() -> None:
    assert remote._launcher_and_self({}) is None
    # the batch script's srun variables without a step: not started by srun
    assert remote._launcher_and_self({"SLURM_LAUNCH_NODE_IPADDR": "10.0.0.1"}) is None


def test_a_failed_srun_rank_is_named_as_such() -> None:
    line = describe_exit(2, 77, 1, "zmh2", "srun")
    assert line == "zmqmesh: rank 2 on zmh2 (srun pid 77) exited with code 1"
    # 255 means a failed ssh only for ssh
    assert "ssh failed" not in describe_exit(2, 77, 255, "zmh2", "srun")
    assert "ssh failed" in describe_exit(2, 77, 255, "zmh2")
