"""The allocation a launcher runs inside: which nodes, how many ranks each.

Pure: an environment mapping in, hosts out; the files and commands it
names are read by a caller-supplied function. ``zmqmesh launch`` without
``-n`` and without ``--hosts`` reads it, as ``mpirun`` does, when it runs
inside a resource manager's allocation (a batch script, an ``salloc``
shell). :func:`find_allocation` tries each resource manager in turn.

SLURM: ``SLURM_JOB_NODELIST`` (older ``SLURM_NODELIST``) names the nodes in
SLURM's compressed form, ``SLURM_TASKS_PER_NODE`` the tasks of each, in
the same order and compressed its own way: ``2(x3),1`` is 2, 2, 2, 1. Both
are the job's, not a step's: ``SLURM_STEP_*`` of a task are left alone.

PBS (Torque, OpenPBS, PBS Pro): ``PBS_NODEFILE`` names a file with one
line per slot, a host repeated once per slot. LSF: ``LSB_DJOB_HOSTFILE``
the same (its first host is where the batch script runs), else
``LSB_MCPU_HOSTS``, pairs ``host count``, else the older ``LSB_HOSTS``,
a host per slot. Grid Engine: ``PE_HOSTFILE``, lines ``host slots queue
processors``. Flux: no file or variable lists the nodes; the job's
resource set (RFC 20's R, JSON) comes from ``flux resource R`` inside the
job's instance, which the caller runs. Files are read with the hostfile
parser (:func:`~zmqmesh.job.hostlist.parse_hostfile_text`), so a host named
on several lines gets the sum of their slots.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from zmqmesh.errors import LaunchError
from zmqmesh.job.hostlist import MAX_SLOTS, Host, expand_hostlist, parse_hostfile_text

__all__ = [
    "FLUX_COMMAND",
    "FLUX_FALLBACK",
    "Allocation",
    "find_allocation",
    "flux_allocation",
    "lsf_allocation",
    "parse_flux_resources",
    "parse_idset",
    "parse_tasks_per_node",
    "pbs_allocation",
    "sge_allocation",
    "slurm_allocation",
]

Reader = Callable[[str, str], str]
"""``read(var, path)``: the text of the file ``path`` that variable ``var``
names; raises :class:`zmqmesh.LaunchError` naming ``var`` when it cannot."""

Runner = Callable[[tuple[str, ...]], str]
"""``run(argv)``: what the command prints; raises
:class:`zmqmesh.LaunchError` when it cannot run or fails."""

FLUX_COMMAND = ("flux", "resource", "R")
"""The command that prints a Flux instance's resource set (RFC 20)."""

FLUX_FALLBACK = ("flux", "kvs", "get", "resource.R")
"""Where releases without ``flux resource R`` keep it: the instance's KVS."""

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


def pbs_allocation(env: Mapping[str, str], read: Reader) -> Allocation | None:
    """The PBS/Torque allocation of ``env`` (``PBS_NODEFILE``, a host per
    slot), or ``None`` outside one. Raises :class:`zmqmesh.LaunchError` when
    the file cannot be read or is malformed."""
    path = env.get("PBS_NODEFILE")
    if not path:
        return None
    job = env.get("PBS_JOBID", "")
    hosts = parse_hostfile_text(read("PBS_NODEFILE", path), f"PBS_NODEFILE={path}")
    return Allocation("PBS", job, tuple(hosts))


def lsf_allocation(env: Mapping[str, str], read: Reader) -> Allocation | None:
    """The LSF allocation of ``env``, or ``None`` outside one (no
    ``LSB_JOBID``, or none of its host variables): ``LSB_DJOB_HOSTFILE``
    (a host per slot), else ``LSB_MCPU_HOSTS`` (``"hostA 4 hostB 2"``), else
    ``LSB_HOSTS`` (``"hostA hostA hostB"``). Raises
    :class:`zmqmesh.LaunchError` naming the variable when it is malformed."""
    job = env.get("LSB_JOBID")
    if not job:
        return None
    path = env.get("LSB_DJOB_HOSTFILE")
    if path:
        text = read("LSB_DJOB_HOSTFILE", path)
        return Allocation("LSF", job, tuple(parse_hostfile_text(text, f"LSB_DJOB_HOSTFILE={path}")))
    pairs = env.get("LSB_MCPU_HOSTS", "").split()
    if pairs:
        if len(pairs) % 2:
            raise LaunchError(f"LSB_MCPU_HOSTS={env['LSB_MCPU_HOSTS']!r} is not 'host count' pairs")
        bad = next((c for c in pairs[1::2] if not c.isdigit()), None)
        if bad is not None:
            raise LaunchError(f"LSB_MCPU_HOSTS={env['LSB_MCPU_HOSTS']!r}: {bad!r} is not a count")
        # one pair a line: Grid Engine's form of a hostfile line, "host N"
        lines = "\n".join(f"{pairs[i]} {pairs[i + 1]}" for i in range(0, len(pairs), 2))
        if "#" in lines:
            raise LaunchError(f"LSB_MCPU_HOSTS={env['LSB_MCPU_HOSTS']!r}: '#' in a host name")
        return Allocation("LSF", job, tuple(parse_hostfile_text(lines, "LSB_MCPU_HOSTS pair")))
    names = env.get("LSB_HOSTS", "").split()
    if names:
        if any("#" in n for n in names):
            raise LaunchError(f"LSB_HOSTS={env['LSB_HOSTS']!r}: '#' in a host name")
        return Allocation("LSF", job, tuple(parse_hostfile_text("\n".join(names), "LSB_HOSTS")))
    return None


