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
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import zmq

from zmqmesh.errors import LaunchError
from zmqmesh.runtime.comm import Comm
from zmqmesh.runtime.engine import Engine
from zmqmesh.runtime.rendezvous import exchange
from zmqmesh.runtime.transport import Transport

__all__ = ["JobSpec", "LocalWorld", "finalize", "init", "job_from_env"]

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
        )
    for rank_var, size_var, who in (
        ("SLURM_PROCID", "SLURM_NTASKS", "SLURM"),
        ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "Open MPI"),
        ("PMI_RANK", "PMI_SIZE", "PMI"),
    ):
        if rank_var in env and size_var in env and _env_int(env, size_var) > 1:
            raise LaunchError(
                f"started by {who} with {env[size_var]} tasks, but bootstrap under {who} "
                "is not supported yet; start the job with `zmqmesh launch`"
            )
    return JobSpec(0, 1, allow_pickle=pickle, host=host)


class _World:
    """The process-wide state behind init()/finalize()."""

    comm: Comm | None = None
    engine: Engine | None = None
    zctx: zmq.Context[Any] | None = None
    lock: asyncio.Lock | None = None


def _pick_endpoint(mine: Mapping[str, Any], peer: Mapping[str, Any]) -> str | None:
    if peer.get("ipc") and peer.get("host") == mine.get("host"):
        return str(peer["ipc"])
    tcp = peer.get("tcp")
    return str(tcp) if tcp else None


async def _wire(spec: JobSpec) -> Engine:
    if spec.size == 1:
        return Engine(0, 1, allow_pickle=spec.allow_pickle)
    zctx: zmq.Context[Any] = zmq.Context()
    _World.zctx = zctx
    engine = Engine(spec.rank, spec.size, allow_pickle=spec.allow_pickle)
    transport = Transport(zctx, spec.rank, engine.deliver)
    engine.transport = transport
    info: dict[str, Any] = {"host": spec.host, "ipc": None, "tcp": None}
    try:
        if spec.ipc_dir:
            info["ipc"] = transport.bind(f"ipc://{spec.ipc_dir}/{spec.rank}.sock")
        else:
            info["tcp"] = transport.bind("tcp://0.0.0.0:*").replace("0.0.0.0", spec.host)
        assert spec.rendezvous is not None
        table = await asyncio.to_thread(
            exchange, spec.rendezvous, spec.rank, spec.size, spec.job, info
        )
    except BaseException:
        engine.close()
        raise
    endpoints = [_pick_endpoint(info, peer) for peer in table]
    same_host = [r for r, e in enumerate(endpoints) if e is not None and e.startswith("ipc://")]
    # a stat of a tmpfs directory, once at start-up: not worth a thread
    shm_dir = spec.shm_dir if spec.shm_dir and os.path.isdir(spec.shm_dir) else None  # noqa: ASYNC240
    transport.set_peers(endpoints, same_host=same_host, shm_dir=shm_dir)
    return engine


class LocalWorld:
    """``n`` ranks in this process over ``inproc://`` sockets (for tests):
    real transports, engines and communicators, one event loop."""

    def __init__(self, n: int, *, allow_pickle: bool = False) -> None:
        if n < 1:
            raise ValueError(f"a world needs at least one rank, got {n}")
        self.zctx: zmq.Context[Any] = zmq.Context()
        self.engines = [Engine(r, n, allow_pickle=allow_pickle) for r in range(n)]
        uid = os.urandom(6).hex()
        endpoints = []
        for r, engine in enumerate(self.engines):
            # inproc hands the sender's buffer to the receiver, so a tracker
            # would wait for the receiver to drop the array: always copy.
            engine.transport = Transport(self.zctx, r, engine.deliver, copy_below=2**62)
            endpoints.append(engine.transport.bind(f"inproc://zmqmesh-{uid}-{r}"))
        for engine in self.engines:
            assert engine.transport is not None
            engine.transport.set_peers(endpoints)
        self.comms = [Comm(e, tuple(range(n)), WORLD_SLOT) for e in self.engines]

    def close(self) -> None:
        for engine in self.engines:
            engine.close()
        self.zctx.term()


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
            _World.comm = Comm(engine, tuple(range(spec.size)), WORLD_SLOT)
    return _World.comm


def _close() -> None:
    engine, zctx = _World.engine, _World.zctx
    _World.comm = _World.engine = _World.zctx = None
    _World.lock = None
    if engine is not None:
        engine.close()
    if zctx is not None:
        # Lingering outbound sockets still deliver what was sent.
        zctx.term()


async def finalize() -> None:
    """Leave the job: close every socket after flushing what was sent
    (idempotent; also runs at interpreter exit)."""
    engine, zctx = _World.engine, _World.zctx
    _World.comm = _World.engine = _World.zctx = None
    _World.lock = None
    if engine is not None:
        engine.close()
    if zctx is not None:
        await asyncio.to_thread(zctx.term)


atexit.register(_close)
