"""Start-up and shut-down of a rank: find the job, wire the world.

``init()`` looks for its job in the environment, in API.md's order: the
``ZMQMESH_*`` variables written by ``zmqmesh launch``, then SLURM, then Open
MPI / PMI variables; with none of them the process is a singleton job
(``size == 1``) that needs no socket at all.

A launched rank binds its ROUTER (``ipc://`` in the job's private directory,
which the launcher creates 0700 and removes at exit; ``tcp://`` when there is
none), publishes ``{"host", "ipc", "tcp"}`` at the rendezvous, and from the
table picks for every peer its ``ipc`` endpoint when both run on one host, its
``tcp`` endpoint otherwise.
"""

from __future__ import annotations

import asyncio
import atexit
import dataclasses
import functools
import ipaddress
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zmqmesh.errors import LaunchError
from zmqmesh.job import lifeline
from zmqmesh.job.foreign import ForeignJob, foreign_job
from zmqmesh.runtime.comm import Comm
from zmqmesh.runtime.engine import UNEXPECTED_LIMIT, Engine
from zmqmesh.runtime.profile import Recorder
from zmqmesh.runtime.profile import install as install_profile
from zmqmesh.runtime.topocomm import EdgeComm, TopoComm
from zmqmesh.transport.network import Network
from zmqmesh.transport.transport import MAX_FRAME

__all__ = ["JobSpec", "LocalWorld", "finalize", "init", "job_from_env"]

log = logging.getLogger("zmqmesh")

WORLD_SLOT = 0


@dataclass(frozen=True, slots=True)
class JobSpec:
    """Where this rank stands in its job, as read from the environment."""

    rank: int
    size: int
    job: str = ""
    rendezvous: str | None = None
    ipc_dir: str | None = None
    allow_pickle: bool = False
    host: str = ""
    shm_dir: str | None = None
    tcp: bool = False  # also listen on tcp (a job that spans hosts)
    addr: str | None = None  # the address other hosts reach this rank at
    launcher_addr: str | None = None  # the launcher host's address, seen from here
    keyfile: str | None = None  # the job's CURVE keys (jobs that span hosts)
    failure_timeout: float = 5.0  # seconds without a connection before a peer is lost
    unexpected_limit: int = UNEXPECTED_LIMIT  # bytes received ahead of their receives
    max_frame: int = MAX_FRAME  # largest inbound frame accepted
    serve_rendezvous: bool = False  # rank 0 under srun/mpirun: no launcher serves it
    rendezvous_port: int = 0
    spin_us: int | None = None  # busy-poll before a receive sleeps (None: decide at start)


def _env_int(env: Mapping[str, str], name: str) -> int:
    try:
        return int(env[name])
    except ValueError:
        raise LaunchError(f"{name}={env[name]!r} is not an integer") from None


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def job_from_env(env: Mapping[str, str] | None = None) -> JobSpec:
    """Read the job from ``env`` (default ``os.environ``). Pure apart from
    the host name; raises :class:`LaunchError` for inconsistent variables."""
    env = os.environ if env is None else env
    spec = _job_from_env(env)
    timeout = env.get("ZMQMESH_FAILURE_TIMEOUT")
    if timeout:
        try:
            seconds = float(timeout)
        except ValueError:
            seconds = -1.0
        if not 0.5 <= seconds <= 3600:
            raise LaunchError(
                f"ZMQMESH_FAILURE_TIMEOUT={timeout!r}: seconds between 0.5 and 3600 expected"
            )
        spec = dataclasses.replace(spec, failure_timeout=seconds)
    if env.get("ZMQMESH_UNEXPECTED_LIMIT"):
        limit = _positive(env, "ZMQMESH_UNEXPECTED_LIMIT")
        spec = dataclasses.replace(spec, unexpected_limit=limit)
    if env.get("ZMQMESH_MAX_FRAME"):
        spec = dataclasses.replace(spec, max_frame=_positive(env, "ZMQMESH_MAX_FRAME"))
    if env.get("ZMQMESH_SPIN_US"):
        spin = _env_int(env, "ZMQMESH_SPIN_US")
        if not 0 <= spin <= 100_000:
            raise LaunchError(f"ZMQMESH_SPIN_US={spin}: microseconds between 0 and 100000 expected")
        spec = dataclasses.replace(spec, spin_us=spin)
    return spec


