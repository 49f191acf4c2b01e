"""The job's settings: one frozen record, and the environment it travels in.

Theory of operation. A rank learns everything about its job from its
environment. :class:`JobSettings` is that knowledge as one value.
:meth:`JobSettings.to_environ` writes it as ``ZMQMESH_*`` variables (what
``zmqmesh launch`` gives each rank, on this host or over ssh) and
:meth:`JobSettings.from_environ` reads it back, in API.md's order
("Start-up"), first match wins:

1. ``ZMQMESH_RANK`` or ``ZMQMESH_SIZE`` set: our launcher's variables;
2. SLURM, then 3. Open MPI or PMI: ``foreign.py`` finds the rank, the size
   and the rendezvous; rank 0 serves the rendezvous itself and every rank
   listens on tcp;
4. none of these: a singleton job.

The tunables (failure timeout, limits, spinning, profiling, pickle) are read
alike whichever of these started the rank.

Invariants: every field has exactly one variable (:data:`VARIABLES`);
``to_environ`` leaves out a field at its default, so the variables a
launcher does not set itself (``-x ZMQMESH_FAILURE_TIMEOUT=2``) reach the
rank untouched; for every ``s`` with a host name,
``JobSettings.from_environ(s.to_environ()) == s``.

Pure: no sockets, no lookups. The two facts that need the system, this
host's name and the address a rank of a foreign job advertises, are passed
in as callables and called only when needed.
"""

from __future__ import annotations

import dataclasses
import platform
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from zmqmesh.errors import LaunchError
from zmqmesh.job.foreign import ForeignJob, foreign_job
from zmqmesh.job.variables import flag, integer, non_negative, port, seconds
from zmqmesh.transport.limits import FAILURE_TIMEOUT, MAX_FRAME

__all__ = [
    "FAILURE_TIMEOUT",
    "FAILURE_TIMEOUT_MAX",
    "FAILURE_TIMEOUT_MIN",
    "LAUNCHER_HOST",
    "MAX_FRAME",
    "RENDEZVOUS_TIMEOUT",
    "SPAWN_PARENTS",
    "SPIN_US_MAX",
    "UNEXPECTED_LIMIT",
    "VARIABLES",
    "JobSettings",
    "read_failure_timeout",
    "read_rendezvous_timeout",
]

FAILURE_TIMEOUT_MIN = 0.5
FAILURE_TIMEOUT_MAX = 3600.0

UNEXPECTED_LIMIT = 256 * 2**20
"""Bytes of messages a rank holds before anyone asked for them; past it, it
stops reading its peers (the engine's default too)."""

SPIN_US_MAX = 100_000
"""The longest busy-poll a receive may be given (microseconds)."""

RENDEZVOUS_TIMEOUT = 60.0
RENDEZVOUS_PER_RANK = 1.0
"""How long a rank waits at the rendezvous for the others, unless the job
says (``ZMQMESH_RENDEZVOUS_TIMEOUT``): 60 s, or 1 s per rank for a larger
job. The first rank to arrive waits for the last to start: ranks started
as new interpreters cost about 0.5 s of CPU each here, so 128 of them on
2 cores took 25 s to meet, and a fixed 60 s was short for a few hundred."""

FORCIBLE = ("allreduce", "bcast", "allgather", "alltoall")
"""The collectives whose algorithm a job may force (``ZMQMESH_ALLREDUCE=ring``)."""

LAUNCHER_HOST = "@launcher"
SPAWN_PARENTS = "ZMQMESH_SPAWN_PARENTS"
"""How many parents a spawned job's first ranks are (set for the children:
``runtime/spawned.py``)."""
"""What stands for the launcher's host in an endpoint: a rank on the
launcher's host advertises ``tcp://@launcher:port``, and a rank on another
host puts in the launcher's address as it sees it (from its ssh session)."""

