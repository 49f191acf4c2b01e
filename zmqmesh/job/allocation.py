"""The allocation a launcher runs inside: which nodes, how many ranks each.

Pure: an environment mapping in, hosts out. ``zmqmesh launch`` without
``-n`` and without ``--hosts`` reads it, as ``mpirun`` does, when it runs
inside a resource manager's allocation (a batch script, an ``salloc``
shell).

SLURM: ``SLURM_JOB_NODELIST`` (older ``SLURM_NODELIST``) names the nodes in
SLURM's compressed form, ``SLURM_TASKS_PER_NODE`` the tasks of each, in
the same order and compressed its own way: ``2(x3),1`` is 2, 2, 2, 1. Both
are the job's, not a step's: ``SLURM_STEP_*`` of a task are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from zmqmesh.errors import LaunchError
from zmqmesh.job.hostlist import MAX_SLOTS, Host, expand_hostlist

__all__ = ["Allocation", "parse_tasks_per_node", "slurm_allocation"]

_TASKS_ITEM = re.compile(r"([0-9]+)(?:\(x([0-9]+)\))?")
SLURM_SOURCE = "SLURM_JOB_NODELIST"


@dataclass(frozen=True, slots=True)
class Allocation:
    """Nodes a resource manager gave the job, with their rank slots, in
    its order. ``who`` names the resource manager for messages, ``job``
    its id of the allocation."""

    who: str
    job: str
    hosts: tuple[Host, ...]

    @property
    def slots(self) -> int:
        return sum(h.slots for h in self.hosts)


def parse_tasks_per_node(text: str, var: str = "SLURM_TASKS_PER_NODE") -> list[int]:
    """SLURM's tasks-per-node list as one count per node:
    ``"2(x3),1"`` is ``[2, 2, 2, 1]``. Raises :class:`zmqmesh.LaunchError`
    naming ``var`` for anything else (a count of 0 included)."""
    counts: list[int] = []
    for item in text.strip().split(","):
        m = _TASKS_ITEM.fullmatch(item.strip())
        if m is None:
            raise LaunchError(f"{var}={text!r}: {item!r} is not N or N(xK)")
        count, times = int(m.group(1)), int(m.group(2) or 1)
        if count < 1 or times < 1 or count > MAX_SLOTS:
            raise LaunchError(f"{var}={text!r}: {item!r} is not a positive number of tasks")
        if len(counts) + times > 1 << 20:
            raise LaunchError(f"{var}={text!r}: too many nodes")
        counts.extend([count] * times)
    return counts


def slurm_allocation(env: Mapping[str, str]) -> Allocation | None:
    """The SLURM allocation that ``env`` runs in, or ``None`` outside one
    (no ``SLURM_JOB_ID``, or no node list or task counts).

    Raises :class:`zmqmesh.LaunchError` naming the variable when the node
    list or the task counts are malformed, or when they do not have one
    entry each per node.
    """
    job = env.get("SLURM_JOB_ID") or env.get("SLURM_JOBID")
    nodes_var = "SLURM_JOB_NODELIST" if "SLURM_JOB_NODELIST" in env else "SLURM_NODELIST"
    nodelist = env.get(nodes_var)
    tasks = env.get("SLURM_TASKS_PER_NODE")
    if not job or not nodelist or not tasks:
        return None
    try:
        names = expand_hostlist(nodelist)
    except ValueError as exc:
        raise LaunchError(f"{nodes_var}: {exc}") from None
    counts = parse_tasks_per_node(tasks)
    if len(counts) != len(names):
        raise LaunchError(
            f"SLURM_TASKS_PER_NODE={tasks!r} gives {len(counts)} nodes, "
            f"{nodes_var}={nodelist!r} {len(names)}"
        )
    hosts = tuple(Host(n, c, nodes_var) for n, c in zip(names, counts, strict=True))
    return Allocation("SLURM", job, hosts)
