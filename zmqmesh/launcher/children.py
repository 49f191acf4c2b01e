"""Processes that the job's ranks ask the launcher to start (mpi4py's
``Comm.Spawn`` under ``launch --mpi4py``).

Theory of operation. The root of a ``Spawn`` serves the new job's
rendezvous itself and sends the launcher a ``SpawnAsk`` on its
rendezvous socket: one argv per process, each with the ``ZMQMESH_*``
variables of its rank in the new job (``runtime/spawned.py``). The
launcher starts them as it starts ranks: on this host as a session of
its own with the job's lifeline, on another through ``ssh`` and
``remote.py``; their output comes through prefixed ``[spawn N.i]``; they
are placed on the job's hosts in turn, after the ranks, or on the hosts
the ask names (MPI's ``host`` info key). It answers ``SpawnNews``: -1 once
all have started (or why they could not: those started are stopped),
then each one's exit status when it ends, which the root turns into the
failure notices of the new job. At the job's end they are stopped with
the ranks (``_Job._sweep``).

Invariants: every process started here is in ``procs`` until reaped;
each ask is answered once with index -1, and once for each process it
started, with its exit status.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from zmqmesh.job.settings import LAUNCHER_HOST, VARIABLES
from zmqmesh.job.settings import SPAWN_PARENTS as PARENTS_ENV
from zmqmesh.launcher.groups import reap_group, signal_group
from zmqmesh.launcher.jobspec import JobSpec
from zmqmesh.launcher.output import Pump, Sink
from zmqmesh.launcher.placement import BIND_ENV
from zmqmesh.launcher.ssh import failure_timeout, ssh_command
from zmqmesh.wire.rendezvous import SpawnAsk, SpawnNews

__all__ = ["EXIT_GRACE", "Child", "Children"]

EXIT_GRACE = 5.0
"""Seconds spawned processes get to end once every rank of the job has."""

# What a child takes from the ask (the rest comes from a rank of its host):
# its place in the new job, and that job's directories on the root's host
_V = VARIABLES
_IDENTITY = (*(_V[k] for k in ("rank", "size", "job", "rendezvous")), PARENTS_ENV)
_DIRS = (_V["ipc_dir"], _V["shm_dir"])
# what holds for one rank of the job alone
_OWN = (*(_V[k] for k in ("profile_dir", "trace", "live")), BIND_ENV)


@dataclass(eq=False, slots=True)
class Child:
    asker: int  # the rank that asked
    n: int  # its ask
    index: int
    proc: subprocess.Popen[bytes]
    pumps: tuple[Pump, Pump]
    returncode: int | None = None


def _nowhere(rank: int, body: bytes) -> None:
    pass


class Children:
    """The processes the ranks of one job asked for."""

    def __init__(
        self,
        spec: JobSpec,
        envs: Sequence[Mapping[str, str]],
        out: Sink,
        err: Sink,
        *,
        keys: dict[str, str] | None = None,
        lifeline: int | None = None,
        quiet: float = 10.0,
    ) -> None:
        self.spec, self.envs, self.out, self.err = spec, envs, out, err
        self.keys, self.lifeline, self.quiet = keys, lifeline, quiet
        self.tell: Callable[[int, bytes], None] = _nowhere  # (rank, notice): set with the server
        self.procs: list[Child] = []
        self.closed = False  # set once the ranks have all ended
        self.ended = asyncio.Event()  # set while none is running
        self.ended.set()
        self.placed = 0  # children placed so far (they follow the ranks around the hosts)

    def _hosts(self, asked: list[str]) -> list[str | None]:
        """Where to put the next children: a host of the job (None: this
        one), in turn; raises ``ValueError`` for an asked host the job
        does not have."""
        mine = [self.spec.host_of(r) for r in range(self.spec.size)]
        if self.spec.srun is not None:  # steps of its allocation are srun's to start
            mine = [None]
        if not asked:
            return mine
        here = ("localhost", "127.0.0.1", socket.gethostname())
        out: list[str | None] = []
        for name in asked:
            if name not in mine and name in here and None in mine:
                out.append(None)
            elif name in mine:
                out.append(name)
            else:
                hosts = ", ".join(sorted({h or "localhost" for h in mine}))
                raise ValueError(f"host {name!r} is not one of the job's hosts ({hosts})")
        return out

    def start(self, loop: asyncio.AbstractEventLoop, rank: int, ask: SpawnAsk) -> None:
        """Start what ``rank`` asked for and answer it."""
        started: list[Child] = []
        try:
            if self.closed:
                raise ValueError("the job is ending: it starts no more processes")
            hosts = self._hosts(ask.hosts)
            for i, (argv, extra) in enumerate(zip(ask.argvs, ask.envs, strict=True)):
                host = hosts[(self.spec.size + self.placed + i) % len(hosts)]
                started.append(self._start(loop, rank, ask, i, argv, extra, host))
        except (OSError, ValueError) as exc:
            for child in started:
                signal_group(child.proc.pid, signal.SIGKILL)
                child.proc.wait()
                for pump in child.pumps:
                    pump.close()
            self.tell(rank, SpawnNews(ask.n, -1, 0, str(exc)).encode())
            return
        self.placed += len(started)
        self.procs.extend(started)
        if started:
            self.ended.clear()
        self.tell(rank, SpawnNews(ask.n, -1).encode())

    def _start(
        self,
        loop: asyncio.AbstractEventLoop,
        rank: int,
        ask: SpawnAsk,
        i: int,
        argv: list[str],
        extra: Mapping[str, str],
        host: str | None,
    ) -> Child:
        where = next((r for r in range(self.spec.size) if self.spec.host_of(r) == host), 0)
        env = {k: v for k, v in self.envs[where].items() if k not in (*_OWN, *_DIRS)}
        env.update((k, extra[k]) for k in _IDENTITY if k in extra)
        if host == self.spec.host_of(rank):  # the root's host: the new job's directories
            env.update((k, extra[k]) for k in _DIRS if k in extra)
        if host is None:  # the root's address, where the root is on this host
            env[_V["rendezvous"]] = env[_V["rendezvous"]].replace(LAUNCHER_HOST, "127.0.0.1")
        if host is None:
            proc = subprocess.Popen(
                argv,
                cwd=ask.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                pass_fds=() if self.lifeline is None else (self.lifeline,),
            )
        else:
            proc = self._remote(argv, env, ask.cwd, host)
        assert proc.stdout is not None
        assert proc.stderr is not None
        prefix = f"[spawn {ask.n}.{i}] ".encode() if self.spec.prefix else b""
        pumps = (
            Pump(loop, proc.stdout, prefix, self.out),
            Pump(loop, proc.stderr, prefix, self.err),
        )
        return Child(rank, ask.n, i, proc, pumps)

    def _remote(
        self, argv: list[str], env: dict[str, str], cwd: str, host: str
    ) -> subprocess.Popen[bytes]:
        python = self.spec.remote_python or sys.executable
        timeout = failure_timeout(env)
        cmd = ssh_command(self.spec.ssh, host, python, timeout=timeout, nth=0)
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        assert proc.stdin is not None
        remote = {k: v for k, v in env.items() if k.startswith("ZMQMESH_") or k == "PYTHONPATH"}
        job: dict[str, Any] = {"argv": argv, "exec": True, "cwd": cwd, "env": remote}
        if self.keys is not None:
            job["keys"] = self.keys
        job["quiet"] = self.quiet
        with contextlib.suppress(OSError):  # ssh failed already: its exit status says so
            proc.stdin.write(json.dumps(job).encode() + b"\n")
            proc.stdin.flush()
        os.set_blocking(proc.stdin.fileno(), False)  # heartbeats never block
        return proc

    def reap(self, drain: int) -> None:
        """After SIGCHLD: tell each asker of its children that ended."""
        for child in self.procs:
            if child.returncode is not None:
                continue
            code = child.proc.poll()
            if code is None:
                continue
            child.returncode = code
            reap_group(child.proc.pid)
            for pump in child.pumps:
                pump.drain(drain)
            self.tell(child.asker, SpawnNews(child.n, child.index, code).encode())
        if not self.running():
            self.ended.set()

    def beat(self) -> None:
        """Tell the remote end of every running remote child that the launcher lives."""
        for child in self.procs:
            if child.returncode is None and child.proc.stdin is not None:
                with contextlib.suppress(OSError):
                    os.write(child.proc.stdin.fileno(), b"\n")

    def running(self) -> bool:
        return any(c.returncode is None for c in self.procs)

    def pumps(self) -> list[Pump]:
        return [p for c in self.procs for p in c.pumps]

    def kill(self) -> None:
        """Stop every child at once (the job did not end normally)."""
        for child in self.procs:
            signal_group(child.proc.pid, signal.SIGKILL)
            if child.returncode is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.returncode = child.proc.wait(timeout=5)
            reap_group(child.proc.pid)

    def groups(self) -> list[int]:
        """The process groups of the children (each leads its own)."""
        return [c.proc.pid for c in self.procs]

    def close(self) -> None:
        for child in self.procs:
            for pump in child.pumps:
                pump.close()
            if child.proc.stdin is not None:
                with contextlib.suppress(OSError):
                    child.proc.stdin.close()
