"""The job's settings: the round trip through the environment, the order in
which launchers are recognized, every variable's check and message."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqmesh.errors import LaunchError
from zmqmesh.job.foreign import ForeignJob
from zmqmesh.job.settings import (
    FAILURE_TIMEOUT,
    RENDEZVOUS_TIMEOUT,
    SPIN_US_MAX,
    VARIABLES,
    JobSettings,
    read_failure_timeout,
)

pytestmark = pytest.mark.timeout(30)

PROPERTY = settings(max_examples=200, deadline=None, database=None)
FUZZ = settings(max_examples=500, deadline=None, database=None)

OURS = {"ZMQMESH_RANK": "1", "ZMQMESH_SIZE": "4", "ZMQMESH_RENDEZVOUS": "tcp://127.0.0.1:9"}
SLURM = {
    "SLURM_PROCID": "3",
    "SLURM_NTASKS": "8",
    "SLURM_NODELIST": "c[07-08]",
    "SLURM_JOB_ID": "123456",
    "SLURM_STEP_ID": "0",
}


def no_lookup() -> str:
    raise AssertionError("the host name was looked up although the environment gives it")


def read(env: dict[str, str], **kw: object) -> JobSettings:
    kw.setdefault("hostname", lambda: "here")
    return JobSettings.from_environ(env, **kw)  # type: ignore[arg-type]


# -- the round trip -------------------------------------------------------------------

# What an environment can hold: no NUL, no lone surrogates.
texts = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\0"), max_size=12)
names = texts.filter(bool)
optional = st.none() | names


# any name travels; the runtime checks it against the collectives at start
algorithms = st.none() | st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)


@st.composite
def job_settings(draw: st.DrawFn) -> JobSettings:
    size = draw(st.integers(1, 1 << 20))
    serve = draw(st.booleans())
    return JobSettings(
        rank=draw(st.integers(0, size - 1)),
        size=size,
        job=draw(texts),
        rendezvous=draw(names if size > 1 else optional),
        ipc_dir=draw(optional),
        shm_dir=draw(optional),
        allow_pickle=draw(st.booleans()),
        host=draw(names),
        tcp=draw(st.booleans()),
        addr=draw(optional),
        launcher_addr=draw(optional),
        keyfile=draw(optional),
        failure_timeout=draw(st.floats(0.5, 3600)),
        unexpected_limit=draw(st.integers(1, 1 << 62)),
        max_frame=draw(st.integers(1, 1 << 62)),
        spin_us=draw(st.none() | st.integers(0, SPIN_US_MAX)),
        profile_dir=draw(optional),
        trace=draw(st.booleans()),
        stats=draw(st.booleans()),
        live=draw(st.booleans()),
        serve_rendezvous=serve,
        rendezvous_port=draw(st.integers(1, 65535)) if serve else 0,
        rendezvous_timeout=draw(st.none() | st.floats(1, 86400)),
        local_links=draw(st.booleans()),
        allreduce=draw(algorithms),
        bcast=draw(algorithms),
        allgather=draw(algorithms),
        alltoall=draw(algorithms),
    )


@PROPERTY
@given(job_settings())
def test_settings_survive_the_environment(s: JobSettings) -> None:
    env = s.to_environ()
    assert set(env) <= set(VARIABLES.values())
    assert all(isinstance(v, str) for v in env.values())
    assert JobSettings.from_environ(env, hostname=no_lookup) == s


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(sorted(VARIABLES.values())),
        st.text(alphabet="0123456789.-+ exyz", max_size=6),
    )
)
def test_any_environment_reads_or_names_the_variable_at_fault(env: dict[str, str]) -> None:
    try:
        s = JobSettings.from_environ(env, hostname=lambda: "here")
    except LaunchError as exc:
        message = str(exc)
        assert "\n" not in message
        assert any(name in message for name in VARIABLES.values()), message
        return
    assert 0 <= s.rank < s.size


def test_every_field_has_one_variable_of_its_own() -> None:
    fields = [f.name for f in dataclasses.fields(JobSettings)]
    assert list(VARIABLES) == fields
    assert len(set(VARIABLES.values())) == len(fields)
    assert all(v.startswith("ZMQMESH_") for v in VARIABLES.values())


def test_defaults_are_left_out_of_the_environment() -> None:
    assert JobSettings(0, 1).to_environ() == {"ZMQMESH_RANK": "0", "ZMQMESH_SIZE": "1"}
    s = JobSettings(2, 3, job="j", rendezvous="tcp://h:1", allow_pickle=True, failure_timeout=2.5)
    assert s.to_environ() == {
        "ZMQMESH_RANK": "2",
        "ZMQMESH_SIZE": "3",
        "ZMQMESH_JOB": "j",
        "ZMQMESH_RENDEZVOUS": "tcp://h:1",
        "ZMQMESH_PICKLE": "1",
        "ZMQMESH_FAILURE_TIMEOUT": "2.5",
    }


def test_settings_are_a_frozen_slotted_record() -> None:
    s = JobSettings(0, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.rank = 1  # type: ignore[misc]
    assert not hasattr(s, "__dict__")


@pytest.mark.parametrize(
    "kw",
    [
        {"rank": 1, "size": 1},
        {"rank": -1, "size": 2},
        {"rank": 0, "size": 0},
        {"rank": 0, "size": 2, "serve_rendezvous": True},
        {"rank": 0, "size": 2, "serve_rendezvous": True, "rendezvous_port": 65536},
        {"rank": 0, "size": 2, "rendezvous_port": 7},
    ],
)
def test_inconsistent_settings_cannot_be_made(kw: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"^(rank|rendezvous_port) "):
        JobSettings(**kw)  # type: ignore[arg-type]


# -- the order: ours, SLURM, Open MPI / PMI, singleton ----------------------------------


def test_our_launchers_variables() -> None:
    env = {
        **OURS,
        "ZMQMESH_JOB": "j",
        "ZMQMESH_IPC_DIR": "/d",
        "ZMQMESH_SHM_DIR": "/dev/shm/z",
        "ZMQMESH_PICKLE": "1",
        "ZMQMESH_HOST": "@launcher",
        "ZMQMESH_TCP": "1",
        "ZMQMESH_ADDR": "10.0.0.2",
        "ZMQMESH_LAUNCHER_ADDR": "10.0.0.1",
        "ZMQMESH_KEYFILE": "/d/k",
        "ZMQMESH_PROFILE": "/d/p",
        "ZMQMESH_TRACE": "1",
        "ZMQMESH_LIVE": "1",
    }
    assert JobSettings.from_environ(env, hostname=no_lookup) == JobSettings(
        1,
        4,
        job="j",
        rendezvous="tcp://127.0.0.1:9",
        ipc_dir="/d",
        shm_dir="/dev/shm/z",
        allow_pickle=True,
        host="@launcher",
        tcp=True,
        addr="10.0.0.2",
        launcher_addr="10.0.0.1",
        keyfile="/d/k",
        profile_dir="/d/p",
        trace=True,
        live=True,
    )


def test_our_launcher_wins_over_slurm_and_mpi() -> None:
    env = {**SLURM, "OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "2", **OURS}
    assert read(env) == JobSettings(1, 4, rendezvous="tcp://127.0.0.1:9", host="here")


def test_the_host_name_is_asked_for_only_when_missing() -> None:
    assert read({**OURS, "ZMQMESH_HOST": "h"}, hostname=no_lookup).host == "h"
    assert read(OURS).host == "here"
    assert read({**OURS, "ZMQMESH_HOST": ""}).host == "here"


def test_empty_values_are_unset_values() -> None:
    empty = {name: "" for name in VARIABLES.values() if name not in OURS}
    assert read({**OURS, **empty}) == read(OURS)
    assert read({**OURS, **empty}).failure_timeout == FAILURE_TIMEOUT


def test_slurm_rank_0_serves_the_rendezvous_on_its_port() -> None:
    env = {**SLURM, "SLURM_PROCID": "0", "SLURMD_NODENAME": "c07", "ZMQMESH_PICKLE": "yes"}
    seen: list[ForeignJob] = []

    def advertise(job: ForeignJob) -> str:
        seen.append(job)
        return "c07.ib"

    assert read(env, advertise=advertise) == JobSettings(
        0,
        8,
        job="slurm-123456.0",
        rendezvous="tcp://c07:23456",
        allow_pickle=True,
        host="c07",
        tcp=True,
        addr="c07.ib",
        serve_rendezvous=True,
        rendezvous_port=23456,
    )
    assert seen == [ForeignJob(0, 8, "slurm-123456.0", "c07", 23456, "SLURM")]


def test_other_foreign_ranks_connect_and_advertise_their_address() -> None:
    s = read(SLURM, advertise=lambda job: None)
    assert (s.rank, s.size, s.serve_rendezvous, s.rendezvous_port) == (3, 8, False, 0)
    assert (s.host, s.addr, s.tcp) == ("here", "here", True)  # no route: the host name
    assert read({**SLURM, "ZMQMESH_ADDR": "10.1.1.1"}, advertise=no_lookup).addr == "10.1.1.1"
    assert read({**SLURM, "ZMQMESH_HOST": "h"}).host == "h"
    assert read({**SLURM, "ZMQMESH_KEYFILE": "/k"}).keyfile == "/k"
    # a launcher's own variables mean nothing here
    assert read({**SLURM, "ZMQMESH_IPC_DIR": "/d", "ZMQMESH_TCP": "0"}).ipc_dir is None


def test_mpirun_with_a_rendezvous() -> None:
    env = {"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2"}
    env["ZMQMESH_RENDEZVOUS"] = "head:6000"
    s = read(env)
    assert (s.rank, s.size, s.job, s.rendezvous) == (1, 2, "mpi-head:6000", "tcp://head:6000")


def test_mpirun_without_a_rendezvous_says_what_to_set() -> None:
    with pytest.raises(LaunchError, match="ZMQMESH_RENDEZVOUS is not set: export"):
        read({"PMI_RANK": "0", "PMI_SIZE": "2"})


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"PMI_RANK": "0", "PMI_SIZE": "1"},
        {**SLURM, "SLURM_PROCID": "0", "SLURM_NTASKS": "1"},
        {**SLURM, "SLURM_STEP_ID": "batch"},
    ],
)
def test_no_launcher_or_one_rank_is_a_singleton(env: dict[str, str]) -> None:
    assert read(env) == JobSettings(0, 1, host="here")


@pytest.mark.parametrize("env", [{}, SLURM, OURS])
def test_the_tunables_are_read_however_the_rank_started(env: dict[str, str]) -> None:
    tunables = {
        "ZMQMESH_FAILURE_TIMEOUT": "2",
        "ZMQMESH_UNEXPECTED_LIMIT": "1048576",
        "ZMQMESH_MAX_FRAME": "65536",
        "ZMQMESH_SPIN_US": "0",
        "ZMQMESH_PROFILE": "/p",
        "ZMQMESH_TRACE": "1",
        "ZMQMESH_STATS": "1",
        "ZMQMESH_PICKLE": "on",
    }
    s = read({**env, **tunables})
    assert (s.failure_timeout, s.unexpected_limit, s.max_frame) == (2.0, 1 << 20, 65536)
    assert s.spin_us == 0
    assert (s.profile_dir, s.trace, s.stats, s.allow_pickle) == ("/p", True, True, True)


# -- every variable's check --------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"ZMQMESH_SIZE": None}, "^incomplete zmqmesh environment: ZMQMESH_SIZE not set$"),
        ({"ZMQMESH_RANK": None}, "^incomplete zmqmesh environment: ZMQMESH_RANK not set$"),
        ({"ZMQMESH_RANK": "x"}, "^ZMQMESH_RANK='x' is not a non-negative integer$"),
        ({"ZMQMESH_RANK": "-1"}, "^ZMQMESH_RANK='-1' is not a non-negative integer$"),
        ({"ZMQMESH_SIZE": "4.0"}, "^ZMQMESH_SIZE='4.0' is not a non-negative integer$"),
        ({"ZMQMESH_RANK": "4"}, "^ZMQMESH_RANK=4 does not fit ZMQMESH_SIZE=4$"),
        ({"ZMQMESH_SIZE": "0"}, "^ZMQMESH_RANK=1 does not fit ZMQMESH_SIZE=0$"),
        (
            {"ZMQMESH_RENDEZVOUS": ""},
            "^ZMQMESH_RENDEZVOUS is not set for a job of more than one rank$",
        ),
        (
            {"ZMQMESH_FAILURE_TIMEOUT": "soon"},
            "^ZMQMESH_FAILURE_TIMEOUT='soon': seconds between 0.5 and 3600 expected$",
        ),
        ({"ZMQMESH_FAILURE_TIMEOUT": "0.1"}, "^ZMQMESH_FAILURE_TIMEOUT='0.1': seconds between"),
        ({"ZMQMESH_FAILURE_TIMEOUT": "nan"}, "^ZMQMESH_FAILURE_TIMEOUT='nan': seconds between"),
        ({"ZMQMESH_FAILURE_TIMEOUT": "inf"}, "^ZMQMESH_FAILURE_TIMEOUT='inf': seconds between"),
        (
            {"ZMQMESH_UNEXPECTED_LIMIT": "0"},
            "^ZMQMESH_UNEXPECTED_LIMIT='0': a positive integer number of bytes expected$",
        ),
        ({"ZMQMESH_UNEXPECTED_LIMIT": "1M"}, "^ZMQMESH_UNEXPECTED_LIMIT='1M': a positive"),
        ({"ZMQMESH_MAX_FRAME": "-5"}, "^ZMQMESH_MAX_FRAME='-5': a positive integer number"),
        (
            {"ZMQMESH_SPIN_US": "100001"},
            "^ZMQMESH_SPIN_US='100001': an integer number of microseconds between 0 and 100000 "
            "expected$",
        ),
        (
            {"ZMQMESH_PICKLE": "maybe"},
            r"^ZMQMESH_PICKLE='maybe': 1 or 0 expected \(or true/false, yes/no, on/off\)$",
        ),
        ({"ZMQMESH_TCP": "2"}, "^ZMQMESH_TCP='2': 1 or 0 expected"),
        ({"ZMQMESH_TRACE": "y"}, "^ZMQMESH_TRACE='y': 1 or 0 expected"),
        ({"ZMQMESH_STATS": "-"}, "^ZMQMESH_STATS='-': 1 or 0 expected"),
        ({"ZMQMESH_LIVE": "10"}, "^ZMQMESH_LIVE='10': 1 or 0 expected"),
        ({"ZMQMESH_SERVE_RENDEZVOUS": "x"}, "^ZMQMESH_SERVE_RENDEZVOUS='x': 1 or 0 expected"),
        (
            {"ZMQMESH_SERVE_RENDEZVOUS": "1"},
            "^ZMQMESH_RENDEZVOUS_PORT='': the port must be an integer in 1..65535$",
        ),
        (
            {"ZMQMESH_SERVE_RENDEZVOUS": "1", "ZMQMESH_RENDEZVOUS_PORT": "0"},
            "^ZMQMESH_RENDEZVOUS_PORT='0': the port must be",
        ),
    ],
)
def test_bad_variables_are_one_line_naming_the_variable(
    change: dict[str, str | None], match: str
) -> None:
    env = dict(OURS)
    for name, value in change.items():
        if value is None:
            del env[name]
        else:
            env[name] = value
    with pytest.raises(LaunchError, match=match) as info:
        read(env)
    assert "\n" not in str(info.value)


def test_a_rendezvous_port_without_serving_is_not_read() -> None:
    # under zmqmesh launch it may be left over from a batch script, for srun
    assert read({**OURS, "ZMQMESH_RENDEZVOUS_PORT": "x"}).rendezvous_port == 0


@pytest.mark.parametrize(
    ("text", "value"),
    [("1", True), ("TRUE", True), (" on ", True), ("yes", True), ("0", False), ("Off", False)],
)
def test_flags_take_the_usual_words(text: str, value: bool) -> None:
    assert read({**OURS, "ZMQMESH_PICKLE": text}).allow_pickle is value


def test_the_failure_timeout_alone() -> None:
    assert read_failure_timeout({}) == FAILURE_TIMEOUT
    assert read_failure_timeout({"ZMQMESH_FAILURE_TIMEOUT": "0.5"}) == 0.5
    with pytest.raises(LaunchError, match="ZMQMESH_FAILURE_TIMEOUT"):
        read_failure_timeout({"ZMQMESH_FAILURE_TIMEOUT": "3601"})


# -- defaults the other floors keep a copy of -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "links"), [("", True), (" ", True), ("1", True), ("0", False), ("no", False)]
)
def test_same_host_links_can_be_turned_off(text: str, links: bool) -> None:
    s = JobSettings.from_environ({"ZMQMESH_LOCAL_LINKS": text}, hostname=lambda: "here")
    assert s.local_links is links
    assert JobSettings.from_environ(s.to_environ(), hostname=no_lookup) == s


def test_forced_algorithms_are_read_lowercased_and_listed() -> None:
    env = {"ZMQMESH_ALLREDUCE": " Ring\n", "ZMQMESH_BCAST": "", "ZMQMESH_ALLTOALL": "bruck"}
    s = JobSettings.from_environ(env, hostname=lambda: "here")
    assert s.forced_algorithms() == {"allreduce": "ring", "alltoall": "bruck"}


def test_the_rendezvous_wait_grows_with_the_job() -> None:
    assert JobSettings(0, 8).rendezvous_wait() == RENDEZVOUS_TIMEOUT
    assert JobSettings(0, 500).rendezvous_wait() == 500.0
    env = {"ZMQMESH_RANK": "0", "ZMQMESH_SIZE": "500", "ZMQMESH_RENDEZVOUS": "tcp://h:1"}
    env["ZMQMESH_HOST"] = "h"
    s = JobSettings.from_environ({**env, "ZMQMESH_RENDEZVOUS_TIMEOUT": "20"}, hostname=no_lookup)
    assert s.rendezvous_wait() == 20.0
    with pytest.raises(LaunchError, match="ZMQMESH_RENDEZVOUS_TIMEOUT"):
        JobSettings.from_environ({**env, "ZMQMESH_RENDEZVOUS_TIMEOUT": "0"}, hostname=no_lookup)


def test_only_a_task_of_srun_takes_its_host_from_slurmd_nodename() -> None:
    # mpiexec inside an allocation hands its ranks the batch node's variables
    env = {**SLURM, "SLURMD_NODENAME": "c07", "ZMQMESH_RENDEZVOUS": "c07:5000"}
    env |= {"PMI_RANK": "5", "PMI_SIZE": "8", "SLURM_PROCID": "0", "SLURM_NTASKS": "2"}
    assert read(env, hostname=lambda: "c08").host == "c08"
    assert read({**SLURM, "SLURMD_NODENAME": "c07"}, hostname=lambda: "c08").host == "c07"


def test_an_indexed_job_pod_advertises_its_pod_ip() -> None:
    env = {
        "JOB_COMPLETION_INDEX": "0",
        "JOB_COMPLETIONS": "3",
        "ZMQMESH_RENDEZVOUS": "demo-0.demo:29500",
        "ZMQMESH_ADDR": "10.244.0.5",
        "ZMQMESH_KEYFILE": "/etc/zmqmesh/job.key",
    }
    s = read(env, advertise=no_lookup)
    assert (s.rank, s.size, s.job) == (0, 3, "k8s-demo-0.demo:29500")
    assert (s.rendezvous, s.serve_rendezvous, s.rendezvous_port) == (
        "tcp://demo-0.demo:29500",
        True,
        29500,
    )
    assert (s.addr, s.tcp, s.ipc_dir, s.keyfile) == (
        "10.244.0.5",
        True,
        None,
        "/etc/zmqmesh/job.key",
    )
    other = read({**env, "JOB_COMPLETION_INDEX": "2"}, advertise=no_lookup)
    assert (other.rank, other.serve_rendezvous, other.rendezvous_port) == (2, False, 0)
