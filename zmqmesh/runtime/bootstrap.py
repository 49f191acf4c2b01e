"""Start-up and shut-down of a rank: find the job, wire the world.

``init()`` looks for its job in the environment, in API.md's order: the
``ZMQMESH_*`` variables written by ``zmqmesh launch``, then SLURM, then Open
MPI / PMI variables; with none of them the process is a singleton job
(``size == 1``) that needs no socket at all. ``job/settings.py`` reads them
all; this module only supplies the host name and, for a job started by srun
or mpirun, the address the rank advertises. Ranks of an ``mpirun`` or
``mpiexec`` job on one host that names no rendezvous first find rank 0's
(``job/discover.py``).

A launched rank binds its ROUTER (``ipc://`` in the job's private directory,
which the launcher creates 0700 and removes at exit; ``tcp://`` when there is
none), publishes ``{"host", "ipc", "tcp"}`` at the rendezvous, and from the
table picks for every peer its ``ipc`` endpoint when both run on one host, its
``tcp`` endpoint otherwise.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import ipaddress
import logging
import os
import socket
import sys
from collections.abc import Callable, Mapping
from typing import Any

from zmqmesh.collectives.plan import CollConfig
from zmqmesh.errors import LaunchError
from zmqmesh.job import lifeline
from zmqmesh.job.discover import remove_published, rendezvous_env
from zmqmesh.job.foreign import ForeignJob, discovery
from zmqmesh.job.settings import LAUNCHER_HOST, JobSettings, read_rendezvous_timeout
from zmqmesh.runtime import failure, hang, spawned
from zmqmesh.runtime.comm import Comm
from zmqmesh.runtime.engine import Engine
from zmqmesh.runtime.profile import Recorder
from zmqmesh.runtime.profile import install as install_profile
from zmqmesh.runtime.topocomm import TopoComm
from zmqmesh.transport.network import Network
from zmqmesh.wire.rendezvous import Ask, Failed, SpawnNews, State

__all__ = ["LocalWorld", "finalize", "init", "join", "on_terminal", "tell_launcher"]

log = logging.getLogger("zmqmesh")

WORLD_SLOT = 0


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
    terminal = False  # the launcher's stderr is a terminal (JobSettings.terminal)


def on_terminal() -> bool:
    """Whether this rank's stderr ends on a terminal, directly or through
    the launcher (which then draws its carriage-return lines in place)."""
    return _World.terminal or sys.stderr.isatty()


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


def _forced(spec: JobSettings) -> CollConfig:
    """The algorithms the job forces; a name no collective has is the
    job's mistake, reported as such."""
    for name, algorithm in spec.forced_algorithms().items():
        try:
            CollConfig({name: algorithm})
        except ValueError as exc:
            raise LaunchError(f"ZMQMESH_{name.upper()}={algorithm!r}: {exc}") from None
    return CollConfig(spec.forced_algorithms())


async def _wire(spec: JobSettings, net: Network | None = None) -> Engine:
    """The engine of this rank of ``spec``'s job, wired to its peers over
    ``net`` (none: the process's own, made here)."""
    forced = _forced(spec)
    if spec.size == 1:
        engine = Engine(0, 1, allow_pickle=spec.allow_pickle)
        engine.use_coll_config(forced)
        return engine
    if net is None:
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
        local_links=spec.local_links,
    )
    engine.transport = transport
    engine.use_coll_config(forced)
    info: dict[str, Any] = {"host": spec.host, "ipc": None, "tcp": None}
    try:
        if spec.ipc_dir:
            info["ipc"] = transport.bind(f"ipc://{spec.ipc_dir}/{spec.rank}.sock")
        if spec.tcp or not spec.ipc_dir:
            port = transport.bind("tcp://0.0.0.0:*").rsplit(":", 1)[1]
            where = spec.addr or (LAUNCHER_HOST if spec.tcp else spec.host)
            info["tcp"] = f"tcp://{where}:{port}"
        assert spec.rendezvous is not None
        table = await net.exchange(
            spec.rendezvous, spec.rank, spec.size, spec.job, info, timeout=spec.rendezvous_wait()
        )
    except BaseException:
        engine.close()
        raise
    endpoints = [_pick_endpoint(info, peer, spec.launcher_addr) for peer in table]
    same_host = [r for r, e in enumerate(endpoints) if e is not None and e.startswith("ipc://")]
    # a stat of a tmpfs directory, once at start-up: not worth a thread
    shm_dir = spec.shm_dir if spec.shm_dir and os.path.isdir(spec.shm_dir) else None  # noqa: ASYNC240
    transport.set_peers(endpoints, same_host=same_host, shm_dir=shm_dir)
    if transport.shm is not None:  # large collective results in shared memory
        engine.use_shared_memory(transport.shm.pool)
    spare = core_each(len(same_host))
    engine.spin_budget = spin_budget(spec.spin_us, spare)
    engine.spin_limit = spin_budget(spec.spin_us, True)
    if transport.shm is not None:  # large frames are copied in by two threads
        transport.shm.pool.use_helper(spare)
    # the launcher (or rank 0) reports ranks that are gone
    net.watch_notices(transport, functools.partial(_on_notice, engine))
    return engine


