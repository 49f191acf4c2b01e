"""Jobs started by someone else's launcher: SLURM's ``srun``, ``mpirun``.

Pure functions of an environment mapping: no I/O, no sockets, no lookups.

:func:`foreign_job` reads a rank's place in a job that ``srun``, Open MPI's
``mpirun`` or an MPICH-family (PMI) ``mpiexec`` started, and where that job's
rendezvous is. Rank 0 serves the rendezvous; every rank connects to it.

Order (API.md, "Start-up"), first match wins:

1. ``ZMQMESH_RANK`` or ``ZMQMESH_SIZE`` set: ``zmqmesh launch`` started the
   rank, and ``bootstrap.job_from_env`` reads those variables: ``None``.
2. SLURM: ``SLURM_PROCID``, unless ``SLURM_STEP_ID`` names one of Slurm's
   own steps (the batch script, an ``salloc`` shell) rather than a task of
   ``srun``. The rendezvous is on the step's first node (see
   :func:`foreign_job` for why and for the port).
3. Open MPI: ``OMPI_COMM_WORLD_RANK`` / ``OMPI_COMM_WORLD_SIZE``.
4. PMI (MPICH, Intel MPI, MVAPICH): ``PMI_RANK`` / ``PMI_SIZE``.
   Under 3 and 4 the rendezvous must be named: ``ZMQMESH_RENDEZVOUS=host:port``.
5. None of them: ``None`` (a singleton job).

One exception to the order: ``mpirun`` inside a SLURM allocation starts its
per-node daemons with ``srun``, so its ranks inherit the SLURM variables of
a daemon (``SLURM_PROCID`` is the node's index). When the MPI variables give
another rank or size than the SLURM ones, the MPI launcher, the one that
started this process, wins.

:func:`expand_hostlist` expands SLURM's compressed host lists
(``node[01-04,07],gpu1``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from zmqmesh.errors import LaunchError

__all__ = [
    "MAX_HOSTS",
    "PORT_BASE",
    "PORT_SPAN",
    "ForeignJob",
    "expand_hostlist",
    "foreign_job",
    "slurm_port",
]

MAX_HOSTS = 1 << 20
"""The most host names :func:`expand_hostlist` returns (a guard against
``node[0-99999999999]`` eating the memory)."""

PORT_BASE = 20000
PORT_SPAN = 20000
"""A SLURM job's rendezvous port is ``PORT_BASE + job_id % PORT_SPAN``."""

SLURM = "SLURM"
OPEN_MPI = "Open MPI"
PMI = "PMI"

# Slurm's own step ids for steps that are not srun's: the batch script,
# the extern step, an interactive shell step; they are >= 0xfffffff0.
_FIRST_SPECIAL_STEP = 0xFFFFFFF0


@dataclass(frozen=True, slots=True)
class ForeignJob:
    """A rank's place in a job started by SLURM or an MPI launcher.

    ``rank`` / ``size``: this process's rank and the number of ranks.
    ``job``: the job id that every rank presents at the rendezvous.
    ``rendezvous_host`` / ``rendezvous_port``: where rank 0 serves the
    rendezvous and every rank connects (an IPv6 address has no brackets).
    Both are ``""`` / ``0`` only for a one-rank MPI job without
    ``ZMQMESH_RENDEZVOUS``, which needs no rendezvous.
    ``who``: ``"SLURM"``, ``"Open MPI"`` or ``"PMI"``, for messages.
    """

    rank: int
    size: int
    job: str
    rendezvous_host: str
    rendezvous_port: int
    who: str

    @property
    def endpoint(self) -> str:
        """The rendezvous as a ZeroMQ endpoint, ``tcp://host:port``
        (``tcp://[addr]:port`` for an IPv6 address)."""
        host = self.rendezvous_host
        return (
            f"tcp://[{host}]:{self.rendezvous_port}"
            if ":" in host
            else f"tcp://{host}:{self.rendezvous_port}"
        )


# -- SLURM host lists ---------------------------------------------------------

# A bracket group is a tuple of inclusive (low, high, width) ranges; a host
# pattern is a sequence of literal strings and groups.
_Range: TypeAlias = tuple[int, int, int]
_Group: TypeAlias = tuple[_Range, ...]
_Pattern: TypeAlias = tuple[str | _Group, ...]

_DIGITS = re.compile(r"[0-9]+")


