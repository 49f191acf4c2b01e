"""Foreign launchers' environments (SLURM, Open MPI, PMI): every rule and
every error message. SLURM's host lists are tested in test_hostlist.py."""

from __future__ import annotations

import pytest

from zmqmesh.errors import LaunchError
from zmqmesh.job.foreign import ForeignJob, foreign_job, slurm_port, slurm_task

pytestmark = pytest.mark.timeout(30)

# -- foreign_job: precedence -----------------------------------------------------------

SLURM = {
    "SLURM_PROCID": "3",
    "SLURM_NTASKS": "8",
    "SLURM_NODELIST": "c[07-08]",
    "SLURM_JOB_ID": "123456",
    "SLURM_STEP_ID": "0",
}


def test_no_launcher_is_none() -> None:
    assert foreign_job({}) is None
    assert foreign_job({"PATH": "/bin", "ZMQMESH_RENDEZVOUS": "h:1"}) is None


@pytest.mark.parametrize("ours", [{"ZMQMESH_RANK": "0"}, {"ZMQMESH_SIZE": "2"}])
def test_our_launcher_wins(ours: dict[str, str]) -> None:
    env = {**SLURM, "OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "2", **ours}
    assert foreign_job(env) is None
    assert foreign_job({**ours, "SLURM_PROCID": "x"}) is None  # not even read


def test_slurm_comes_before_mpi_when_they_agree() -> None:
    env = {**SLURM, "PMI_RANK": "3", "PMI_SIZE": "8", "OMPI_COMM_WORLD_RANK": "3"}
    env["OMPI_COMM_WORLD_SIZE"] = "8"
    job = foreign_job(env)
    assert job is not None
    assert job.who == "SLURM"


def test_mpirun_inside_an_allocation_wins_over_the_slurm_variables_of_its_daemon() -> None:
    # the daemon of node 1 of 2 started this rank 5 of 8
    env = {**SLURM, "SLURM_PROCID": "1", "SLURM_NTASKS": "2", "ZMQMESH_RENDEZVOUS": "c07:4000"}
    env |= {"OMPI_COMM_WORLD_RANK": "5", "OMPI_COMM_WORLD_SIZE": "8"}
    assert foreign_job(env) == ForeignJob(5, 8, "mpi-c07:4000", "c07", 4000, "Open MPI")


def test_open_mpi_comes_before_pmi() -> None:
    env = {"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2", "PMI_RANK": "0"}
    env |= {"PMI_SIZE": "4", "ZMQMESH_RENDEZVOUS": "h:9"}
    job = foreign_job(env)
    assert job is not None
    assert (job.who, job.rank, job.size) == ("Open MPI", 1, 2)


# -- foreign_job: SLURM -------------------------------------------------------------------


def test_slurm_task() -> None:
    job = foreign_job(SLURM)
    assert job == ForeignJob(3, 8, "slurm-123456.0", "c07", 23456, "SLURM")
    assert job.endpoint == "tcp://c07:23456"


def test_slurm_port_rule() -> None:
    assert slurm_port(0) == 20000
    assert slurm_port(19999) == 39999
    assert slurm_port(20000) == 20000
    assert slurm_port(123456) == 23456
    job = foreign_job({**SLURM, "SLURM_JOB_ID": "40001"})
    assert job is not None
    assert job.rendezvous_port == 20001


def test_slurm_port_override() -> None:
    job = foreign_job({**SLURM, "ZMQMESH_RENDEZVOUS_PORT": "5555"})
    assert job == ForeignJob(3, 8, "slurm-123456.0", "c07", 5555, "SLURM")


def test_slurm_explicit_rendezvous_wins_over_node_list_and_port() -> None:
    env = {**SLURM, "ZMQMESH_RENDEZVOUS": "login1:7000", "ZMQMESH_RENDEZVOUS_PORT": "5555"}
    del env["SLURM_NODELIST"]
    assert foreign_job(env) == ForeignJob(3, 8, "slurm-123456.0", "login1", 7000, "SLURM")


def test_slurm_step_variables_come_first() -> None:
    env = {**SLURM, "SLURM_STEP_NUM_TASKS": "4", "SLURM_STEP_NODELIST": "c08"}
    env["SLURM_JOB_NODELIST"] = "c[01-08]"
    assert foreign_job(env) == ForeignJob(3, 4, "slurm-123456.0", "c08", 23456, "SLURM")


def test_slurm_older_and_job_wide_names() -> None:
    env = {
        "SLURM_PROCID": "1",
        "SLURM_NPROCS": "2",
        "SLURM_JOB_NODELIST": "n[5-6]",
        "SLURM_JOBID": "77",
        "SLURM_STEPID": "3",
    }
    assert foreign_job(env) == ForeignJob(1, 2, "slurm-77.3", "n5", 20077, "SLURM")


def test_slurm_one_task_is_a_job_too() -> None:
    env = {**SLURM, "SLURM_PROCID": "0", "SLURM_NTASKS": "1", "SLURM_NODELIST": "c07"}
    assert foreign_job(env) == ForeignJob(0, 1, "slurm-123456.0", "c07", 23456, "SLURM")


@pytest.mark.parametrize("step", ["batch", "extern", "4294967291", "4294967290", ""])
def test_the_batch_script_and_salloc_shells_are_not_ranks(step: str) -> None:
    assert foreign_job({**SLURM, "SLURM_STEP_ID": step}) is None


# What Slurm 22.05 gives a batch script of `sbatch -N2 -n4` (recorded on a
# test cluster): SLURM_PROCID and SLURM_NTASKS, but no step id.
BATCH_22_05 = {
    "SLURMD_NODENAME": "zmh1",
    "SLURM_CPUS_ON_NODE": "3",
    "SLURM_GTIDS": "0",
    "SLURM_JOBID": "3",
    "SLURM_JOB_ID": "3",
    "SLURM_JOB_NODELIST": "zmh[1-2]",
    "SLURM_LOCALID": "0",
    "SLURM_NNODES": "2",
    "SLURM_NODEID": "0",
    "SLURM_NODELIST": "zmh[1-2]",
    "SLURM_NPROCS": "4",
    "SLURM_NTASKS": "4",
    "SLURM_PROCID": "0",
    "SLURM_TASKS_PER_NODE": "3,1",
    "SLURM_TASK_PID": "9379",
}
# ... and one task of `srun` there: the step's variables on top.
TASK_22_05 = {
    **BATCH_22_05,
    "SLURM_STEPID": "0",
    "SLURM_STEP_ID": "0",
    "SLURM_STEP_NODELIST": "zmh[1-2]",
    "SLURM_STEP_NUM_TASKS": "4",
    "SLURM_PROCID": "2",
    "SLURMD_NODENAME": "zmh2",
}


def test_the_batch_script_of_slurm_22_05_is_a_job_of_one_rank() -> None:
    assert not slurm_task(BATCH_22_05)
    assert foreign_job(BATCH_22_05) is None


def test_a_task_of_srun_on_slurm_22_05_is_a_rank() -> None:
    assert slurm_task(TASK_22_05)
    assert foreign_job(TASK_22_05) == ForeignJob(2, 4, "slurm-3.0", "zmh1", 20003, "SLURM")


@pytest.mark.parametrize(
    ("env", "task"),
    [
        ({}, True),  # the variables of API.md alone, set by hand
        ({"SLURM_STEP_ID": "0"}, True),
        ({"SLURM_STEPID": "7"}, True),
        ({"SLURM_STEP_ID": "0", "SLURMD_NODENAME": "n1"}, True),
        ({"SLURMD_NODENAME": "n1"}, False),  # slurmd started it, srun did not
        ({"SLURM_STEP_ID": "batch", "SLURMD_NODENAME": "n1"}, False),
        ({"SLURM_STEP_ID": "interactive"}, False),
        ({"SLURM_STEP_ID": str(0xFFFFFFFB)}, False),  # batch, as a number
        ({"SLURM_STEP_ID": str(0xFFFFFFFA)}, False),  # an salloc shell's interactive step
        ({"SLURM_STEP_ID": str(0xFFFFFFEF)}, True),  # the highest srun step id
        ({"SLURM_STEP_ID": ""}, False),
    ],
)
def test_slurm_task_rule(env: dict[str, str], task: bool) -> None:
    assert slurm_task({"SLURM_PROCID": "0", **env}) is task


def test_the_four_variables_of_the_api_alone_make_a_rank() -> None:
    env = {k: SLURM[k] for k in ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_NODELIST", "SLURM_JOB_ID")}
    assert foreign_job(env) == ForeignJob(3, 8, "slurm-123456", "c07", 23456, "SLURM")


def test_rank_0_on_the_first_node_is_fine_and_elsewhere_is_an_error() -> None:
    env = {**SLURM, "SLURM_PROCID": "0", "SLURMD_NODENAME": "c07"}
    assert foreign_job(env) is not None
    env["SLURMD_NODENAME"] = "c08"
    with pytest.raises(
        LaunchError,
        match=r"^rank 0 runs on c08 \(SLURMD_NODENAME\), not on c07, the first node of "
        r"SLURM_NODELIST, where the ranks look for the rendezvous; use srun's block",
    ):
        foreign_job(env)
    assert foreign_job({**env, "SLURM_PROCID": "1"}) is not None  # only rank 0 can tell
    assert foreign_job({**env, "ZMQMESH_RENDEZVOUS": "c08:1"}) is not None


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"SLURM_PROCID": "x"}, "^SLURM_PROCID='x' is not a non-negative integer$"),
        ({"SLURM_PROCID": "-1"}, "^SLURM_PROCID='-1' is not a non-negative integer$"),
        ({"SLURM_PROCID": "8"}, "^SLURM_PROCID=8 is out of range for SLURM_NTASKS=8$"),
        ({"SLURM_NTASKS": "4.0"}, "^SLURM_NTASKS='4.0' is not a non-negative integer$"),
        ({"SLURM_NTASKS": "0"}, "^SLURM_NTASKS='0': a job has at least one rank$"),
        (
            {"SLURM_NTASKS": None},
            "^SLURM_PROCID is set but none of SLURM_STEP_NUM_TASKS, SLURM_NTASKS, SLURM_NPROCS is$",
        ),
        (
            {"SLURM_JOB_ID": None},
            "^SLURM_PROCID is set but none of SLURM_JOB_ID, SLURM_JOBID is$",
        ),
        ({"SLURM_JOB_ID": "12a"}, "^SLURM_JOB_ID='12a' is not a non-negative integer$"),
        (
            {"SLURM_NODELIST": None},
            "^SLURM_PROCID is set but none of SLURM_STEP_NODELIST, SLURM_NODELIST, "
            "SLURM_JOB_NODELIST is$",
        ),
        (
            {"SLURM_NODELIST": "c[07-"},
            r"^SLURM_NODELIST: unclosed '\[' in host list 'c\[07-'$",
        ),
        ({"SLURM_NODELIST": ""}, "^SLURM_NODELIST: empty host list$"),
        (
            {"ZMQMESH_RENDEZVOUS_PORT": "0"},
            "^ZMQMESH_RENDEZVOUS_PORT='0': the port must be an integer in 1..65535$",
        ),
        (
            {"ZMQMESH_RENDEZVOUS_PORT": "65536"},
            "^ZMQMESH_RENDEZVOUS_PORT='65536': the port must be",
        ),
        ({"ZMQMESH_RENDEZVOUS_PORT": "http"}, "^ZMQMESH_RENDEZVOUS_PORT='http': the port"),
        ({"ZMQMESH_RENDEZVOUS": "login1"}, "^ZMQMESH_RENDEZVOUS='login1' is not host:port"),
    ],
)
def test_slurm_errors_name_the_variable(change: dict[str, str | None], match: str) -> None:
    env = dict(SLURM)
    for name, value in change.items():
        if value is None:
            del env[name]
        else:
            env[name] = value
    with pytest.raises(LaunchError, match=match) as info:
        foreign_job(env)
    assert "\n" not in str(info.value)


