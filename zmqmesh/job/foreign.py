"""Jobs started by someone else's launcher: SLURM's ``srun``, ``mpirun``,
a Kubernetes Indexed Job.

Pure functions of an environment mapping: no I/O, no sockets, no lookups.

:func:`foreign_job` reads a rank's place in a job that ``srun``, Open MPI's
``mpirun``, an MPICH-family (PMI) ``mpiexec`` or Kubernetes started, and
where that job's rendezvous is. Rank 0 serves the rendezvous; every rank
connects to it.

Order (API.md, "Start-up"), first match wins:

1. ``ZMQMESH_RANK`` or ``ZMQMESH_SIZE`` set: ``zmqmesh launch`` started the
   rank, and ``settings.JobSettings.from_environ`` reads those variables:
   ``None``.
2. SLURM: ``SLURM_PROCID`` in a task of an ``srun`` step (:func:`slurm_task`);
   the batch script, an ``salloc`` shell and what they start directly are
   jobs of one rank, whatever the Slurm release. The rendezvous is on the step's first node (see
   :func:`foreign_job` for why and for the port).
3. Open MPI: ``OMPI_COMM_WORLD_RANK`` / ``OMPI_COMM_WORLD_SIZE``.
4. PMI (MPICH, Intel MPI, MVAPICH): ``PMI_RANK`` / ``PMI_SIZE``.
   Under 3 and 4 the rendezvous is named by ``ZMQMESH_RENDEZVOUS=host:port``;
   when it is not and every rank runs on one host, :func:`discovery` says how
   they find rank 0's (``discover.py`` does it, before this module reads the
   variables it fills in).
5. Kubernetes, a pod of an Indexed Job: ``JOB_COMPLETION_INDEX`` (which
   Kubernetes sets) and ``JOB_COMPLETIONS`` (the Job's ``.spec.completions``,
   which the manifest sets: a pod cannot read its Job's spec). The
   rendezvous is named by ``ZMQMESH_RENDEZVOUS``: rank 0's stable DNS name
   under the Job's headless Service, ``<job>-0.<service>:<port>``
   (docs/kubernetes.md).
6. None of them: ``None`` (a singleton job).

One exception to the order: ``mpirun`` inside a SLURM allocation starts its
per-node daemons with ``srun``, so its ranks inherit the SLURM variables of
a daemon (``SLURM_PROCID`` is the node's index). When the MPI variables give
another rank or size than the SLURM ones, the MPI launcher, the one that
started this process, wins.

SLURM's compressed host lists are read by ``hostlist.py``, every number by
``variables.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from zmqmesh.errors import LaunchError
from zmqmesh.job.hostlist import first_host
from zmqmesh.job.variables import non_negative, port

__all__ = [
    "PORT_BASE",
    "PORT_SPAN",
    "Discovery",
    "ForeignJob",
    "discovery",
    "foreign_job",
    "slurm_port",
    "slurm_task",
]

PORT_BASE = 20000
PORT_SPAN = 20000
"""A SLURM job's rendezvous port is ``PORT_BASE + job_id % PORT_SPAN``."""

SLURM = "SLURM"
OPEN_MPI = "Open MPI"
PMI = "PMI"
KUBERNETES = "Kubernetes"

