"""``zmqmesh launch`` inside PBS, LSF, Grid Engine and Flux allocations, and
the placement options, in process: the job each command line makes. (Real
jobs run in tests/multihost/test_allocations.py and test_placement_jobs.py.)"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from zmqmesh.errors import LaunchError
from zmqmesh.launcher.cli import job_spec, parse_args
from zmqmesh.launcher.jobspec import JobSpec, rank_environ, rank_settings
from zmqmesh.launcher.placement import BIND_ENV

pytestmark = pytest.mark.timeout(30)

ME = socket.gethostname()


def spec_of(words: list[str], env: dict[str, str], tmp_path: Path) -> JobSpec:
    script = tmp_path / "prog.py"
    script.write_text("")
    return job_spec(parse_args(["launch", *words, str(script)]), env)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.fixture
def flux(tmp_path: Path) -> dict[str, str]:
    """A ``flux`` on PATH that prints a resource set of this machine
    (4 cores) and records the environment it ran in."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    r = {
        "version": 1,
        "execution": {"R_lite": [{"rank": "0", "children": {"core": "0-3"}}], "nodelist": [ME]},
    }
    (bindir / "flux").write_text(
        f"#!/bin/sh\necho \"$@ $FLUX_URI\" > {tmp_path}/flux.args\necho '{json.dumps(r)}'\n"
    )
    (bindir / "flux").chmod(0o755)
    return {"FLUX_JOB_ID": "f3Zq", "FLUX_URI": "local:///run/flux/1", "PATH": str(bindir)}


def allocations(tmp_path: Path, flux: dict[str, str]) -> dict[str, dict[str, str]]:
    per_slot = f"localhost\nlocalhost\n{ME}\nlocalhost\n"
    return {
        "PBS": {"PBS_NODEFILE": write(tmp_path, "nodefile", per_slot), "PBS_JOBID": "1.pbs"},
        "LSF hostfile": {
            "LSB_JOBID": "2",
            "LSB_DJOB_HOSTFILE": write(tmp_path, "lsf", per_slot),
        },
        "LSF pairs": {"LSB_JOBID": "2", "LSB_MCPU_HOSTS": f"localhost 3 {ME} 1"},
        "Grid Engine": {
            "JOB_ID": "3",
            "PE_HOSTFILE": write(
                tmp_path,
                "pe",
                f"localhost 3 all.q@localhost UNDEFINED\n{ME} 1 all.q@{ME} UNDEFINED\n",
            ),
        },
        "Flux": flux,
    }


@pytest.mark.parametrize("who", ["PBS", "LSF hostfile", "LSF pairs", "Grid Engine", "Flux"])
def test_no_n_and_no_hosts_inside_an_allocation_takes_every_slot(
    who: str, tmp_path: Path, flux: dict[str, str]
) -> None:
    spec = spec_of([], allocations(tmp_path, flux)[who], tmp_path)
    assert spec.size == 4
    assert spec.hosts == ()  # every host is this machine: no ssh
    assert spec.srun is None
    if who == "Flux":
        assert (tmp_path / "flux.args").read_text().split() == ["resource", "R", flux["FLUX_URI"]]


@pytest.mark.parametrize("who", ["PBS", "LSF hostfile", "Grid Engine"])
def test_the_allocation_file_is_a_hostfile_too(
    who: str, tmp_path: Path, flux: dict[str, str]
) -> None:
    env = allocations(tmp_path, flux)[who]
    path = next(v for k, v in env.items() if k.endswith("FILE"))
    spec = spec_of(["--hosts", path], {}, tmp_path)
    assert spec.size == 4


def test_n_chooses_for_itself_inside_an_allocation(tmp_path: Path, flux: dict[str, str]) -> None:
    for env in allocations(tmp_path, flux).values():
        spec = spec_of(["-n", "2"], env, tmp_path)
        assert (spec.size, spec.hosts) == (2, ())


@pytest.mark.parametrize(
    ("env", "match"),
    [
        (
            {"PBS_NODEFILE": "/nonexistent/nodefile"},
            r"^PBS_NODEFILE=/nonexistent/nodefile: cannot read",
        ),
        (
            {"LSB_JOBID": "1", "LSB_MCPU_HOSTS": "a"},
            r"^LSB_MCPU_HOSTS='a' is not 'host count' pairs",
        ),
        (
            {"FLUX_JOB_ID": "f1", "FLUX_URI": "local:///x", "PATH": "/nonexistent"},
            "flux is not on PATH",
        ),
    ],
)
def test_a_broken_allocation_is_a_launch_error(
    env: dict[str, str], match: str, tmp_path: Path
) -> None:
    with pytest.raises(LaunchError, match=match):
        spec_of([], env, tmp_path)