# How long a receive busy-polls the same-host links before its rank sleeps,
# when each rank on the host has a core to itself (``LocalLinks.poll``): a
# reply to a small message usually comes within this.
SPIN_US = 100


def core_each(local_ranks: int) -> bool:
    """Whether each of the host's ``local_ranks`` ranks can have a core of
    this process's to itself: only then may a rank spin while it waits, or
    copy with a second thread, without taking a core from a rank with work."""
    return local_ranks <= len(os.sched_getaffinity(0))


def spin_budget(spin_us: int | None, core_each: bool) -> float:
    """Seconds of busy-polling per receive: ``spin_us`` when set, else
    ``SPIN_US`` when each rank has a core, else none."""
    if spin_us is not None:
        return spin_us / 1e6
    return SPIN_US / 1e6 if core_each else 0.0


def _positive(env: Mapping[str, str], var: str) -> int:
    value = _env_int(env, var)
    if value < 1:
        raise LaunchError(f"{var}={value}: a positive number of bytes expected")
    return value


def _job_from_env(env: Mapping[str, str]) -> JobSpec:
    pickle = _truthy(env.get("ZMQMESH_PICKLE"))
    host = env.get("ZMQMESH_HOST") or socket.gethostname()
    if "ZMQMESH_RANK" in env or "ZMQMESH_SIZE" in env:
        missing = [v for v in ("ZMQMESH_RANK", "ZMQMESH_SIZE") if v not in env]
        if missing:
            raise LaunchError(f"incomplete zmqmesh environment: {', '.join(missing)} not set")
        rank, size = _env_int(env, "ZMQMESH_RANK"), _env_int(env, "ZMQMESH_SIZE")
        if size < 1 or not 0 <= rank < size:
            raise LaunchError(f"ZMQMESH_RANK={rank} does not fit ZMQMESH_SIZE={size}")
        if size > 1 and not env.get("ZMQMESH_RENDEZVOUS"):
            raise LaunchError("ZMQMESH_RENDEZVOUS is not set for a job of more than one rank")
        return JobSpec(
            rank,
            size,
            job=env.get("ZMQMESH_JOB", ""),
            rendezvous=env.get("ZMQMESH_RENDEZVOUS"),
            ipc_dir=env.get("ZMQMESH_IPC_DIR"),
            shm_dir=env.get("ZMQMESH_SHM_DIR"),
            allow_pickle=pickle,
            host=host,
            tcp=_truthy(env.get("ZMQMESH_TCP")),
            addr=env.get("ZMQMESH_ADDR") or None,
            launcher_addr=env.get("ZMQMESH_LAUNCHER_ADDR") or None,
            keyfile=env.get("ZMQMESH_KEYFILE") or None,
        )
    foreign = foreign_job(env)
    if foreign is not None and foreign.size > 1:
        # srun / mpirun started us: rank 0 serves the rendezvous on its port
        # and every rank listens on tcp (no launcher made ipc directories).
        return JobSpec(
            foreign.rank,
            foreign.size,
            job=foreign.job,
            rendezvous=foreign.endpoint,
            allow_pickle=pickle,
            host=env.get("SLURMD_NODENAME") or host,
            tcp=True,
            addr=env.get("ZMQMESH_ADDR") or _foreign_addr(foreign) or host,
            keyfile=env.get("ZMQMESH_KEYFILE") or None,
            serve_rendezvous=foreign.rank == 0,
            rendezvous_port=foreign.rendezvous_port,
        )
    return JobSpec(0, 1, allow_pickle=pickle, host=host)