VARIABLES: Mapping[str, str] = MappingProxyType(
    {
        "rank": "ZMQMESH_RANK",
        "size": "ZMQMESH_SIZE",
        "job": "ZMQMESH_JOB",
        "rendezvous": "ZMQMESH_RENDEZVOUS",
        "ipc_dir": "ZMQMESH_IPC_DIR",
        "shm_dir": "ZMQMESH_SHM_DIR",
        "allow_pickle": "ZMQMESH_PICKLE",
        "host": "ZMQMESH_HOST",
        "tcp": "ZMQMESH_TCP",
        "addr": "ZMQMESH_ADDR",
        "launcher_addr": "ZMQMESH_LAUNCHER_ADDR",
        "keyfile": "ZMQMESH_KEYFILE",
        "failure_timeout": "ZMQMESH_FAILURE_TIMEOUT",
        "unexpected_limit": "ZMQMESH_UNEXPECTED_LIMIT",
        "max_frame": "ZMQMESH_MAX_FRAME",
        "spin_us": "ZMQMESH_SPIN_US",
        "profile_dir": "ZMQMESH_PROFILE",
        "trace": "ZMQMESH_TRACE",
        "stats": "ZMQMESH_STATS",
        "live": "ZMQMESH_LIVE",
        "terminal": "ZMQMESH_TERMINAL",
        "serve_rendezvous": "ZMQMESH_SERVE_RENDEZVOUS",
        "rendezvous_port": "ZMQMESH_RENDEZVOUS_PORT",
        "rendezvous_timeout": "ZMQMESH_RENDEZVOUS_TIMEOUT",
        "local_links": "ZMQMESH_LOCAL_LINKS",
        "allreduce": "ZMQMESH_ALLREDUCE",
        "bcast": "ZMQMESH_BCAST",
        "allgather": "ZMQMESH_ALLGATHER",
        "alltoall": "ZMQMESH_ALLTOALL",
    }
)
"""The variable of each field of :class:`JobSettings`."""

_V = VARIABLES