_DIGITS = re.compile(r"[0-9]+")

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
    ``who``: ``"SLURM"``, ``"Open MPI"``, ``"PMI"`` or ``"Kubernetes"``, for
    messages.
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

    SLURM (a task of ``srun``: ``SLURM_PROCID`` where :func:`slurm_task`
    holds; the batch script itself, an ``salloc`` shell and the processes
    they start directly are not ranks, and so give ``None``):

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

    Kubernetes (an Indexed Job's pod: ``JOB_COMPLETION_INDEX``): rank
    ``JOB_COMPLETION_INDEX``, size ``JOB_COMPLETIONS``; rendezvous from
    ``ZMQMESH_RENDEZVOUS``, required above one rank; job ``ZMQMESH_JOB`` when
    set, else ``"k8s-<host>:<port>"``.

    A size of 1 is returned like any other. ``ZMQMESH_RENDEZVOUS`` is
    ``host:port``, ``[ipv6]:port`` or ``tcp://`` followed by either.

    Raises :class:`zmqmesh.LaunchError` with a one-line message naming the
    variable when a value is not a non-negative integer, the size is 0, the
    rank is not below the size, a variable that the launcher always sets is
    missing, the node list is malformed, a port is not in 1..65535, rank 0
    is not on the rendezvous node, or an MPI or Kubernetes job of more than
    one rank has no ``ZMQMESH_RENDEZVOUS``.
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
    indexed = _rank_size(env, "JOB_COMPLETION_INDEX", ("JOB_COMPLETIONS",))
    if indexed is not None:
        return _kubernetes_job(env, *indexed)
    return None


@dataclass(frozen=True, slots=True)
class Discovery:
    """How the ranks of an MPI launcher's job, all on one host, find rank
    0's rendezvous when nobody named it (:func:`discovery`).

    ``pmi_fd``: the socket of Hydra's PMI-1 server (``PMI_FD``), whose
    key-value space carries rank 0's address to the others; or ``path``:
    a file in the job's session directory that rank 0 writes and the others
    read. ``job``: the job id every rank presents, when the environment
    holds one (PMI's comes from its server: ``""`` here).
    """

    who: str
    rank: int
    size: int
    job: str
    pmi_fd: int | None = None
    path: str | None = None


def discovery(env: Mapping[str, str]) -> Discovery | None:
    """How the ranks of the Open MPI or PMI job that ``env`` describes find
    their rendezvous without ``ZMQMESH_RENDEZVOUS``, or ``None`` when there
    is nothing to find: not such a job (the order of :func:`foreign_job`),
    one rank, ``ZMQMESH_RENDEZVOUS`` set, or ranks on more than one host,
    where only the user knows an address that all of them reach.

    - Open MPI, every rank on this host (``OMPI_COMM_WORLD_LOCAL_SIZE`` is
      the size) and a job id (``PMIX_NAMESPACE``, else
      ``OMPI_MCA_ess_base_jobid``): the file ``zmqmesh-rendezvous-<id>``
      in the job's session directory (``PMIX_SERVER_TMPDIR``, else
      ``OMPI_MCA_orte_jobfam_session_dir``, else ``TMPDIR`` or ``/tmp``);
      job ``mpi-<id>``.
    - PMI (MPICH's and Intel MPI's Hydra), every rank on this host
      (``MPI_LOCALNRANKS`` is the size) and a PMI-1 socket (``PMI_FD``):
      the PMI server's key-value space.

    Pure; raises :class:`zmqmesh.LaunchError` as :func:`foreign_job` does
    for malformed rank and size variables.
    """
    if "ZMQMESH_RANK" in env or "ZMQMESH_SIZE" in env or env.get("ZMQMESH_RENDEZVOUS"):
        return None
    slurm = _slurm_rank_size(env)
    for who, rank_var, size_var in (
        (OPEN_MPI, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
        (PMI, "PMI_RANK", "PMI_SIZE"),
    ):
        mpi = _rank_size(env, rank_var, (size_var,))
        if mpi is not None and (slurm is None or mpi != slurm):
            rank, size = mpi
            return _mpi_discovery(env, who, rank, size) if size > 1 else None
    return None


_SAFE = re.compile(r"[^A-Za-z0-9_.@-]")


def _mpi_discovery(env: Mapping[str, str], who: str, rank: int, size: int) -> Discovery | None:
    if who == OPEN_MPI:
        key = env.get("PMIX_NAMESPACE") or env.get("OMPI_MCA_ess_base_jobid")
        if env.get("OMPI_COMM_WORLD_LOCAL_SIZE") != str(size) or not key:
            return None
        where = (
            env.get("PMIX_SERVER_TMPDIR")
            or env.get("OMPI_MCA_orte_jobfam_session_dir")
            or env.get("TMPDIR")
            or "/tmp"
        )
        safe = _SAFE.sub("_", key)
        path = f"{where.rstrip('/') or '/'}/zmqmesh-rendezvous-{safe}"
        return Discovery(who, rank, size, f"mpi-{safe}", path=path)
    fd = env.get("PMI_FD", "")
    if env.get("MPI_LOCALNRANKS") != str(size) or not _DIGITS.fullmatch(fd):
        return None
    return Discovery(who, rank, size, "", pmi_fd=int(fd))


def _slurm_rank_size(env: Mapping[str, str]) -> tuple[int, int] | None:
    if "SLURM_PROCID" not in env:
        return None
    if not slurm_task(env):
        return None
    return _rank_size(env, "SLURM_PROCID", ("SLURM_STEP_NUM_TASKS", "SLURM_NTASKS", "SLURM_NPROCS"))


def slurm_task(env: Mapping[str, str]) -> bool:
    """Whether a process with ``SLURM_PROCID`` in ``env`` is a task of an
    ``srun`` step, and so a rank, rather than a process that Slurm started
    otherwise (the batch script, an ``salloc`` shell) or one of their
    children, which are jobs of one rank.

    srun gives each task its step id (``SLURM_STEP_ID``, older
    ``SLURM_STEPID``), a number below Slurm's special ids. Current releases
    give the batch script and an interactive step one of those special ids
    (``>= 0xfffffff0``, or a name such as ``batch``); 22.05 and older give
    the batch script ``SLURM_PROCID=0`` and ``SLURM_NTASKS`` but no step id
    at all. What tells it from a task there: ``slurmd`` started it
    (``SLURMD_NODENAME`` is set) and yet it has no step id, which srun never
    leaves out. Without ``SLURMD_NODENAME`` or a step id, the four variables
    of API.md (set by hand, or by a tool that mimics srun) make a rank.
    """
    _, step = _first(env, ("SLURM_STEP_ID", "SLURM_STEPID"))
    if step is None:
        return "SLURMD_NODENAME" not in env
    return bool(_DIGITS.fullmatch(step)) and int(step) < _FIRST_SPECIAL_STEP


def _slurm_job(env: Mapping[str, str], rank: int, size: int) -> ForeignJob:
    job_var, job_id = _required(env, ("SLURM_JOB_ID", "SLURM_JOBID"), "SLURM_PROCID")
    job_number = non_negative(job_var, job_id)
    _, step = _first(env, ("SLURM_STEP_ID", "SLURM_STEPID"))
    job = f"slurm-{job_number}" if step is None else f"slurm-{job_number}.{step}"
    explicit = _explicit_rendezvous(env)
    if explicit is not None:
        return ForeignJob(rank, size, job, *explicit, SLURM)
    list_var, nodelist = _required(
        env, ("SLURM_STEP_NODELIST", "SLURM_NODELIST", "SLURM_JOB_NODELIST"), "SLURM_PROCID"
    )
    try:
        first = first_host(nodelist)
    except ValueError as exc:
        raise LaunchError(f"{list_var}: {exc}") from None
    if "ZMQMESH_RENDEZVOUS_PORT" in env:
        number = port("ZMQMESH_RENDEZVOUS_PORT", env["ZMQMESH_RENDEZVOUS_PORT"])
    else:
        number = slurm_port(job_number)
    node = env.get("SLURMD_NODENAME")
    if rank == 0 and node and node != first:
        raise LaunchError(
            f"rank 0 runs on {node} (SLURMD_NODENAME), not on {first}, the first node of "
            f"{list_var}, where the ranks look for the rendezvous; use srun's block or "
            "cyclic distribution, or set ZMQMESH_RENDEZVOUS=host:port for every rank"
        )
    return ForeignJob(rank, size, job, first, number, SLURM)


def _mpi_job(env: Mapping[str, str], who: str, rank: int, size: int) -> ForeignJob:
    explicit = _explicit_rendezvous(env)
    if explicit is None:
        if size == 1:
            return ForeignJob(rank, size, env.get("ZMQMESH_JOB") or "mpi", "", 0, who)
        raise LaunchError(
            f"started by {who} with {size} ranks, but ZMQMESH_RENDEZVOUS is not set: "
            "export ZMQMESH_RENDEZVOUS=host:port, a free port on the host of rank 0 "
            "(only ranks that all run on one host find one by themselves)"
        )
    host, number = explicit
    shown = f"[{host}]" if ":" in host else host
    job = env.get("ZMQMESH_JOB") or f"mpi-{shown}:{number}"
    return ForeignJob(rank, size, job, host, number, who)


def _kubernetes_job(env: Mapping[str, str], rank: int, size: int) -> ForeignJob:
    explicit = _explicit_rendezvous(env)
    if explicit is None:
        if size == 1:
            return ForeignJob(rank, size, env.get("ZMQMESH_JOB") or "k8s", "", 0, KUBERNETES)
        raise LaunchError(
            f"a pod of an Indexed Job of {size} ranks (JOB_COMPLETIONS), but "
            "ZMQMESH_RENDEZVOUS is not set: set it in the manifest to the DNS name of "
            "index 0's pod and a port, <job>-0.<headless service>:<port>"
        )
    host, number = explicit
    shown = f"[{host}]" if ":" in host else host
    job = env.get("ZMQMESH_JOB") or f"k8s-{shown}:{number}"
    return ForeignJob(rank, size, job, host, number, KUBERNETES)


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
    return host, port("ZMQMESH_RENDEZVOUS", port_text, shown=value)


def _rank_size(
    env: Mapping[str, str], rank_var: str, size_vars: Sequence[str]
) -> tuple[int, int] | None:
    if rank_var not in env:
        return None
    size_var, size_text = _required(env, size_vars, rank_var)
    rank = non_negative(rank_var, env[rank_var])
    size = non_negative(size_var, size_text)
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