def _foreign_addr(job: ForeignJob) -> str | None:
    """The address a rank of a job without our launcher advertises to its peers.

    Rank 0 serves the rendezvous, so the name every rank already reaches it
    by is right for it. Another rank takes the local address its routing
    table picks towards that host: the interface its peers can reach, where
    the host's name may resolve to a loopback address (Debian's 127.0.1.1).
    No packet is sent: connecting a UDP socket only chooses the route.
    """
    if job.rank == 0:
        return job.rendezvous_host
    try:
        info = socket.getaddrinfo(job.rendezvous_host, job.rendezvous_port, type=socket.SOCK_DGRAM)
        family, kind, proto, _, sockaddr = info[0]
        with socket.socket(family, kind, proto) as probe:
            probe.connect(sockaddr)
            addr = str(probe.getsockname()[0])
    except OSError:
        return None
    # A loopback route: this rank shares rank 0's host (whose name resolves
    # to loopback here); the name rank 0 goes by reaches this host too.
    try:
        loopback = ipaddress.ip_address(addr).is_loopback
    except ValueError:
        return addr
    return job.rendezvous_host if loopback else addr


class _World:
    """The process-wide state behind init()/finalize()."""

    comm: Comm | None = None
    engine: Engine | None = None
    net: Network | None = None
    lock: asyncio.Lock | None = None
    recorder: Recorder | None = None  # --report / --trace (profile.py)


# What a rank on the launcher's host advertises as its tcp address: remote
# ranks put in the launcher's address as they see it (from their ssh session).
LAUNCHER_HOST = "@launcher"


def _pick_endpoint(
    mine: Mapping[str, Any], peer: Mapping[str, Any], launcher_addr: str | None
) -> str | None:
    if peer.get("ipc") and peer.get("host") == mine.get("host"):
        return str(peer["ipc"])
    tcp = peer.get("tcp")
    if not tcp:
        return None
    if LAUNCHER_HOST in tcp and launcher_addr:
        tcp = tcp.replace(LAUNCHER_HOST, launcher_addr)
    return str(tcp)


async def _wire(spec: JobSpec) -> Engine:
    if spec.size == 1:
        return Engine(0, 1, allow_pickle=spec.allow_pickle)
    net = _World.net = Network(spec.keyfile)
    if spec.serve_rendezvous:
        net.serve_rendezvous(spec.size, spec.job, spec.rendezvous_port)
    engine = Engine(
        spec.rank,
        spec.size,
        allow_pickle=spec.allow_pickle,
        unexpected_limit=spec.unexpected_limit,
    )
    transport = net.transport(
        spec.rank,
        engine.deliver,
        failure_timeout=spec.failure_timeout,
        on_lost=engine.peer_failed,
        paused=engine.over_limit,
        max_frame=spec.max_frame,
    )
    engine.transport = transport
    info: dict[str, Any] = {"host": spec.host, "ipc": None, "tcp": None}
    try:
        if spec.ipc_dir:
            info["ipc"] = transport.bind(f"ipc://{spec.ipc_dir}/{spec.rank}.sock")
        if spec.tcp or not spec.ipc_dir:
            port = transport.bind("tcp://0.0.0.0:*").rsplit(":", 1)[1]
            where = spec.addr or (LAUNCHER_HOST if spec.tcp else spec.host)
            info["tcp"] = f"tcp://{where}:{port}"
        assert spec.rendezvous is not None
        table = await net.exchange(spec.rendezvous, spec.rank, spec.size, spec.job, info)
    except BaseException:
        engine.close()
        raise
    endpoints = [_pick_endpoint(info, peer, spec.launcher_addr) for peer in table]
    same_host = [r for r, e in enumerate(endpoints) if e is not None and e.startswith("ipc://")]
    # a stat of a tmpfs directory, once at start-up: not worth a thread
    shm_dir = spec.shm_dir if spec.shm_dir and os.path.isdir(spec.shm_dir) else None  # noqa: ASYNC240
    transport.set_peers(endpoints, same_host=same_host, shm_dir=shm_dir)
    spare = core_each(len(same_host))
    engine.spin_budget = spin_budget(spec.spin_us, spare)
    engine.spin_limit = spin_budget(spec.spin_us, True)
    if transport.shm is not None:  # large frames are copied in by two threads
        transport.shm.pool.use_helper(spare)
    # the launcher (or rank 0) reports ranks that are gone
    net.watch_notices(transport, functools.partial(_on_notice, engine))
    return engine