@dataclass(frozen=True, slots=True)
class JobSettings:
    """Where this rank stands in its job and how it runs.

    ``rank`` / ``size``: this rank and the number of ranks.
    ``job``: the id every rank presents at the rendezvous.
    ``rendezvous``: the rendezvous endpoint (``tcp://host:port``; ``None``
    only for a one-rank job).
    ``ipc_dir`` / ``shm_dir``: the job's private directories on this host,
    for ``ipc://`` sockets and shared-memory segments (``None``: none).
    ``allow_pickle``: arbitrary objects may travel by pickle.
    ``host``: the name ranks compare to find which of them share a host
    (``""``: the rank's own host name, which ``from_environ`` fills in).
    ``tcp``: also listen on tcp (a job that spans hosts).
    ``addr``: the address other hosts reach this rank at.
    ``launcher_addr``: the launcher host's address, seen from here.
    ``keyfile``: the job's CURVE keys (jobs that span hosts).
    ``failure_timeout``: seconds without a connection before a peer is lost.
    ``unexpected_limit``: bytes received ahead of their receives.
    ``max_frame``: the largest inbound frame accepted (bytes).
    ``spin_us``: busy-poll before a receive sleeps (``None``: decide at start).
    ``profile_dir``: where the rank writes its record for ``--report`` /
    ``--trace``; ``trace`` keeps each call's span; ``stats`` records
    without a directory (``Comm.stats``); ``live`` writes the counters the
    launcher's status line shows.
    ``terminal``: the launcher's stderr is a terminal, which draws a rank's
    carriage-return lines in place (a progress line may redraw itself).
    ``serve_rendezvous`` / ``rendezvous_port``: this rank (rank 0 of a job
    started by srun or mpirun) serves the rendezvous itself on that port;
    the port is 0 when it does not.
    ``rendezvous_timeout``: seconds to wait there for the other ranks
    (``None``: :meth:`rendezvous_wait`'s default).
    ``local_links``: same-host peers talk over AF_UNIX links (``False``:
    through ZeroMQ, as peers on other hosts do).
    ``allreduce`` / ``bcast`` / ``allgather`` / ``alltoall``: the algorithm
    the job forces for that collective (``None``: chosen per call); the
    runtime checks the names when it starts.

    Raises ``ValueError`` for a rank outside ``0 .. size-1`` or a
    rendezvous port that does not go with ``serve_rendezvous``.
    """

    rank: int
    size: int
    job: str = ""
    rendezvous: str | None = None
    ipc_dir: str | None = None
    shm_dir: str | None = None
    allow_pickle: bool = False
    host: str = ""
    tcp: bool = False
    addr: str | None = None
    launcher_addr: str | None = None
    keyfile: str | None = None
    failure_timeout: float = FAILURE_TIMEOUT
    unexpected_limit: int = UNEXPECTED_LIMIT
    max_frame: int = MAX_FRAME
    spin_us: int | None = None
    profile_dir: str | None = None
    trace: bool = False
    stats: bool = False
    live: bool = False
    terminal: bool = False
    serve_rendezvous: bool = False
    rendezvous_port: int = 0
    rendezvous_timeout: float | None = None
    local_links: bool = True
    allreduce: str | None = None
    bcast: str | None = None
    allgather: str | None = None
    alltoall: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.rank < self.size:
            raise ValueError(f"rank {self.rank} is not in a job of {self.size}")
        port_ok = (
            1 <= self.rendezvous_port <= 65535
            if self.serve_rendezvous
            else self.rendezvous_port == 0
        )
        if not port_ok:
            raise ValueError(
                f"rendezvous_port {self.rendezvous_port} does not go with "
                f"serve_rendezvous={self.serve_rendezvous} (a port in 1..65535 with it, 0 without)"
            )

    def rendezvous_wait(self) -> float:
        """Seconds to wait at the rendezvous for the other ranks
        (``rendezvous_timeout``, or the default for this job's size)."""
        if self.rendezvous_timeout is not None:
            return self.rendezvous_timeout
        return max(RENDEZVOUS_TIMEOUT, RENDEZVOUS_PER_RANK * self.size)

    def forced_algorithms(self) -> dict[str, str]:
        """The collectives whose algorithm the job forces, with it."""
        return {name: algo for name in FORCIBLE if (algo := getattr(self, name)) is not None}

    def to_environ(self) -> dict[str, str]:
        """The ``ZMQMESH_*`` variables that describe these settings: the
        rank and the size always, every other field only when it differs
        from its default (a flag as ``1``)."""
        env: dict[str, str] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.default is not dataclasses.MISSING and value == field.default:
                continue
            env[_V[field.name]] = _text(value)
        return env

    @classmethod
    def from_environ(
        cls,
        env: Mapping[str, str],
        *,
        hostname: Callable[[], str] = platform.node,
        advertise: Callable[[ForeignJob], str | None] | None = None,
    ) -> JobSettings:
        """The settings that ``env`` describes, looked for in the module
        docstring's order.

        ``hostname()`` gives this host's name where ``ZMQMESH_HOST`` (or,
        for a task of srun, ``SLURMD_NODENAME``) does not. ``advertise(job)`` gives
        the address a rank of a job started by srun or mpirun advertises when
        ``ZMQMESH_ADDR`` does not (``None`` from it, or no ``advertise``:
        the host name).

        Raises :class:`zmqmesh.LaunchError` with one line naming the
        variable and what was expected, for any variable whose value cannot
        be used, for ``ZMQMESH_RANK`` without ``ZMQMESH_SIZE`` or the other
        way round, a rank outside the job, no ``ZMQMESH_RENDEZVOUS`` for more
        than one rank, and every error of ``foreign.foreign_job``.
        """
        fields: dict[str, Any] = _tunables(env)
        if _V["rank"] in env or _V["size"] in env:
            fields.update(_launched(env))
            fields["host"] = env.get(_V["host"]) or hostname()
            return cls(**fields)
        foreign = foreign_job(env)
        if foreign is not None and foreign.size > 1:
            # Only srun's tasks have their own node's name there: mpiexec
            # (Hydra) hands every rank the variables of the node it ran on.
            node = env.get("SLURMD_NODENAME") if foreign.who == "SLURM" else None
            host = node or env.get(_V["host"]) or hostname()
            addr = env.get(_V["addr"]) or (advertise(foreign) if advertise else None) or host
            serve = foreign.rank == 0
            fields.update(
                rank=foreign.rank,
                size=foreign.size,
                job=foreign.job,
                rendezvous=foreign.endpoint,
                host=host,
                tcp=True,  # no launcher made ipc directories
                addr=addr,
                keyfile=env.get(_V["keyfile"]) or None,
                serve_rendezvous=serve,
                rendezvous_port=foreign.rendezvous_port if serve else 0,
            )
            return cls(**fields)
        return cls(0, 1, host=env.get(_V["host"]) or hostname(), **fields)


