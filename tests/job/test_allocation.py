"""The allocation a launcher runs in: SLURM's node list and task counts."""

from __future__ import annotations

import pytest

from zmqmesh.errors import LaunchError
from zmqmesh.job.allocation import Allocation, parse_tasks_per_node, slurm_allocation
from zmqmesh.job.hostlist import Host

pytestmark = pytest.mark.timeout(30)

# What Slurm 22.05 gives `sbatch -N2 -n4` on two nodes of 4 CPUs (and an
# salloc shell alike): the job's nodes and tasks, no step.
BATCH = {
    "SLURM_JOB_ID": "3",
    "SLURM_JOB_NODELIST": "zmh[1-2]",
    "SLURM_NODELIST": "zmh[1-2]",
    "SLURM_TASKS_PER_NODE": "3,1",
    "SLURM_NTASKS": "4",
}


@pytest.mark.parametrize(
    ("text", "counts"),
    [
        ("1", [1]),
        ("3,1", [3, 1]),
        ("2(x3)", [2, 2, 2]),
        ("2(x3),1", [2, 2, 2, 1]),
        ("4(x2),3,1(x2)", [4, 4, 3, 1, 1]),
        (" 2 ", [2]),
    ],
)
def test_tasks_per_node(text: str, counts: list[int]) -> None:
    assert parse_tasks_per_node(text) == counts


@pytest.mark.parametrize("text", ["", "x", "0", "2(x0)", "2(3)", "2(x3", "-1", "1,,2", "2x3"])
def test_malformed_tasks_per_node(text: str) -> None:
    with pytest.raises(LaunchError, match=r"^SLURM_TASKS_PER_NODE="):
        parse_tasks_per_node(text)


def test_a_batch_script_is_in_its_allocation() -> None:
    alloc = slurm_allocation(BATCH)
    hosts = (Host("zmh1", 3, "SLURM_JOB_NODELIST"), Host("zmh2", 1, "SLURM_JOB_NODELIST"))
    assert alloc == Allocation("SLURM", "3", hosts)
    assert alloc.slots == 4


def test_compressed_counts_follow_the_expanded_node_list() -> None:
    env = {"SLURM_JOBID": "9", "SLURM_NODELIST": "n[08-10],gpu1", "SLURM_TASKS_PER_NODE": "2(x3),4"}
    alloc = slurm_allocation(env)
    assert alloc is not None
    assert [(h.name, h.slots) for h in alloc.hosts] == [
        ("n08", 2), ("n09", 2), ("n10", 2), ("gpu1", 4)
    ]  # fmt: skip
    assert alloc.hosts[0].source == "SLURM_NODELIST"


@pytest.mark.parametrize("drop", ["SLURM_JOB_ID", "SLURM_TASKS_PER_NODE", "NODELIST"])
def test_outside_an_allocation_is_none(drop: str) -> None:
    env = {k: v for k, v in BATCH.items() if drop not in k}
    assert slurm_allocation(env) is None
    assert slurm_allocation({}) is None


def test_counts_and_nodes_must_agree() -> None:
    with pytest.raises(LaunchError, match=r"gives 3 nodes, SLURM_JOB_NODELIST='zmh\[1-2\]' 2$"):
        slurm_allocation({**BATCH, "SLURM_TASKS_PER_NODE": "1(x3)"})


def test_a_malformed_node_list_names_its_variable() -> None:
    with pytest.raises(LaunchError, match=r"^SLURM_JOB_NODELIST: "):
        slurm_allocation({**BATCH, "SLURM_JOB_NODELIST": "zmh[1-"})