# -- foreign_job: Open MPI and PMI ------------------------------------------------------------

MPI = [
    ("Open MPI", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
    ("PMI", "PMI_RANK", "PMI_SIZE"),
]


@pytest.mark.parametrize(("who", "rank_var", "size_var"), MPI)
def test_mpi_job_with_rendezvous(who: str, rank_var: str, size_var: str) -> None:
    env = {rank_var: "2", size_var: "4", "ZMQMESH_RENDEZVOUS": "head:6000"}
    job = foreign_job(env)
    assert job == ForeignJob(2, 4, "mpi-head:6000", "head", 6000, who)
    assert job.endpoint == "tcp://head:6000"
    assert foreign_job({**env, "ZMQMESH_JOB": "run7"}) == ForeignJob(
        2, 4, "run7", "head", 6000, who
    )


@pytest.mark.parametrize(("who", "rank_var", "size_var"), MPI)
def test_mpi_job_needs_a_rendezvous(who: str, rank_var: str, size_var: str) -> None:
    with pytest.raises(
        LaunchError,
        match=f"^started by {who} with 4 ranks, but ZMQMESH_RENDEZVOUS is not set: "
        r"export ZMQMESH_RENDEZVOUS=host:port, a free port on the host of rank 0 "
        r"\(only ranks that all run on one host find one by themselves\)$",
    ):
        foreign_job({rank_var: "0", size_var: "4"})
    with pytest.raises(LaunchError, match="ZMQMESH_RENDEZVOUS is not set"):
        foreign_job({rank_var: "0", size_var: "4", "ZMQMESH_RENDEZVOUS": ""})


@pytest.mark.parametrize(("who", "rank_var", "size_var"), MPI)
def test_a_one_rank_mpi_job_needs_no_rendezvous(who: str, rank_var: str, size_var: str) -> None:
    assert foreign_job({rank_var: "0", size_var: "1"}) == ForeignJob(0, 1, "mpi", "", 0, who)


@pytest.mark.parametrize(("who", "rank_var", "size_var"), MPI)
def test_mpi_errors_name_the_variable(who: str, rank_var: str, size_var: str) -> None:
    base = {"ZMQMESH_RENDEZVOUS": "h:1"}
    cases = [
        ({rank_var: "0"}, f"^{rank_var} is set but {size_var} is not$"),
        ({rank_var: "a", size_var: "2"}, f"^{rank_var}='a' is not a non-negative integer$"),
        ({rank_var: "0", size_var: "two"}, f"^{size_var}='two' is not a non-negative integer$"),
        ({rank_var: "2", size_var: "2"}, f"^{rank_var}=2 is out of range for {size_var}=2$"),
        ({rank_var: "0", size_var: "0"}, f"^{size_var}='0': a job has at least one rank$"),
    ]
    for env, match in cases:
        with pytest.raises(LaunchError, match=match):
            foreign_job({**base, **env})


@pytest.mark.parametrize(
    ("value", "host", "port", "endpoint"),
    [
        ("head:6000", "head", 6000, "tcp://head:6000"),
        ("tcp://head:6000", "head", 6000, "tcp://head:6000"),
        ("10.1.2.3:1", "10.1.2.3", 1, "tcp://10.1.2.3:1"),
        ("[::1]:65535", "::1", 65535, "tcp://[::1]:65535"),
        ("tcp://[fe80::1]:80", "fe80::1", 80, "tcp://[fe80::1]:80"),
    ],
)
def test_rendezvous_forms(value: str, host: str, port: int, endpoint: str) -> None:
    job = foreign_job({"PMI_RANK": "0", "PMI_SIZE": "2", "ZMQMESH_RENDEZVOUS": value})
    assert job is not None
    assert (job.rendezvous_host, job.rendezvous_port, job.endpoint) == (host, port, endpoint)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("head", "is not host:port"),
        ("head:", "port must be an integer in 1..65535"),
        (":6000", "is not host:port"),
        ("head:0", "^ZMQMESH_RENDEZVOUS='head:0': the port must be an integer in 1..65535$"),
        ("head:65536", "the port must be"),
        ("head:x", "the port must be"),
        ("::1:6000", r"^ZMQMESH_RENDEZVOUS='::1:6000' is not host:port \(\[address\]:port for"),
        ("[::1]6000", "is not host:port"),
        ("[::1", "is not host:port"),
        ("a b:1", "is not host:port"),
        ("tcp://*:1", "is not host:port"),
        ("user@h:1", "is not host:port"),
        ("ipc:///tmp/x", "is not host:port"),
    ],
)
def test_bad_rendezvous(value: str, match: str) -> None:
    with pytest.raises(LaunchError, match=match):
        foreign_job({"PMI_RANK": "0", "PMI_SIZE": "2", "ZMQMESH_RENDEZVOUS": value})


