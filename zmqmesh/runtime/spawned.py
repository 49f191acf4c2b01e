"""Jobs that a running job starts: what mpi4py's ``Comm.Spawn`` needs.

Theory of operation. One rank of the spawning group (the *root*) makes a
new job of ``parents + children`` ranks (:class:`SpawnedJob`): it serves
the new job's rendezvous, and has each child started as a process of its
own with the ``ZMQMESH_*`` variables of rank ``parents + i``. In a job
that ``zmqmesh launch`` started, the launcher starts them, on the job's
hosts (``launcher/children.py``), and tells the root when each ends.
Elsewhere (a job started by srun or mpiexec, or a spawned job spawning)
the root starts them itself on its own host, in its process group (so
whatever stops the root's group stops them too), passes their output on
a line at a time, and watches them; when the root exits, children still
running get ``EXIT_GRACE`` seconds to end and are then killed. Every parent then
joins the new job as its rank ``0 .. parents-1`` with an engine of its
own beside its own job's (``bootstrap.join``); the children join it as
any rank joins its job. Their job's ipc and shared-memory directories
are made inside the parents' job's, so the launcher removes them.

Invariants: a child that exits before the job's table is complete is
checked in on its behalf with no endpoint, so the table completes and no
parent waits out the rendezvous; a child that exits non-zero is reported
failed to every rank of the new job (the rendezvous's failure notice), so
every waiting call involving it raises ``RankFailedError``, never hangs.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import itertools
import os
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from zmqmesh.errors import LaunchError
from zmqmesh.job.settings import LAUNCHER_HOST, SPAWN_PARENTS, VARIABLES
from zmqmesh.transport.rendezvous import RendezvousServer, exchange
from zmqmesh.transport.security import load_keys
from zmqmesh.wire.rendezvous import NO_LAUNCHER, SpawnAsk, SpawnNews

__all__ = ["PARENTS", "SpawnedJob", "environ_for", "news", "rendezvous_host", "seen_from_here"]

PARENTS = SPAWN_PARENTS

EXIT_GRACE = 5.0
"""Seconds the root's children get to end once the root exits."""

JOINED_WAIT = 1.0
"""Seconds a child that exited well is given to have been in the table
(the rendezvous marks it complete just after sending it)."""

_V = VARIABLES
_OWN = ("rank", "size", "job", "rendezvous", "ipc_dir", "shm_dir")
_DROP = (*(_V[k] for k in _OWN), _V["serve_rendezvous"], _V["rendezvous_port"], PARENTS)


def environ_for(
    base: Mapping[str, str], job: str, size: int, rendezvous: str, rank: int
) -> dict[str, str]:
    """The ``ZMQMESH_*`` variables of rank ``rank`` of a spawned job, over
    those of the parents' job in ``base`` (keys, tunables, pickle)."""
    env = {k: v for k, v in base.items() if k.startswith("ZMQMESH_") and k not in _DROP}
    env.update({_V["rank"]: str(rank), _V["size"]: str(size), _V["job"]: job})
    env[_V["rendezvous"]] = rendezvous
    for key in ("ipc_dir", "shm_dir"):
        parent_dir = base.get(_V[key])
        if parent_dir and os.path.isdir(parent_dir):
            own = os.path.join(parent_dir, f"spawn-{job}")
            os.makedirs(own, mode=0o700, exist_ok=True)
            env[_V[key]] = own
    return env


def rendezvous_host() -> str:
    """The root's address for a new job's rendezvous: the one its peers
    reach it at (on the launcher's host ``LAUNCHER_HOST``, which each
    process reads as the launcher's address it knows: ``seen_from_here``);
    loopback in a job on one host."""
    env = os.environ
    if env.get(_V["addr"]):
        return env[_V["addr"]]
    if env.get(_V["host"]) == LAUNCHER_HOST:
        return LAUNCHER_HOST
    return socket.gethostname() if env.get(_V["tcp"]) else "127.0.0.1"


def seen_from_here(rendezvous: str) -> str:
    """``rendezvous`` with ``LAUNCHER_HOST`` made the launcher's address
    as this process reaches it."""
    here = os.environ.get(_V["launcher_addr"]) or "127.0.0.1"
    return rendezvous.replace(LAUNCHER_HOST, here)


def _relay(stream: Any, fd: int) -> None:
    """Pass a child's output on to this process's ``fd`` a whole line at
    a time (one write each), so that lines of several children, and of
    the parent, never mix within a line."""
    with contextlib.suppress(OSError, ValueError):
        for line in iter(stream.readline, b""):
            os.write(fd, line)


_ASKED: dict[int, SpawnedJob] = {}  # by ask number: jobs whose children the launcher starts
_ASKS = itertools.count(1)


def news(notice: SpawnNews) -> None:
    """Inside the loop: the launcher's news of the children of one of this
    rank's jobs (``SpawnNews``)."""
    job = _ASKED.get(notice.n)
    if job is not None:
        job.heard(notice)