def expand_hostlist(spec: str) -> list[str]:
    """The host names of a SLURM host list, in order, duplicates kept.

    ``"node[01-03,07],gpu1"`` is ``["node01", "node02", "node03", "node07",
    "gpu1"]``. Commas inside brackets separate ranges; commas outside
    separate hosts. A range ``lo-hi`` is inclusive and its numbers are
    zero-padded to the width of ``lo`` as written (as SLURM does:
    ``n[08-10]`` is n08 n09 n10, ``n[8-10]`` is n8 n9 n10). Several bracket
    groups in one name give every combination, the first group varying
    slowest: ``r[1-2]n[1-2]`` is r1n1 r1n2 r2n1 r2n2.

    Raises ``ValueError`` naming the problem for an empty list or host name,
    an unclosed ``[`` or stray ``]``, nested brackets, an empty or
    non-numeric range, a decreasing range (``n[3-1]``), whitespace, or more
    than :data:`MAX_HOSTS` names.
    """
    patterns = _parse_hostlist(spec)
    total = sum(_count(p) for p in patterns)
    if total > MAX_HOSTS:
        raise ValueError(f"host list {spec!r} expands to {total} names, more than {MAX_HOSTS}")
    return [name for p in patterns for name in _expand(p)]


def _parse_hostlist(spec: str) -> list[_Pattern]:
    text = spec.strip()
    if not text:
        raise ValueError("empty host list")
    patterns: list[_Pattern] = []
    parts: list[str | _Group] = []
    literal = ""
    i = 0
    while i < len(text):
        c = text[i]
        if c == "[":
            close = text.find("]", i + 1)
            nested = text.find("[", i + 1)
            if close < 0:
                raise ValueError(f"unclosed '[' in host list {spec!r}")
            if 0 <= nested < close:
                raise ValueError(f"nested '[' in host list {spec!r}")
            if literal:
                parts.append(literal)
                literal = ""
            parts.append(_parse_group(text[i + 1 : close], spec))
            i = close + 1
            continue
        if c == "]":
            raise ValueError(f"']' without '[' in host list {spec!r}")
        if c == ",":
            if not parts and not literal:
                raise ValueError(f"empty host name in host list {spec!r}")
            patterns.append((*parts, literal) if literal else tuple(parts))
            parts, literal = [], ""
        elif c.isspace():
            raise ValueError(f"whitespace in host list {spec!r}")
        else:
            literal += c
        i += 1
    if not parts and not literal:
        raise ValueError(f"empty host name at the end of host list {spec!r}")
    patterns.append((*parts, literal) if literal else tuple(parts))
    return patterns


def _parse_group(body: str, spec: str) -> _Group:
    if not body:
        raise ValueError(f"empty brackets '[]' in host list {spec!r}")
    ranges: list[_Range] = []
    for item in body.split(","):
        lo_text, dash, hi_text = item.partition("-")
        if not _DIGITS.fullmatch(lo_text) or (dash and not _DIGITS.fullmatch(hi_text)):
            what = "empty range" if not item else f"range {item!r} is not N or N-M"
            raise ValueError(f"{what} in [{body}] of host list {spec!r}")
        lo = int(lo_text)
        hi = int(hi_text) if dash else lo
        if hi < lo:
            raise ValueError(f"decreasing range {item!r} in [{body}] of host list {spec!r}")
        ranges.append((lo, hi, len(lo_text)))
    return tuple(ranges)


def _count(pattern: _Pattern) -> int:
    n = 1
    for part in pattern:
        if not isinstance(part, str):
            n *= sum(hi - lo + 1 for lo, hi, _ in part)
    return n


def _numbers(group: _Group) -> Iterator[str]:
    for lo, hi, width in group:
        for value in range(lo, hi + 1):
            yield str(value).zfill(width)


def _expand(pattern: _Pattern) -> Iterator[str]:
    choices: list[Sequence[str]] = []
    for part in pattern:
        if isinstance(part, str):
            choices.append((part,))
        else:
            choices.append(tuple(_numbers(part)))
    for combination in itertools.product(*choices):
        yield "".join(combination)


def _first_host(pattern: _Pattern) -> str:
    return "".join(p if isinstance(p, str) else str(p[0][0]).zfill(p[0][2]) for p in pattern)


# -- the environment -----------------------------------------------------------


def slurm_port(job_id: int) -> int:
    """The rendezvous port of SLURM job ``job_id``: ``20000 + job_id % 20000``.

    A port per job, so that two jobs whose first node is the same machine
    (shared nodes) do not both try to serve on one port.
    """
    return PORT_BASE + job_id % PORT_SPAN