def sge_allocation(env: Mapping[str, str], read: Reader) -> Allocation | None:
    """The Grid Engine allocation of ``env`` (``PE_HOSTFILE``: ``host slots
    queue processors`` lines), or ``None`` outside a parallel environment.
    Raises :class:`zmqmesh.LaunchError` when the file cannot be read or is
    malformed."""
    path = env.get("PE_HOSTFILE")
    if not path:
        return None
    hosts = parse_hostfile_text(read("PE_HOSTFILE", path), f"PE_HOSTFILE={path}")
    return Allocation("Grid Engine", env.get("JOB_ID", ""), tuple(hosts))


def flux_allocation(env: Mapping[str, str], run: Runner) -> Allocation | None:
    """The Flux allocation of ``env``: inside a Flux job (``FLUX_JOB_ID``)
    that is an instance of its own (``FLUX_URI``: ``flux alloc``, ``flux
    batch``), the nodes and cores of that instance's resource set, which
    ``run(FLUX_COMMAND)`` prints; ``None`` elsewhere. Each core is a slot.
    Raises :class:`zmqmesh.LaunchError` when the command fails or prints
    something that is not a resource set."""
    job = env.get("FLUX_JOB_ID")
    if not job or not env.get("FLUX_URI"):
        return None
    try:
        text = run(FLUX_COMMAND)
    except LaunchError as first:
        try:
            text = run(FLUX_FALLBACK)
        except LaunchError:
            raise first from None
    hosts = parse_flux_resources(text)
    return Allocation("Flux", job, tuple(hosts))


def find_allocation(env: Mapping[str, str], read: Reader, run: Runner) -> Allocation | None:
    """The allocation ``env`` runs in, or ``None``: Flux first (an instance
    may run inside another manager's job and inherit its variables), then
    SLURM, PBS, LSF and Grid Engine. ``read`` reads the files the variables
    name, ``run`` runs Flux's command. Raises :class:`zmqmesh.LaunchError`
    as the reader of the allocation found does."""
    return (
        flux_allocation(env, run)
        or slurm_allocation(env)
        or pbs_allocation(env, read)
        or lsf_allocation(env, read)
        or sge_allocation(env, read)
    )


_IDSET_ITEM = re.compile(r"([0-9]+)(?:-([0-9]+))?")


def parse_idset(text: str, what: str = "idset") -> list[int]:
    """An RFC 22 id set, ``"0-3,7"``, as its ids in order (``[0, 1, 2, 3,
    7]``); ``""`` is empty. Raises :class:`zmqmesh.LaunchError` naming
    ``what`` for anything else."""
    ids: list[int] = []
    if not text:
        return ids
    for item in text.split(","):
        m = _IDSET_ITEM.fullmatch(item)
        if m is None:
            raise LaunchError(f"{what}: {text!r}: {item!r} is not N or N-M")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo or len(ids) + hi - lo >= 1 << 20:
            raise LaunchError(f"{what}: {text!r}: bad range {item!r}")
        ids.extend(range(lo, hi + 1))
    return ids


def parse_flux_resources(text: str) -> list[Host]:
    """The hosts of a Flux resource set (RFC 20, version 1), with a slot per
    core, in broker rank order: ``execution.R_lite`` gives the cores of each
    rank, ``execution.nodelist`` (host lists, in rank order) their names.
    Raises :class:`zmqmesh.LaunchError` for anything else."""
    source = "flux resource R"
    try:
        doc = json.loads(text)
    except ValueError:
        raise LaunchError(f"{source}: not JSON: {text[:80]!r}") from None
    try:
        execution = doc["execution"]
        nodelist = execution["nodelist"]
        r_lite = execution["R_lite"]
        if doc.get("version") != 1 or not isinstance(nodelist, list):
            raise TypeError
        if not isinstance(r_lite, list):
            raise TypeError
        try:
            names = [name for spec in nodelist for name in expand_hostlist(str(spec))]
        except ValueError as exc:
            raise LaunchError(f"{source}: execution.nodelist: {exc}") from None
        cores: dict[int, int] = {}
        for entry in r_lite:
            count = len(parse_idset(str(entry["children"].get("core", "")), source))
            for rank in parse_idset(str(entry["rank"]), source):
                cores[rank] = cores.get(rank, 0) + count
    except (KeyError, TypeError, AttributeError):
        raise LaunchError(f"{source}: not a resource set (RFC 20, version 1)") from None
    hosts: list[Host] = []
    for rank in sorted(cores):
        if rank >= len(names):
            raise LaunchError(f"{source}: rank {rank} has no name in the node list {nodelist}")
        if not 1 <= cores[rank] <= MAX_SLOTS:
            raise LaunchError(f"{source}: rank {rank} ({names[rank]}) has {cores[rank]} cores")
        hosts.append(Host(names[rank], cores[rank], source))
    if not hosts:
        raise LaunchError(f"{source}: the resource set has no cores")
    return hosts