def _on_notice(engine: Engine, notice: Failed | Ask | SpawnNews) -> bytes | None:
    if isinstance(notice, Ask):  # the launcher asks what this rank waits in
        return State(notice.n, engine.rank, hang.report(engine, stack=notice.stack)).encode()
    if isinstance(notice, SpawnNews):  # about processes this rank asked for
        spawned.news(notice)
        return None
    engine.peer_failed(notice.rank, notice.detail)
    return None


async def tell_launcher(body: bytes) -> bool:
    """Send ``body`` to the launcher that started this job; False when
    there is none (``Network.tell_launcher``). A job of one rank, which
    needed no rendezvous at start, checks in with the launcher's now."""
    net, engine = _World.net, _World.engine
    if net is None and engine is not None and engine.size == 1:
        spec = JobSettings.from_environ(os.environ, hostname=socket.gethostname)
        if spec.rendezvous is None or spec.serve_rendezvous:
            return False
        net = Network(spec.keyfile)
        try:
            await net.exchange(spec.rendezvous, 0, 1, spec.job, {}, timeout=spec.rendezvous_wait())
        except BaseException:
            net.close()
            raise
        net.watch_notices_alone(asyncio.get_running_loop(), functools.partial(_on_notice, engine))
        _World.net = net
    return net is not None and net.tell_launcher(body)


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
            env: Mapping[str, str] = os.environ
            plan = discovery(env)
            if plan is not None:  # mpirun on one host, no rendezvous named
                wait = read_rendezvous_timeout(env)
                found = await asyncio.to_thread(rendezvous_env, plan, timeout=wait)
                env = {**env, **found}
            spec = JobSettings.from_environ(
                env, hostname=socket.gethostname, advertise=_foreign_addr
            )
            failure.install(spec.rank, spec.host)  # an uncaught error says what and where
            _World.terminal = spec.terminal
            engine = await _wire(spec)
            if plan is not None:  # every rank has checked in
                remove_published(plan)
            _World.engine = engine
            if spec.profile_dir or spec.stats:
                _World.recorder = install_profile(
                    engine,
                    spec.profile_dir,
                    trace=spec.trace,
                    live=spec.live,
                    classes=(Comm, TopoComm),
                )
            _World.comm = Comm(engine, tuple(range(spec.size)), WORLD_SLOT)
    return _World.comm


async def join(env: Mapping[str, str]) -> tuple[Comm, Callable[[], None]]:
    """Join the job that ``env``'s ``ZMQMESH_*`` variables describe as one
    of its ranks, beside this process's own job (the parents of a spawned
    job join it so: ``runtime/spawned.py``), with an engine and sockets of
    its own. Returns its world communicator and what closes them (also run
    at interpreter exit; idempotent). Raises :class:`zmqmesh.LaunchError`
    as ``init()`` does."""
    spec = JobSettings.from_environ(env, hostname=socket.gethostname)
    net = Network(spec.keyfile)
    try:
        engine = await _wire(spec, net)
    except BaseException:
        net.close()
        raise
    done: list[bool] = []

    def close() -> None:
        if not done:
            done.append(True)
            try:
                engine.close()
            finally:
                net.close()

    atexit.register(close)
    return Comm(engine, tuple(range(spec.size)), WORLD_SLOT), close


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