def test_a_failing_flux_command_is_a_launch_error(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "flux").write_text('#!/bin/sh\necho "flux-$1: Unable to connect" >&2\nexit 1\n')
    (bindir / "flux").chmod(0o755)
    env = {"FLUX_JOB_ID": "f1", "FLUX_URI": "local:///x", "PATH": str(bindir)}
    with pytest.raises(
        LaunchError, match=r"^flux resource R failed: flux-resource: Unable to connect$"
    ):
        spec_of([], env, tmp_path)


# -- placement options ------------------------------------------------------------------------


def test_placement_options_are_parsed(tmp_path: Path) -> None:
    hf = write(tmp_path, "hosts", "localhost slots=2\n")
    spec = spec_of(
        ["--hosts", hf, "--map-by", "node", "-N", "2", "--bind-to", "core"], {}, tmp_path
    )
    assert spec.size == 2
    assert spec.bind == ("core:0/2", "core:1/2")
    spec = spec_of(["--npernode=1", "--hosts", hf], {}, tmp_path)
    assert (spec.size, spec.bind) == (1, ())


def test_local_n_has_no_slot_limit_but_n_per_node_bounds_it(tmp_path: Path) -> None:
    assert spec_of(["-n", "7"], {}, tmp_path).size == 7
    assert spec_of(["-N", "3"], {}, tmp_path).size == 3
    with pytest.raises(LaunchError, match=r"^-n: 4 ranks do not fit: -N 2 on 1 host runs 2$"):
        spec_of(["-n", "4", "-N", "2"], {}, tmp_path)


def test_oversubscribe_lets_ranks_exceed_the_slots(tmp_path: Path) -> None:
    hf = write(tmp_path, "hosts", "localhost slots=2\n")
    with pytest.raises(LaunchError, match="do not fit in the 2 slots"):
        spec_of(["-n", "3", "--hosts", hf], {}, tmp_path)
    assert spec_of(["-n", "3", "--hosts", hf, "--oversubscribe"], {}, tmp_path).size == 3


def test_bind_to_core_refuses_more_local_ranks_than_cores(tmp_path: Path) -> None:
    cores = len(os.sched_getaffinity(0))
    with pytest.raises(
        LaunchError, match=rf"^--bind-to core: {cores + 1} ranks on this host but {cores} cores"
    ):
        spec_of(["-n", str(cores + 1), "--bind-to", "core"], {}, tmp_path)
    spec = spec_of(["-n", str(cores + 1), "--bind-to", "core", "--oversubscribe"], {}, tmp_path)
    assert spec.bind[-1] == f"core:{cores}/{cores + 1}:share"


def test_the_binding_reaches_the_rank_environment_and_nothing_stale_does(tmp_path: Path) -> None:
    spec = spec_of(["-n", "2", "--bind-to", "core", "--oversubscribe"], {}, tmp_path)
    for rank in range(2):
        settings = rank_settings(spec, rank, job="j", port="1", ipc_dir="/x")
        env = rank_environ(spec, settings, base={BIND_ENV: "stale"})
        assert env[BIND_ENV] == f"core:{rank}/2:share"
    unbound = spec_of(["-n", "2"], {}, tmp_path)
    settings = rank_settings(unbound, 0, job="j", port="1", ipc_dir="/x")
    assert BIND_ENV not in rank_environ(unbound, settings, base={BIND_ENV: "stale"})


@pytest.mark.parametrize(
    ("words", "match"),
    [
        (["--map-by", "socket"], "argument --map-by: invalid choice: 'socket'"),
        (["--bind-to", "socket"], "argument --bind-to: invalid choice: 'socket'"),
        (["-N", "0"], "at least 1, not 0"),
    ],
)
def test_wrong_placement_options(words: list[str], match: str, tmp_path: Path) -> None:
    from zmqmesh.launcher.cli import _UsageError

    with pytest.raises(_UsageError, match=match):
        spec_of(words, {}, tmp_path)