def read_failure_timeout(env: Mapping[str, str]) -> float:
    """The failure timeout a rank with environment ``env`` uses:
    ``ZMQMESH_FAILURE_TIMEOUT``, or :data:`FAILURE_TIMEOUT` when it is unset
    or empty. Raises :class:`zmqmesh.LaunchError` for a value that is not
    seconds between :data:`FAILURE_TIMEOUT_MIN` and :data:`FAILURE_TIMEOUT_MAX`."""
    name = _V["failure_timeout"]
    text = env.get(name)
    if not text:
        return FAILURE_TIMEOUT
    return seconds(name, text, FAILURE_TIMEOUT_MIN, FAILURE_TIMEOUT_MAX)


def read_rendezvous_timeout(env: Mapping[str, str]) -> float:
    """How long a rank with environment ``env`` waits for the others at the
    rendezvous: ``ZMQMESH_RENDEZVOUS_TIMEOUT``, else :data:`RENDEZVOUS_TIMEOUT`.
    Raises :class:`zmqmesh.LaunchError` for a value that is not seconds in
    1..86400."""
    text = env.get(_V["rendezvous_timeout"])
    if not text:
        return RENDEZVOUS_TIMEOUT
    return seconds(_V["rendezvous_timeout"], text, 1.0, 86400.0)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as the same float
    return str(value)


def _tunables(env: Mapping[str, str]) -> dict[str, Any]:
    """The fields read alike however the rank was started."""
    fields: dict[str, Any] = {
        "failure_timeout": read_failure_timeout(env),
        "profile_dir": env.get(_V["profile_dir"]) or None,
    }
    for name in ("allow_pickle", "trace", "stats", "live", "terminal"):
        fields[name] = flag(_V[name], env.get(_V[name], ""))
    links = env.get(_V["local_links"], "")
    fields["local_links"] = flag(_V["local_links"], links) if links.strip() else True
    for name in FORCIBLE:
        fields[name] = env.get(_V[name], "").strip().lower() or None
    for name in ("unexpected_limit", "max_frame"):
        text = env.get(_V[name])
        if text:
            fields[name] = integer(_V[name], text, 1, None, "a positive integer number of bytes")
    text = env.get(_V["rendezvous_timeout"])
    if text:
        fields["rendezvous_timeout"] = seconds(_V["rendezvous_timeout"], text, 1.0, 86400.0)
    text = env.get(_V["spin_us"])
    if text:
        fields["spin_us"] = integer(
            _V["spin_us"],
            text,
            0,
            SPIN_US_MAX,
            f"an integer number of microseconds between 0 and {SPIN_US_MAX}",
        )
    return fields


def _launched(env: Mapping[str, str]) -> dict[str, Any]:
    """The fields our launcher sets (the rank's place, the job's pieces)."""
    rank_var, size_var = _V["rank"], _V["size"]
    missing = [v for v in (rank_var, size_var) if v not in env]
    if missing:
        raise LaunchError(f"incomplete zmqmesh environment: {', '.join(missing)} not set")
    rank = non_negative(rank_var, env[rank_var])
    size = non_negative(size_var, env[size_var])
    if not rank < size:
        raise LaunchError(f"{rank_var}={rank} does not fit {size_var}={size}")
    rendezvous = env.get(_V["rendezvous"]) or None
    if size > 1 and rendezvous is None:
        raise LaunchError(f"{_V['rendezvous']} is not set for a job of more than one rank")
    serve = flag(_V["serve_rendezvous"], env.get(_V["serve_rendezvous"], ""))
    port_var = _V["rendezvous_port"]
    return {
        "rank": rank,
        "size": size,
        "job": env.get(_V["job"], ""),
        "rendezvous": rendezvous,
        "ipc_dir": env.get(_V["ipc_dir"]) or None,
        "shm_dir": env.get(_V["shm_dir"]) or None,
        "tcp": flag(_V["tcp"], env.get(_V["tcp"], "")),
        "addr": env.get(_V["addr"]) or None,
        "launcher_addr": env.get(_V["launcher_addr"]) or None,
        "keyfile": env.get(_V["keyfile"]) or None,
        "serve_rendezvous": serve,
        # Only a serving rank needs it; without ZMQMESH_SERVE_RENDEZVOUS it
        # may be a SLURM setting meant for something else.
        "rendezvous_port": port(port_var, env.get(port_var, "")) if serve else 0,
    }