class SpawnedJob:
    """A new job of ``parents`` ranks of a running job and the processes
    of ``commands`` (one a child), made by the parents' root; ``hosts``
    (the launcher's choice when empty) and ``cwd`` say where they run."""

    def __init__(
        self,
        parents: int,
        commands: Sequence[Sequence[str]],
        host: str,
        hosts: Sequence[str] = (),
        cwd: str | None = None,
    ) -> None:
        self.parents, self.commands = parents, [list(c) for c in commands]
        self.size = parents + len(self.commands)
        self.job = secrets.token_hex(8)
        keyfile = os.environ.get(_V["keyfile"])
        self._keys = load_keys(keyfile) if keyfile else None
        self.server = RendezvousServer(
            self.size, self.job, bind="tcp://0.0.0.0:*", keys=self._keys, private=True
        )
        self.rendezvous = f"tcp://{host}:{self.server.endpoint.rsplit(':', 1)[1]}"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.failures: list[str] = []
        self.hosts, self.cwd = list(hosts), cwd or os.getcwd()
        self._started: asyncio.Future[tuple[int, str]] | None = None
        self._ended = 0

    async def launch(self, tell: Callable[[bytes], Awaitable[bool]]) -> None:
        """Inside the loop: have the children started, by the launcher
        (``tell`` sends it an ask) or, where there is none, here. Raises
        ``LaunchError`` when they cannot be."""
        n = next(_ASKS)
        envs = [self._child_environ(i) for i in range(len(self.commands))]
        keep = [{k: v for k, v in e.items() if k.startswith("ZMQMESH_")} for e in envs]
        ask = SpawnAsk(n, self.commands, keep, self.cwd, self.hosts)
        self._started = asyncio.get_running_loop().create_future()
        _ASKED[n] = self
        if not await tell(ask.encode()):
            del _ASKED[n]
            self._start_here()
            return
        code, error = await self._started
        if error:
            del _ASKED[n]
            if code == NO_LAUNCHER:  # (a spawned job spawning)
                self._start_here()
                return
            self.server.close()
            raise LaunchError(error)

    def _start_here(self) -> None:
        """Start the children on this host (no launcher serves this job)."""
        if self.hosts:
            self.server.close()
            raise LaunchError("only a job that zmqmesh launch started can place processes")
        self.start()

    def heard(self, notice: SpawnNews) -> None:
        """Inside the loop: the launcher's news of the children."""
        if notice.index < 0:
            if self._started is not None and not self._started.done():
                self._started.set_result((notice.code, notice.error))
            return
        if not 0 <= notice.index < len(self.commands):
            return
        self._ended += 1
        if self._ended == len(self.commands):
            _ASKED.pop(notice.n, None)
        args = (notice.index, notice.code)
        threading.Thread(target=self._ended_with, args=args, daemon=True).start()

    def _child_environ(self, i: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _DROP}
        env.update(self.environ(self.parents + i))
        env[PARENTS] = str(self.parents)
        return env

    def environ(self, rank: int) -> dict[str, str]:
        """The variables of rank ``rank`` (a parent's below ``parents``)."""
        return environ_for(os.environ, self.job, self.size, self.rendezvous, rank)

    def start(self) -> None:
        """Start every child, then watch each from a thread. Raises
        ``LaunchError`` (after stopping those started) when one cannot start."""
        for i, argv in enumerate(self.commands):
            env = self._child_environ(i)
            try:
                pipe = subprocess.PIPE
                self.procs.append(
                    subprocess.Popen(argv, env=env, stdout=pipe, stderr=pipe, cwd=self.cwd)
                )
            except OSError as exc:
                self.stop()
                raise LaunchError(f"cannot start spawned process {i} ({argv[0]}): {exc}") from None
        atexit.register(self._at_exit)
        for i, proc in enumerate(self.procs):
            name = f"zmqmesh-spawned-{i}"
            threading.Thread(target=self._watch, args=(i, proc), name=name, daemon=True).start()
            for stream, fd in ((proc.stdout, 1), (proc.stderr, 2)):
                args = (stream, fd)
                threading.Thread(target=_relay, args=args, name=name, daemon=True).start()

    def _watch(self, i: int, proc: subprocess.Popen[bytes]) -> None:
        self._ended_with(i, proc.wait())

    def _ended_with(self, i: int, code: int) -> None:
        # a child that ends well after joining is done; one that ends
        # before the table is complete never joined (one that joined had
        # the table, and the rendezvous marks it complete as it sends it)
        if code == 0 and self.server.done.wait(JOINED_WAIT):
            return
        how = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
        if code == 0:
            how += " without joining the job (it made no MPI call)"
        detail = f"spawned process {i} ({self.commands[i][0]}) {how}"
        self.failures.append(detail)
        rank = self.parents + i
        if not self.server.done.is_set():
            # stand in for it at the rendezvous, so the table completes now
            nowhere = {"host": None, "ipc": None, "tcp": None}
            with contextlib.suppress(LaunchError):  # it had checked in itself
                exchange(self.rendezvous, rank, self.size, self.job, nowhere, keys=self._keys)
        self.server.notify_failure(rank, detail)

    def _at_exit(self) -> None:
        """The root is leaving: its children get ``EXIT_GRACE`` seconds in
        all to end (and their last output to come through), then are killed."""
        deadline = time.monotonic() + EXIT_GRACE
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(deadline - time.monotonic(), 0.0))
        self.stop()

    def stop(self) -> None:
        """Stop the children still running and the rendezvous."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
        self.server.close()
