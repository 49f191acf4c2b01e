"""What a job is: its :class:`JobSpec`, and the settings and environment
each of its ranks starts with.

Pure but for reading the launcher's environment and where zmqmesh's
mpi4py layer lives.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from zmqmesh.job import lifeline
from zmqmesh.job.settings import LAUNCHER_HOST, VARIABLES, JobSettings
from zmqmesh.launcher.placement import BIND_ENV

__all__ = ["RESERVED_ENV", "JobSpec", "rank_environ", "rank_settings", "shared_environ"]

RESERVED_ENV = frozenset(
    [
        *(
            VARIABLES[field]
            for field in (
                "rank",
                "size",
                "job",
                "rendezvous",
                "ipc_dir",
                "shm_dir",
                "allow_pickle",
                "tcp",
                "host",
                "addr",
                "launcher_addr",
                "keyfile",
                "profile_dir",
                "trace",
                "live",
                "serve_rendezvous",
            )
        ),
        lifeline.ENV,
        BIND_ENV,
    ]
)
"""The variables the launcher sets (or clears) for each rank itself: the
settings of :func:`rank_settings` and the lifeline. The others
(``ZMQMESH_FAILURE_TIMEOUT``, ...) reach the ranks as the user set them."""


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What to run and how.

    ``program`` is what follows the interpreter on each rank's command line:
    ``("script.py", *args)`` or ``("-m", "pkg.mod", *args)``. ``env`` holds
    extra variables for the ranks (``-x``). ``timeout`` bounds the job
    (``None``: no bound); ``grace`` is how long ranks may go on after the
    first failure; ``kill_after`` is how long a SIGTERM'd rank has before
    SIGKILL. ``prefix`` puts ``[rank] `` before every output line.
    """

    program: tuple[str, ...]
    size: int = 1
    env: Mapping[str, str] = field(default_factory=dict)
    timeout: float | None = None
    # seconds every rank must have waited, with nothing on its way, to be a deadlock (0: off)
    hang_check: float = 10.0
    grace: float = 10.0
    kill_after: float = 3.0
    prefix: bool = True
    pickle: bool = False
    # rank -> host name, for ranks started over ssh or srun (None or absent: local)
    hosts: tuple[str | None, ...] = ()
    ssh: tuple[str, ...] = ("ssh",)
    # not None: ranks on hosts start as steps of this srun (a SLURM allocation)
    srun: str | None = None
    ssh_login: float = 0.0  # the slowest ssh login of the pre-flight check (s)
    insecure: bool = False  # no CURVE between hosts (benchmarks on trusted networks)
    remote_python: str | None = None  # remote interpreter (default: this one's path)
    remote_wdir: str | None = None  # remote working directory (default: this one)
    report: bool = False  # print what each rank did at the end (--report)
    terminal: bool = False  # the launcher's stderr is a terminal: ranks may redraw lines
    trace: str | None = None  # write a Chrome trace of the ranks' calls here (--trace)
    live: bool = False  # with report: a status line on stderr (set when it is a terminal)
    mpi4py: bool = False  # "import mpi4py" finds zmqmesh.compat.mpi4py (--mpi4py)
    fork: bool = True  # local ranks forked from a loaded process (forkserver.py), not exec'd
    # rank -> its ZMQMESH_BIND value (placement.py); empty: no rank is bound
    bind: tuple[str, ...] = ()

    def host_of(self, rank: int) -> str | None:
        return self.hosts[rank] if rank < len(self.hosts) else None

    @property
    def spans_hosts(self) -> bool:
        return any(h is not None for h in self.hosts)


def rank_settings(
    spec: JobSpec,
    rank: int,
    *,
    job: str,
    port: str,
    ipc_dir: str,
    shm_dir: str | None = None,
    keyfile: str | None = None,
    profile: str | None = None,
) -> JobSettings:
    """What the launcher tells rank ``rank`` of ``spec`` about its job, whose
    id is ``job`` and whose rendezvous listens on ``port``.

    A rank on this host reaches the rendezvous on loopback and gets the
    job's directories, the keys (``keyfile``, for a job that spans hosts,
    which also makes it listen on tcp under the launcher's name) and, with
    ``--report`` or ``--trace``, the directory for its record (``profile``)
    and what to record there. A rank on another host gets its host's name
    and tcp; its remote end (``remote.py``) puts in the launcher's address
    and the keys there.
    """
    host = spec.host_of(rank)
    if host is not None:
        return JobSettings(
            rank,
            spec.size,
            job=job,
            rendezvous=f"tcp://{LAUNCHER_HOST}:{port}",
            allow_pickle=spec.pickle,
            host=host,
            tcp=True,
        )
    return JobSettings(
        rank,
        spec.size,
        job=job,
        rendezvous=f"tcp://127.0.0.1:{port}",
        ipc_dir=ipc_dir,
        shm_dir=shm_dir,
        allow_pickle=spec.pickle,
        host=LAUNCHER_HOST if spec.spans_hosts else "",
        tcp=spec.spans_hosts,
        keyfile=keyfile,
        profile_dir=profile,
        trace=profile is not None and bool(spec.trace),
        live=profile is not None and spec.report and spec.live,
        terminal=spec.terminal,
    )


def rank_environ(
    spec: JobSpec, settings: JobSettings, *, base: Mapping[str, str], life: str | None = None
) -> dict[str, str]:
    """The environment rank ``settings.rank`` of ``spec`` starts with.

    A rank on this host inherits ``base`` (the launcher's environment). A
    rank on another host keeps the environment it has there, and takes from
    ``base`` only the ``ZMQMESH_*`` variables and ``PYTHONPATH``, so that
    every rank of a job runs alike. Over that, in order: no stale
    ``RESERVED_ENV`` value, the ``-x`` variables (``spec.env``), the
    settings (``settings.to_environ()``), the rank's ``ZMQMESH_BIND`` with
    ``--bind-to core``, ``PYTHONUNBUFFERED=1``, for a rank
    on this host the lifeline ``life`` (``lifeline.value``), and with
    ``--mpi4py`` zmqmesh's mpi4py first on ``PYTHONPATH``.
    """
    remote = spec.host_of(settings.rank) is not None
    env = {
        k: v
        for k, v in base.items()
        if k not in RESERVED_ENV and (not remote or k.startswith("ZMQMESH_") or k == "PYTHONPATH")
    }
    env.update(spec.env)
    env.update(settings.to_environ())
    if settings.rank < len(spec.bind):
        env[BIND_ENV] = spec.bind[settings.rank]
    env["PYTHONUNBUFFERED"] = "1"
    if life is not None and not remote:
        env[lifeline.ENV] = life
    if spec.mpi4py:
        _shadow_mpi4py(env, env.get("PYTHONPATH"))
    return env


def _shadow_mpi4py(env: dict[str, str], pythonpath: str | None) -> None:
    """Put zmqmesh's mpi4py layer first on the rank's import path."""
    import zmqmesh.compat

    where = os.path.dirname(os.path.abspath(zmqmesh.compat.__file__))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [where, pythonpath]))


def shared_environ(spec: JobSpec, base: Mapping[str, str]) -> dict[str, str]:
    """The environment that every rank of ``spec`` on this host starts with:
    theirs (:func:`rank_environ`) without the variables of one rank."""
    local = next((r for r in range(spec.size) if spec.host_of(r) is None), 0)
    settings = rank_settings(spec, local, job="", port="0", ipc_dir="")
    env = rank_environ(spec, settings, base=base)
    return {k: v for k, v in env.items() if k not in RESERVED_ENV}