def foreign_job(env: Mapping[str, str]) -> ForeignJob | None:
    """This rank's job as started by SLURM, Open MPI or a PMI launcher, or
    ``None`` when ``zmqmesh launch`` started it (``ZMQMESH_RANK`` or
    ``ZMQMESH_SIZE`` set) or no launcher is recognized. The order is the
    module docstring's.

    SLURM (a task of ``srun``: ``SLURM_PROCID``, with no ``SLURM_STEP_ID`` or
    the id of a task step; the batch script itself and an ``salloc`` shell
    carry a special step id, are not ranks, and so give ``None``):

    - rank ``SLURM_PROCID``; size ``SLURM_STEP_NUM_TASKS``, else
      ``SLURM_NTASKS``, else ``SLURM_NPROCS``;
    - job ``"slurm-<SLURM_JOB_ID>.<SLURM_STEP_ID>"`` (``SLURM_JOBID`` and
      ``SLURM_STEPID`` are the older names; ``"slurm-<SLURM_JOB_ID>"``
      without a step id), so the ranks of two steps never join each other's
      rendezvous;
    - rendezvous host: ``ZMQMESH_RENDEZVOUS=host:port`` when set (host and
      port); else the first host of ``SLURM_STEP_NODELIST`` (else
      ``SLURM_NODELIST``, else ``SLURM_JOB_NODELIST``), where SLURM places
      task 0 with its block and cyclic distributions;
    - rendezvous port (without ``ZMQMESH_RENDEZVOUS``):
      ``ZMQMESH_RENDEZVOUS_PORT`` when set, else :func:`slurm_port` of the
      job id. Steps that run at the same time with the same first node
      need their own ``ZMQMESH_RENDEZVOUS_PORT``.
    - rank 0 checks that it runs on that first node (``SLURMD_NODENAME``),
      as a custom distribution can place it elsewhere.

    Open MPI (``OMPI_COMM_WORLD_RANK``/``_SIZE``) and PMI
    (``PMI_RANK``/``PMI_SIZE``): rendezvous from ``ZMQMESH_RENDEZVOUS``, which
    is required when the size is more than 1; job ``ZMQMESH_JOB`` when set,
    else ``"mpi-<host>:<port>"``.

    A size of 1 is returned like any other. ``ZMQMESH_RENDEZVOUS`` is
    ``host:port``, ``[ipv6]:port`` or ``tcp://`` followed by either.

    Raises :class:`zmqmesh.LaunchError` with a one-line message naming the
    variable when a value is not a non-negative integer, the size is 0, the
    rank is not below the size, a variable that the launcher always sets is
    missing, the node list is malformed, a port is not in 1..65535, rank 0
    is not on the rendezvous node, or an MPI job of more than one rank has
    no ``ZMQMESH_RENDEZVOUS``.
    """
    if "ZMQMESH_RANK" in env or "ZMQMESH_SIZE" in env:
        return None
    slurm = _slurm_rank_size(env)
    for who, rank_var, size_var in (
        (OPEN_MPI, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
        (PMI, "PMI_RANK", "PMI_SIZE"),
    ):
        mpi = _rank_size(env, rank_var, (size_var,))
        if mpi is not None and (slurm is None or mpi != slurm):
            return _mpi_job(env, who, *mpi)
    if slurm is not None:
        return _slurm_job(env, *slurm)
    return None


def _slurm_rank_size(env: Mapping[str, str]) -> tuple[int, int] | None:
    if "SLURM_PROCID" not in env:
        return None
    _, step = _first(env, ("SLURM_STEP_ID", "SLURM_STEPID"))
    # srun sets the step id. The batch script and an salloc shell carry one
    # of Slurm's special ids there and are no rank. Without a step id the
    # four variables of API.md decide, so a task they describe is a rank.
    if step is not None and (not _DIGITS.fullmatch(step) or int(step) >= _FIRST_SPECIAL_STEP):
        return None
    return _rank_size(env, "SLURM_PROCID", ("SLURM_STEP_NUM_TASKS", "SLURM_NTASKS", "SLURM_NPROCS"))


def _slurm_job(env: Mapping[str, str], rank: int, size: int) -> ForeignJob:
    job_var, job_id = _required(env, ("SLURM_JOB_ID", "SLURM_JOBID"), "SLURM_PROCID")
    job_number = _non_negative(job_var, job_id)
    _, step = _first(env, ("SLURM_STEP_ID", "SLURM_STEPID"))
    job = f"slurm-{job_number}" if step is None else f"slurm-{job_number}.{step}"
    explicit = _explicit_rendezvous(env)
    if explicit is not None:
        return ForeignJob(rank, size, job, *explicit, SLURM)
    list_var, nodelist = _required(
        env, ("SLURM_STEP_NODELIST", "SLURM_NODELIST", "SLURM_JOB_NODELIST"), "SLURM_PROCID"
    )
    try:
        first = _first_host(_parse_hostlist(nodelist)[0])
    except ValueError as exc:
        raise LaunchError(f"{list_var}: {exc}") from None
    if "ZMQMESH_RENDEZVOUS_PORT" in env:
        port = _port("ZMQMESH_RENDEZVOUS_PORT", env["ZMQMESH_RENDEZVOUS_PORT"])
    else:
        port = slurm_port(job_number)
    node = env.get("SLURMD_NODENAME")
    if rank == 0 and node and node != first:
        raise LaunchError(
            f"rank 0 runs on {node} (SLURMD_NODENAME), not on {first}, the first node of "
            f"{list_var}, where the ranks look for the rendezvous; use srun's block or "
            "cyclic distribution, or set ZMQMESH_RENDEZVOUS=host:port for every rank"
        )
    return ForeignJob(rank, size, job, first, port, SLURM)


def _mpi_job(env: Mapping[str, str], who: str, rank: int, size: int) -> ForeignJob:
    explicit = _explicit_rendezvous(env)
    if explicit is None:
        if size == 1:
            return ForeignJob(rank, size, env.get("ZMQMESH_JOB") or "mpi", "", 0, who)
        raise LaunchError(
            f"started by {who} with {size} ranks, but ZMQMESH_RENDEZVOUS is not set: "
            "export ZMQMESH_RENDEZVOUS=host:port, a free port on the host of rank 0"
        )
    host, port = explicit
    shown = f"[{host}]" if ":" in host else host
    return ForeignJob(rank, size, env.get("ZMQMESH_JOB") or f"mpi-{shown}:{port}", host, port, who)


def _explicit_rendezvous(env: Mapping[str, str]) -> tuple[str, int] | None:
    """``ZMQMESH_RENDEZVOUS`` as (host, port), or None when unset or empty."""
    value = env.get("ZMQMESH_RENDEZVOUS", "")
    if not value:
        return None
    text = value.removeprefix("tcp://")
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        ok = bool(bracket) and rest.startswith(":")
        port_text = rest[1:]
    else:
        host, colon, port_text = text.rpartition(":")
        ok = bool(colon) and ":" not in host
    if not ok or not host or "/" in port_text or any(c.isspace() or c in "[]/@*" for c in host):
        raise LaunchError(
            f"ZMQMESH_RENDEZVOUS={value!r} is not host:port ([address]:port for IPv6)"
        )
    return host, _port("ZMQMESH_RENDEZVOUS", port_text, shown=value)


def _rank_size(
    env: Mapping[str, str], rank_var: str, size_vars: Sequence[str]
) -> tuple[int, int] | None:
    if rank_var not in env:
        return None
    size_var, size_text = _required(env, size_vars, rank_var)
    rank = _non_negative(rank_var, env[rank_var])
    size = _non_negative(size_var, size_text)
    if size < 1:
        raise LaunchError(f"{size_var}={size_text!r}: a job has at least one rank")
    if rank >= size:
        raise LaunchError(f"{rank_var}={rank} is out of range for {size_var}={size}")
    return rank, size


def _first(env: Mapping[str, str], names: Sequence[str]) -> tuple[str, str | None]:
    for name in names:
        if name in env:
            return name, env[name]
    return names[0], None


def _required(env: Mapping[str, str], names: Sequence[str], because: str) -> tuple[str, str]:
    name, value = _first(env, names)
    if value is None:
        if len(names) == 1:
            raise LaunchError(f"{because} is set but {names[0]} is not")
        raise LaunchError(f"{because} is set but none of {', '.join(names)} is")
    return name, value


def _non_negative(name: str, text: str) -> int:
    if not _DIGITS.fullmatch(text.strip()):
        raise LaunchError(f"{name}={text!r} is not a non-negative integer")
    return int(text)


def _port(name: str, text: str, *, shown: str | None = None) -> int:
    value = text.strip()
    if not _DIGITS.fullmatch(value) or not 1 <= int(value) <= 65535:
        raise LaunchError(f"{name}={shown or text!r}: the port must be an integer in 1..65535")
    return int(value)
