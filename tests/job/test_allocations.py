"""Allocations of PBS, LSF, Grid Engine and Flux, from reproductions of the
files and variables each gives a batch script."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqmesh.errors import LaunchError
from zmqmesh.job.allocation import (
    FLUX_COMMAND,
    FLUX_FALLBACK,
    find_allocation,
    flux_allocation,
    lsf_allocation,
    parse_flux_resources,
    parse_idset,
    pbs_allocation,
    sge_allocation,
)

pytestmark = pytest.mark.timeout(30)
PROPERTY = settings(max_examples=100, deadline=None, database=None)


def files(**texts: str):  # type: ignore[no-untyped-def]
    """A reader of the files ``texts`` holds (path -> text)."""

    def read(var: str, path: str) -> str:
        if path not in texts:
            raise LaunchError(f"{var}={path}: cannot read it: No such file or directory")
        return texts[path]

    return read


def no_files(var: str, path: str) -> str:
    raise AssertionError(f"read {var}={path}")


def no_commands(argv: tuple[str, ...]) -> str:
    raise AssertionError(f"ran {argv}")


def slots(alloc) -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    assert alloc is not None
    return [(h.name, h.slots) for h in alloc.hosts]


# -- PBS / Torque / PBS Pro ----------------------------------------------------------------

# qsub -l nodes=2:ppn=3 (Torque), as the batch script's PBS_NODEFILE has it
TORQUE = "node01\nnode01\nnode01\nnode02\nnode02\nnode02\n"
# qsub -l select=2:ncpus=4:mpiprocs=2 (PBS Pro): a line per MPI process, FQDNs
PBS_PRO = "c1.hpc.example.org\nc1.hpc.example.org\nc7.hpc.example.org\nc7.hpc.example.org\n"


def test_torque_nodefile_repeats_a_host_per_slot() -> None:
    env = {"PBS_NODEFILE": "/var/spool/torque/aux/42.server", "PBS_JOBID": "42.server"}
    alloc = pbs_allocation(env, files(**{"/var/spool/torque/aux/42.server": TORQUE}))
    assert slots(alloc) == [("node01", 3), ("node02", 3)]
    assert alloc is not None
    assert alloc.who == "PBS"
    assert alloc.job == "42.server"
    assert alloc.hosts[1].source == "PBS_NODEFILE=/var/spool/torque/aux/42.server:4"


def test_pbs_pro_nodefile() -> None:
    env = {"PBS_NODEFILE": "/var/spool/pbs/aux/7.pbs", "PBS_JOBID": "7.pbs"}
    alloc = pbs_allocation(env, files(**{"/var/spool/pbs/aux/7.pbs": PBS_PRO}))
    assert slots(alloc) == [("c1.hpc.example.org", 2), ("c7.hpc.example.org", 2)]


def test_outside_pbs_is_none_and_a_missing_nodefile_is_an_error() -> None:
    assert pbs_allocation({"PBS_JOBID": "1"}, no_files) is None
    with pytest.raises(LaunchError, match=r"^PBS_NODEFILE=/gone: cannot read it"):
        pbs_allocation({"PBS_NODEFILE": "/gone"}, files())
    with pytest.raises(LaunchError, match=r"^PBS_NODEFILE=/f:2: invalid host name"):
        pbs_allocation({"PBS_NODEFILE": "/f"}, files(**{"/f": "a\n-b\n"}))
    with pytest.raises(LaunchError, match=r"^PBS_NODEFILE=/f: no hosts"):
        pbs_allocation({"PBS_NODEFILE": "/f"}, files(**{"/f": ""}))


# -- LSF ----------------------------------------------------------------------------------


def test_lsf_djob_hostfile_comes_first() -> None:
    env = {
        "LSB_JOBID": "1234",
        "LSB_DJOB_HOSTFILE": "/tmp/.lsbatch/1234.hostfile",
        "LSB_MCPU_HOSTS": "ignored 1",
    }
    text = "hostA\nhostA\nhostB\nhostB\nhostB\n"
    alloc = lsf_allocation(env, files(**{"/tmp/.lsbatch/1234.hostfile": text}))
    assert slots(alloc) == [("hostA", 2), ("hostB", 3)]
    assert alloc is not None
    assert alloc.who == "LSF"
    assert alloc.job == "1234"


def test_lsf_mcpu_hosts_pairs() -> None:
    env = {"LSB_JOBID": "5", "LSB_MCPU_HOSTS": "hostA 4 hostB 2 "}
    assert slots(lsf_allocation(env, no_files)) == [("hostA", 4), ("hostB", 2)]


def test_lsf_hosts_a_host_per_slot() -> None:
    env = {"LSB_JOBID": "5", "LSB_HOSTS": "hostA hostA hostB"}
    assert slots(lsf_allocation(env, no_files)) == [("hostA", 2), ("hostB", 1)]


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("hostA 4 hostB", "is not 'host count' pairs"),
        ("hostA four", "'four' is not a count"),
        ("hostA 0", "slots must be a positive integer"),
        ("host#A 1", "'#' in a host name"),
    ],
)
def test_malformed_lsb_mcpu_hosts(value: str, match: str) -> None:
    with pytest.raises(LaunchError, match=match):
        lsf_allocation({"LSB_JOBID": "5", "LSB_MCPU_HOSTS": value}, no_files)


def test_outside_lsf_is_none() -> None:
    assert lsf_allocation({"LSB_MCPU_HOSTS": "a 1"}, no_files) is None
    assert lsf_allocation({"LSB_JOBID": "5"}, no_files) is None


# -- Grid Engine --------------------------------------------------------------------------


def test_grid_engine_pe_hostfile() -> None:
    text = (
        "node1.cluster 4 all.q@node1.cluster UNDEFINED\n"
        "node2.cluster 2 all.q@node2.cluster UNDEFINED\n"
    )
    env = {
        "PE_HOSTFILE": "/opt/sge/default/spool/node1/active_jobs/77.1/pe_hostfile",
        "JOB_ID": "77",
    }
    alloc = sge_allocation(env, files(**{env["PE_HOSTFILE"]: text}))
    assert slots(alloc) == [("node1.cluster", 4), ("node2.cluster", 2)]
    assert alloc is not None
    assert alloc.who == "Grid Engine"
    assert alloc.job == "77"
    assert sge_allocation({"JOB_ID": "77"}, no_files) is None


# -- Flux ---------------------------------------------------------------------------------


def resource_set(r_lite: list[dict[str, object]], nodelist: list[str]) -> str:
    execution = {"R_lite": r_lite, "starttime": 0.0, "expiration": 0.0, "nodelist": nodelist}
    return json.dumps({"version": 1, "execution": execution})


def test_flux_resource_set_gives_a_slot_per_core() -> None:
    text = resource_set(
        [
            {"rank": "0", "children": {"core": "0-7", "gpu": "0-1"}},
            {"rank": "1-2", "children": {"core": "0-3"}},
        ],
        ["fluke1", "fluke[8-9]"],
    )
    hosts = parse_flux_resources(text)
    assert [(h.name, h.slots) for h in hosts] == [("fluke1", 8), ("fluke8", 4), ("fluke9", 4)]


def test_flux_allocation_runs_flux_resource_r_inside_the_job() -> None:
    ran: list[tuple[str, ...]] = []

    def run(argv: tuple[str, ...]) -> str:
        ran.append(argv)
        return resource_set([{"rank": "0-1", "children": {"core": "0-1"}}], ["n[1-2]"])

    env = {"FLUX_JOB_ID": "f2cXk8Jy", "FLUX_URI": "local:///tmp/flux-x/local-0"}
    alloc = flux_allocation(env, run)
    assert slots(alloc) == [("n1", 2), ("n2", 2)]
    assert alloc is not None
    assert alloc.who == "Flux"
    assert alloc.job == "f2cXk8Jy"
    assert ran == [FLUX_COMMAND]
    assert flux_allocation({"FLUX_URI": "local:///x"}, no_commands) is None
    assert flux_allocation({"FLUX_JOB_ID": "f1"}, no_commands) is None


def test_older_flux_keeps_the_resource_set_in_its_kvs() -> None:
    ran: list[tuple[str, ...]] = []
    r = resource_set([{"rank": "0", "children": {"core": "0-2"}}], ["old1"])

    def run(argv: tuple[str, ...]) -> str:
        ran.append(argv)
        if argv == FLUX_COMMAND:
            raise LaunchError("flux resource R failed: flux-resource: unknown command 'R'")
        return r

    env = {"FLUX_JOB_ID": "f1", "FLUX_URI": "local:///x"}
    assert slots(flux_allocation(env, run)) == [("old1", 3)]
    assert ran == [FLUX_COMMAND, FLUX_FALLBACK]

    def broken(argv: tuple[str, ...]) -> str:
        raise LaunchError(f"{' '.join(argv)} failed")

    with pytest.raises(LaunchError, match=r"^flux resource R failed$"):
        flux_allocation(env, broken)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("nope", "not JSON"),
        ("[]", "not a resource set"),
        ('{"version": 2, "execution": {"R_lite": [], "nodelist": []}}', "not a resource set"),
        ('{"version": 1, "execution": {"R_lite": {}, "nodelist": []}}', "not a resource set"),
        (resource_set([{"rank": "0-2", "children": {"core": "0"}}], ["a,b"]), "rank 2 has no name"),
        (resource_set([{"rank": "0", "children": {"gpu": "0"}}], ["a"]), "has 0 cores"),
        (resource_set([{"rank": "x", "children": {"core": "0"}}], ["a"]), "'x' is not N or N-M"),
        (resource_set([{"rank": "0", "children": {"core": "3-1"}}], ["a"]), "bad range"),
        (resource_set([], ["a"]), "no cores"),
        (resource_set([{"rank": "0", "children": {"core": "0"}}], ["a[1-"]), "nodelist"),
    ],
)
def test_malformed_resource_sets(text: str, match: str) -> None:
    with pytest.raises(LaunchError, match=match):
        parse_flux_resources(text)


@PROPERTY
@given(st.lists(st.integers(0, 5000), unique=True, max_size=40))
def test_idsets_round_trip(ids: list[int]) -> None:
    ids.sort()
    # compress into ranges, as Flux writes them
    parts: list[str] = []
    i = 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        parts.append(str(ids[i]) if i == j else f"{ids[i]}-{ids[j]}")
        i = j + 1
    assert parse_idset(",".join(parts)) == ids


@PROPERTY
@given(st.text(max_size=20))
def test_any_resource_set_text_parses_or_raises_launch_error(text: str) -> None:
    with contextlib.suppress(LaunchError):
        parse_flux_resources(text)


# -- which allocation ---------------------------------------------------------------------

SLURM = {"SLURM_JOB_ID": "3", "SLURM_JOB_NODELIST": "s[1-2]", "SLURM_TASKS_PER_NODE": "2(x2)"}
FLUX = {"FLUX_JOB_ID": "f1", "FLUX_URI": "local:///x"}
PBS = {"PBS_NODEFILE": "/pbs"}
LSF = {"LSB_JOBID": "9", "LSB_MCPU_HOSTS": "l1 1"}
SGE = {"PE_HOSTFILE": "/sge"}
READ = files(**{"/pbs": "p1\np1\n", "/sge": "g1 3 all.q@g1 UNDEFINED\n"})


def flux_run(argv: tuple[str, ...]) -> str:
    return resource_set([{"rank": "0", "children": {"core": "0-4"}}], ["f1"])


@pytest.mark.parametrize(
    ("envs", "who", "first"),
    [
        ([SLURM], "SLURM", ("s1", 2)),
        ([PBS], "PBS", ("p1", 2)),
        ([LSF], "LSF", ("l1", 1)),
        ([SGE], "Grid Engine", ("g1", 3)),
        ([FLUX], "Flux", ("f1", 5)),
        ([SLURM, FLUX], "Flux", ("f1", 5)),  # a Flux instance started inside a SLURM job
        ([SLURM, PBS, LSF, SGE], "SLURM", ("s1", 2)),
        ([PBS, LSF, SGE], "PBS", ("p1", 2)),
        ([LSF, SGE], "LSF", ("l1", 1)),
    ],
)
def test_which_allocation(envs: list[dict[str, str]], who: str, first: tuple[str, int]) -> None:
    env = {k: v for e in envs for k, v in e.items()}
    alloc = find_allocation(env, READ, flux_run)
    assert alloc is not None
    assert alloc.who == who
    assert slots(alloc)[0] == first


def test_no_allocation() -> None:
    assert (
        find_allocation({"HOME": "/root", "FLUX_URI": "local:///x"}, no_files, no_commands) is None
    )