def _on_notice(engine: Engine, notice: Any) -> None:
    if isinstance(notice, dict) and isinstance(notice.get("failed"), int):
        engine.peer_failed(notice["failed"], str(notice.get("detail", "gone")))


class LocalWorld:
    """``n`` ranks in this process over ``inproc://`` sockets (for tests):
    real transports, engines and communicators, one event loop."""

    def __init__(self, n: int, *, allow_pickle: bool = False) -> None:
        if n < 1:
            raise ValueError(f"a world needs at least one rank, got {n}")
        self.net = Network()
        self.engines = [Engine(r, n, allow_pickle=allow_pickle) for r in range(n)]
        uid = os.urandom(6).hex()
        endpoints = []
        for r, engine in enumerate(self.engines):
            # inproc hands the sender's buffer to the receiver, so a tracker
            # would wait for the receiver to drop the array: always copy.
            engine.transport = self.net.transport(r, engine.deliver, copy_below=2**62)
            endpoints.append(engine.transport.bind(f"inproc://zmqmesh-{uid}-{r}"))
        for engine in self.engines:
            assert engine.transport is not None
            engine.transport.set_peers(endpoints)
        self.comms = [Comm(e, tuple(range(n)), WORLD_SLOT) for e in self.engines]

    def close(self) -> None:
        for engine in self.engines:
            engine.close()
        self.net.close()


async def init() -> Comm:
    """Join the job and return the world communicator (idempotent).

    Raises :class:`zmqmesh.LaunchError` when the environment describes a job
    that cannot be joined (inconsistent variables, no rendezvous in time).
    """
    if _World.comm is not None:
        return _World.comm
    if _World.lock is None:
        _World.lock = asyncio.Lock()
    async with _World.lock:
        if _World.comm is None:
            spec = job_from_env()
            engine = await _wire(spec)
            _World.engine = engine
            where = os.environ.get("ZMQMESH_PROFILE")
            if where or os.environ.get("ZMQMESH_STATS") == "1":
                trace = os.environ.get("ZMQMESH_TRACE") == "1"
                _World.recorder = install_profile(
                    engine, where, trace=trace, classes=(Comm, TopoComm, EdgeComm)
                )
            _World.comm = Comm(engine, tuple(range(spec.size)), WORLD_SLOT)
    return _World.comm


def _close() -> None:
    engine, net = _World.engine, _World.net
    _World.comm = _World.engine = _World.net = None
    _World.lock = None
    try:
        if engine is not None:
            engine.close()
    finally:  # whatever went wrong above, the sockets must close
        if net is not None:
            # Lingering outbound sockets still deliver what was sent.
            net.close()


async def finalize() -> None:
    """Leave the job: wait until the live peers have read what this rank
    sent them (at most the linger time, 10 s), then close every socket
    (idempotent; also runs at interpreter exit, without that wait)."""
    engine, net = _World.engine, _World.net
    _World.comm = _World.engine = _World.net = None
    _World.lock = None
    recorder, _World.recorder = _World.recorder, None
    if recorder is not None:
        try:
            recorder.dump()
        except OSError as exc:
            log.error("could not write this rank's profile: %s", exc)
    try:
        if engine is not None:
            await engine.goodbye()  # peers have read what this rank sent
            engine.close()
    finally:
        if net is not None:
            await net.aclose()


atexit.register(_close)
# From import on, not only from init(): a rank busy before init(), or one
# that never calls it, still ends with its launcher.
lifeline.watch(os.environ)