def test_foreign_job_is_frozen() -> None:
    job = ForeignJob(0, 1, "j", "h", 1, "SLURM")
    with pytest.raises(AttributeError):
        job.rank = 1  # type: ignore[misc]


# -- Kubernetes: a pod of an Indexed Job -----------------------------------------------

# What the pod of index 2 of docs/kubernetes.md's manifest sees
POD = {
    "JOB_COMPLETION_INDEX": "2",
    "JOB_COMPLETIONS": "4",
    "ZMQMESH_RENDEZVOUS": "zmqmesh-demo-0.zmqmesh-demo:29500",
    "ZMQMESH_ADDR": "10.244.1.7",
    "HOSTNAME": "zmqmesh-demo-2",
    "KUBERNETES_SERVICE_HOST": "10.96.0.1",
}


def test_an_indexed_job_pod_is_a_rank() -> None:
    assert foreign_job(POD) == ForeignJob(
        2,
        4,
        "k8s-zmqmesh-demo-0.zmqmesh-demo:29500",
        "zmqmesh-demo-0.zmqmesh-demo",
        29500,
        "Kubernetes",
    )
    job = foreign_job({**POD, "ZMQMESH_JOB": "run-7"})
    assert job is not None
    assert job.job == "run-7"


def test_an_indexed_job_needs_its_rendezvous_named() -> None:
    env = {k: v for k, v in POD.items() if k != "ZMQMESH_RENDEZVOUS"}
    with pytest.raises(
        LaunchError,
        match=r"^a pod of an Indexed Job of 4 ranks \(JOB_COMPLETIONS\), but ZMQMESH_RENDEZVOUS "
        r"is not set: set it in the manifest to the DNS name of index 0's pod and a port, "
        r"<job>-0.<headless service>:<port>$",
    ):
        foreign_job(env)
    one = foreign_job({**env, "JOB_COMPLETION_INDEX": "0", "JOB_COMPLETIONS": "1"})
    assert one == ForeignJob(0, 1, "k8s", "", 0, "Kubernetes")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"JOB_COMPLETIONS": None}, "^JOB_COMPLETION_INDEX is set but JOB_COMPLETIONS is not$"),
        (
            {"JOB_COMPLETION_INDEX": "4"},
            "^JOB_COMPLETION_INDEX=4 is out of range for JOB_COMPLETIONS=4$",
        ),
        ({"JOB_COMPLETION_INDEX": "-1"}, "^JOB_COMPLETION_INDEX="),
        ({"JOB_COMPLETIONS": "0"}, "^JOB_COMPLETIONS='0': a job has at least one rank$"),
        ({"JOB_COMPLETIONS": "four"}, "^JOB_COMPLETIONS="),
        ({"ZMQMESH_RENDEZVOUS": "zmqmesh-demo-0.zmqmesh-demo"}, "^ZMQMESH_RENDEZVOUS="),
    ],
)
def test_kubernetes_errors_name_the_variable(change: dict[str, str | None], match: str) -> None:
    env = {**POD}
    for k, v in change.items():
        if v is None:
            env.pop(k)
        else:
            env[k] = v
    with pytest.raises(LaunchError, match=match):
        foreign_job(env)


def test_slurm_and_mpi_come_before_kubernetes() -> None:
    job = foreign_job({**POD, **SLURM})
    assert job is not None
    assert job.who == "SLURM"
    job = foreign_job({**POD, "PMI_RANK": "0", "PMI_SIZE": "2"})
    assert job is not None
    assert job.who == "PMI"
    assert foreign_job({**POD, "ZMQMESH_RANK": "0", "ZMQMESH_SIZE": "1"}) is None
