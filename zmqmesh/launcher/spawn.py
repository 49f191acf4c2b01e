"""Run a job: ``size`` local ranks of one Python program, watched to the end.

Theory of operation: :func:`run_job` makes the job's private pieces -- a random
job id, a 0700 ipc directory, a rendezvous server -- and runs one asyncio loop
that drives everything else. Each rank is ``sys.executable`` started in a
session of its own, so that one signal to its process group reaches the rank
and whatever it started; its stdin is /dev/null (rank 0's: the launcher's),
its stdout and stderr pipes. Loop readers move the pipes' bytes to the launcher's stdout and stderr
as whole prefixed lines (``output.py``); exits are noticed on SIGCHLD; SIGINT,
SIGTERM and SIGHUP to the launcher are loop signal handlers. Every event goes
to the sans-IO :class:`~zmqmesh.launcher.policy.JobPolicy`, whose instructions
this module carries out.

The job creates no tasks: its readers, timers and signal handlers are
callbacks that it registers and removes itself, so nothing outlives
:func:`run_job`.

Invariants, however the job ends (all ranks done, a failure, the timeout, a
signal, an error while starting): when :func:`run_job` returns or raises,
every rank has been reaped, the process group of every rank has been emptied
(SIGTERM, then SIGKILL), the rendezvous server is closed and the ipc
directory is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO

from zmqmesh.errors import LaunchError
from zmqmesh.job import lifeline
from zmqmesh.job.cause import find_cause
from zmqmesh.launcher.children import EXIT_GRACE, Children
from zmqmesh.launcher.forkserver import Forked, ForkServer, for_job, stdin_of
from zmqmesh.launcher.groups import (
    become_subreaper,
    group_alive,
    how_it_ended,
    reap_group,
    signal_group,
)
from zmqmesh.launcher.hang import dump, verdict
from zmqmesh.launcher.jobspec import JobSpec, rank_environ, rank_settings
from zmqmesh.launcher.live import LiveStatus
from zmqmesh.launcher.output import Pump, Sink
from zmqmesh.launcher.placement import pinned
from zmqmesh.launcher.policy import (
    Finish,
    Instruction,
    JobPolicy,
    Phase,
    Report,
    SetTimer,
    SignalRanks,
    Timer,
)
from zmqmesh.launcher.report import write_profile
from zmqmesh.launcher.srun import srun_command
from zmqmesh.launcher.ssh import failure_timeout, ssh_command
from zmqmesh.launcher.stack import remove_stack, write_stack
from zmqmesh.transport.limits import raise_open_files
from zmqmesh.transport.rendezvous import RendezvousServer
from zmqmesh.transport.security import new_keys, write_keyfile
from zmqmesh.wire.rendezvous import SpawnAsk

__all__ = ["STOP_SIGNALS", "run_job"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""Signals that make the launcher stop the whole job."""

# When a rank exits, its last output is already in the pipe: read it before
# reporting the exit, so a traceback comes before the line saying the rank
# failed. Bounded, because a child of the rank may still be writing.
_EXIT_DRAIN_READS = 64
# How often the launcher tells the remote ends of its ssh ranks it lives;
# remote.py stops a rank that hears nothing for QUIET_FACTOR failure
# timeouts (QUIET_MIN at least), as when its host's link is cut.
_HEARTBEAT = 1.0
_QUIET_FACTOR = 3.0
_QUIET_MIN = 10.0
# How long to wait for the pipes to close once the ranks' groups are empty;
# only a process that left its rank's session can hold them open longer.
_LEFTOVER_WAIT = 1.0
# How long the fork server may take to load zmqmesh before the ranks start
# as new interpreters instead (it loads in well under a second).
_FORK_READY = 30.0
# Seconds the ranks have to answer what they wait in (a rank that does not is busy)
_ANSWER_WAIT = 0.5


def run_job(
    spec: JobSpec,
    *,
    stdout: BinaryIO | None = None,
    stderr: BinaryIO | None = None,
    forks: ForkServer | None = None,
) -> int:
    """Run ``spec`` to the end and return the job's exit status.

    The status is 0 when every rank exited 0; else the first failed rank's
    exit code (128 + N when it died by signal N); else 124 when ``timeout``
    expired. SIGINT, SIGTERM or SIGHUP to the launcher stop every rank and
    make it 128 + the signal's number. Rank output goes to ``stdout`` and
    ``stderr`` (default: the process's own).

    Must run in the main thread: it handles those signals and SIGCHLD while it
    runs, and on Linux makes the process a child subreaper so that the ranks'
    orphans are reaped here. Raises :class:`LaunchError` when the job cannot
    be started, after stopping the ranks already started.

    The local ranks are forked by ``forks`` (:func:`forkserver.for_job`,
    which this call closes), or by one that it starts itself, when the job
    allows.
    """
    raise_open_files()  # two pipes and a rendezvous connection per rank
    out = Sink(stdout if stdout is not None else sys.stdout.buffer)
    err = Sink(stderr if stderr is not None else sys.stderr.buffer)
    # Blocked until the loop's handlers are in place, so that a Ctrl-C during
    # set-up still runs the clean-up below.
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    ipc_dir: str | None = None
    shm_dir: str | None = None
    server: RendezvousServer | None = None
    # The local ranks' lifeline (job/lifeline.py): they hold the read
    # end, and see it close when this process ends, however it ends.
    life_read, life_write = os.pipe()
    try:
        if forks is None:  # first, so that it loads zmqmesh while the job is set up
            forks = for_job(spec, old_mask)
        job = secrets.token_hex(8)
        try:
            ipc_dir = tempfile.mkdtemp(prefix="zmqmesh-")  # mode 0700
        except OSError as exc:
            raise LaunchError(f"cannot make the job's ipc directory: {exc}") from exc
        # only ranks on this host share memory with each other
        shm_dir = _shm_dir() if any(spec.host_of(r) is None for r in range(spec.size)) else None
        bind = "tcp://0.0.0.0:*" if spec.spans_hosts else "tcp://127.0.0.1:*"
        keys = new_keys() if spec.spans_hosts and not spec.insecure else None
        keyfile = write_keyfile(keys, ipc_dir) if keys is not None else None
        try:
            server = RendezvousServer(spec.size, job, bind=bind, keys=keys)
        except Exception as exc:  # zmq's errors: only runtime/ may import zmq
            raise LaunchError(f"cannot start the rendezvous server: {exc}") from exc
        port = server.endpoint.rsplit(":", 1)[1]
        become_subreaper()
        profile = os.path.join(ipc_dir, "profile") if spec.report or spec.trace else None
        life = lifeline.value(life_read)
        envs = [
            rank_environ(
                spec,
                rank_settings(
                    spec,
                    r,
                    job=job,
                    port=port,
                    ipc_dir=ipc_dir,
                    shm_dir=shm_dir,
                    keyfile=keyfile,
                    profile=profile,
                ),
                base=os.environ,
                life=life,
            )
            for r in range(spec.size)
        ]
        # The stdlib loop whatever policy is installed: the signal handling
        # here relies on its wakeup-fd signal handlers.
        loop = asyncio.SelectorEventLoop()
        secret = None if keys is None else {"public": keys.public, "secret": keys.secret}
        if profile is not None:
            os.mkdir(profile, 0o700)
        try:
            job_run = _Job(
                spec, envs, out, err, secret, server.notify_failure, life_read, profile, forks
            )
            job_run.asker = server
            server.on_spawn, job_run.children.tell = job_run.on_spawn, server.tell
            status = loop.run_until_complete(job_run.run(old_mask))
        finally:
            loop.close()
        if profile is not None:
            write_profile(spec, profile, err)
        return status
    finally:
        if forks is not None:
            forks.close()
        os.close(life_read)
        os.close(life_write)  # every rank is gone: no lifeline is left to cut
        if server is not None:
            server.close()
        if ipc_dir is not None:
            shutil.rmtree(ipc_dir, ignore_errors=True)
        if shm_dir is not None:
            shutil.rmtree(shm_dir, ignore_errors=True)
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


def _shm_dir() -> str | None:
    """A private (0700) directory in /dev/shm for the job's shared-memory
    segments, removed with the job; None where there is no /dev/shm (ranks
    then send large frames through their sockets)."""
    if not os.path.isdir("/dev/shm") or not os.access("/dev/shm", os.W_OK):
        return None
    try:
        return tempfile.mkdtemp(prefix="zmqmesh-", dir="/dev/shm")
    except OSError:
        return None


@dataclass(eq=False, slots=True)
class _Rank:
    rank: int
    proc: subprocess.Popen[bytes] | Forked
    pumps: tuple[Pump, Pump]
    returncode: int | None = None

    @property
    def pgid(self) -> int:
        return self.proc.pid  # a session leader leads its process group


class _Job:
    """One run of a :class:`JobSpec`; owns its processes, readers and timers."""

    def __init__(
        self,
        spec: JobSpec,
        envs: list[dict[str, str]],
        out: Sink,
        err: Sink,
        keys: dict[str, str] | None = None,
        notify: Callable[[int, str], None] | None = None,
        lifeline: int | None = None,
        profile: str | None = None,
        forks: ForkServer | None = None,
    ) -> None:
        self.spec = spec
        self.forks = forks
        self.lifeline = lifeline
        self.profile = profile
        self.keys = keys
        self.notify = notify
        self.causes: dict[int, str] = {}  # rank -> "rank 1 (host) raised ..."
        self.first_cause: str | None = None
        self.envs = envs
        self.out = out
        self.err = err
        self.policy = JobPolicy(
            spec.size, grace=spec.grace, timeout=spec.timeout, kill_after=spec.kill_after
        )
        self.ranks: list[_Rank] = []
        quiet = max(_QUIET_MIN, _QUIET_FACTOR * failure_timeout(envs[0])) if envs else _QUIET_MIN
        self.children = Children(spec, envs, out, err, keys=keys, lifeline=lifeline, quiet=quiet)
        self._timers: list[asyncio.TimerHandle] = []
        self._beating: asyncio.TimerHandle | None = None
        self._swept = False

    def __repr__(self) -> str:
        return f"<_Job {self.policy!r}>"

    async def run(self, unblocked: Iterable[int]) -> int:
        """Start the ranks, carry out the policy until it finishes, clean up,
        and return the job's status. ``unblocked`` is the signal mask to
        restore once the loop's signal handlers are in place."""
        loop = asyncio.get_running_loop()
        finished: asyncio.Future[int] = loop.create_future()
        self._loop, self._finished = loop, finished
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, self._on_signal, signum)
        loop.add_signal_handler(signal.SIGCHLD, self._on_sigchld)
        # Before spawning: children inherit the mask, and ranks that block
        # SIGTERM could not be stopped. A signal pending since set-up lands now.
        signal.pthread_sigmask(signal.SIG_SETMASK, unblocked)
        try:
            forked = self._fork_local()
            for rank in range(self.spec.size):
                self._spawn(rank, forked.get(rank))
            self._apply(self.policy.start())
            if self.asker is not None:
                loop.add_signal_handler(signal.SIGUSR1, self._ask, True, self._dump)
                if self.spec.hang_check > 0:
                    self._timers.append(loop.call_later(self.spec.hang_check, self._hang_check))
            if self.spec.spans_hosts:
                self._beat()
            live = None
            if self.spec.report and self.spec.live and self.profile is not None:
                alive = self._alive_count
                live = LiveStatus(
                    self.profile, self.spec.size, self.err, [self.out, self.err], alive
                )
                live.start()
            try:
                status = await finished
            finally:
                if live is not None:
                    live.stop()
            self.children.closed = True  # no more of them, once the ranks are done
            if not status:  # spawned processes may still be ending well
                await self._wait_children(EXIT_GRACE)
            await self._sweep()
            if status and self.first_cause is not None:  # the last line: what started it
                self.err.write(f"zmqmesh: job failed: {self.first_cause}\n".encode())
            return status
        finally:
            signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
            for signum in (*STOP_SIGNALS, signal.SIGCHLD, signal.SIGUSR1):
                loop.remove_signal_handler(signum)
            remove_stack()
            for timer in self._timers:
                timer.cancel()
            if self._beating is not None:
                self._beating.cancel()
            if not self._swept:
                self._kill_everything()
            self.children.close()
            for r in self.ranks:
                for pump in r.pumps:
                    pump.close()
                if r.proc.stdin is not None:  # an ssh rank's lifeline
                    with contextlib.suppress(OSError):
                        r.proc.stdin.close()

    def on_spawn(self, rank: int, ask: SpawnAsk) -> None:
        """From the rendezvous thread: ``rank`` asks for processes (``children.py``)."""
        self._loop.call_soon_threadsafe(self.children.start, self._loop, rank, ask)

    def _alive_count(self) -> int:
        return sum(r.returncode is None for r in self.ranks)

    def _fork_local(self) -> dict[int, Forked]:
        """Fork the local ranks (none without a fork server, or when it
        could not load: they start as new interpreters then)."""
        forks, self.forks = self.forks, None
        if forks is None:
            return {}
        if not forks.ready(_FORK_READY):
            forks.close(wait=False)
            note = f"zmqmesh: the ranks start without the fork server: {forks.error}\n"
            self.err.write(note.encode())
            return {}
        pipes: dict[int, tuple[tuple[int, int], tuple[int, int]]] = {}
        try:
            for r in range(self.spec.size):
                if self.spec.host_of(r) is None:
                    pipes[r] = (os.pipe(), os.pipe())
        except OSError as exc:
            forks.close()
            for fd in (fd for pair in pipes.values() for p in pair for fd in p):
                os.close(fd)
            raise LaunchError(f"cannot start rank {len(pipes)}: {exc}") from exc
        try:
            # without a lifeline (no variable names one), a stand-in the rank closes
            life = self.lifeline
            fds = {
                r: (o[1], e[1], o[1] if life is None else life, *stdin_of(r))
                for r, (o, e) in pipes.items()
            }
            pids = forks.spawn([(r, self.envs[r], fds[r]) for r in pipes])
        finally:
            forks.close()  # its exit hands the ranks it forked to this process
            for out, err in pipes.values():
                os.close(out[1])
                os.close(err[1])
        procs = {r: Forked(pids[r], o[0], e[0]) for r, (o, e) in pipes.items() if r in pids}
        if len(procs) < len(pipes):
            for r, (o, e) in pipes.items():
                if r not in procs:
                    os.close(o[0])
                    os.close(e[0])
            for p in procs.values():
                signal_group(p.pid, signal.SIGKILL)
                p.wait()
            missing = min(set(pipes) - set(procs))
            raise LaunchError(f"cannot start rank {missing}: {forks.error}")
        return procs

    def _spawn(self, rank: int, forked: Forked | None = None) -> None:
        proc = forked if forked is not None else self._popen(rank)
        assert proc.stdout is not None
        assert proc.stderr is not None
        prefix = f"[{rank}] ".encode() if self.spec.prefix else b""
        pumps = (
            Pump(self._loop, proc.stdout, prefix, self.out),
            Pump(
                self._loop,
                proc.stderr,
                prefix,
                self.err,
                self._cause_watcher(rank),
                live=self.spec.terminal,
            ),
        )
        self.ranks.append(_Rank(rank, proc, pumps))

    def _cause_watcher(self, rank: int) -> Callable[[bytes], None]:
        """Watch ``rank``'s stderr for the line its failure hook prints
        (``job/cause.py``): the cause of its failure, in its words."""

        def watch(lines: bytes) -> None:
            if rank not in self.causes and (cause := find_cause(lines, rank)) is not None:
                self.causes[rank] = cause
                if self.first_cause is None:
                    self.first_cause = cause

        return watch

    def _popen(self, rank: int) -> subprocess.Popen[bytes]:
        host = self.spec.host_of(rank)
        if host is None:
            cmd = [sys.executable, *self.spec.program]
            env: dict[str, str] | None = self.envs[rank]
        else:
            python = self.spec.remote_python or sys.executable
            timeout = failure_timeout(self.envs[rank])
            if self.spec.srun is not None:
                cmd = srun_command(self.spec.srun, host, python, rank)
            else:
                nth = self.spec.hosts[:rank].count(host)
                cmd = ssh_command(
                    self.spec.ssh, host, python, timeout=timeout, nth=nth, login=self.spec.ssh_login
                )
            env = None
        try:
            # --bind-to core: a local rank inherits the core from its first instruction
            with pinned({} if env is None else env):
                proc = subprocess.Popen(
                    cmd,
                    stdin=(None if stdin_of(rank) else subprocess.DEVNULL)
                    if host is None
                    else subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env=env,
                    start_new_session=True,
                    pass_fds=() if host is not None or self.lifeline is None else (self.lifeline,),
                )
        except (OSError, ValueError) as exc:
            where = "" if host is None else f" on {host}"
            raise LaunchError(f"cannot start rank {rank}{where}: {exc}") from exc
        if host is not None:
            assert proc.stdin is not None
            job: dict[str, object] = {
                "argv": list(self.spec.program),
                "cwd": self.spec.remote_wdir or os.getcwd(),
                "env": self.envs[rank],
            }
            if self.keys is not None:
                job["keys"] = self.keys
            job["quiet"] = max(_QUIET_MIN, _QUIET_FACTOR * timeout)
            try:
                proc.stdin.write(json.dumps(job).encode() + b"\n")
                proc.stdin.flush()
            except OSError:
                pass  # ssh already failed; its exit status tells the policy
            os.set_blocking(proc.stdin.fileno(), False)  # heartbeats never block
        return proc

    def _beat(self) -> None:
        """Tell the remote end of every running ssh rank that the launcher
        lives (a newline on ssh's stdin; see ``_HEARTBEAT``)."""
        for r in self.ranks:
            if r.returncode is None and r.proc.stdin is not None:
                with contextlib.suppress(OSError):  # gone or stuck: its exit tells
                    os.write(r.proc.stdin.fileno(), b"\n")
        self.children.beat()
        self._beating = self._loop.call_later(_HEARTBEAT, self._beat)

    def _on_sigchld(self) -> None:
        for r in self.ranks:
            if r.returncode is not None:
                reap_group(r.pgid)
                continue
            returncode = r.proc.poll()
            if returncode is None:
                continue
            r.returncode = returncode
            for pump in r.pumps:  # first: its last words may say why it failed
                pump.drain(_EXIT_DRAIN_READS)
            if self.notify is not None:  # the others' waits on it must not hang
                cause = self.causes.get(r.rank)
                why = cause.partition(") ")[2] if cause and returncode else how_it_ended(returncode)
                self.notify(r.rank, why)
            host = self.spec.host_of(r.rank)
            via = "srun" if self.spec.srun is not None else "ssh"
            self._apply(self.policy.rank_exited(r.rank, r.proc.pid, returncode, host, via))
        self.children.reap(_EXIT_DRAIN_READS)

    def _on_signal(self, signum: int) -> None:
        self._apply(self.policy.signalled(signum))

    def _on_timer(self, timer: Timer) -> None:
        stopping = timer is Timer.TIMEOUT or timer is Timer.GRACE
        if stopping and self.asker is not None and not self._timeout_asked:
            self._timeout_asked = True  # first say what each rank still running waits in
            self._ask(True, lambda: self._dump_then(timer))
            return
        self._apply(self.policy.timer_expired(timer))

    # -- hangs: what the ranks wait in (launcher/hang.py) --------------------------
    asker: Any = None  # the rendezvous server: ask() and answers()
    _timeout_asked = False

    def _live(self) -> list[int]:
        return [r.rank for r in self.ranks if r.returncode is None]

    def _ask(self, stack: bool, then: Callable[[], Any]) -> None:
        self.asker.ask(stack=stack)
        self._timers.append(self._loop.call_later(_ANSWER_WAIT, then))

    def _dump_then(self, timer: Timer) -> None:
        self._dump()
        self._on_timer(timer)

    def _dump(self) -> None:
        lines = dump(self.asker.answers(), self._live())
        self.err.write(("\n".join(lines) + "\n").encode(errors="replace"))
        write_stack(lines)  # for ``zmqmesh stack`` too

    def _hang_check(self) -> None:
        if self.policy.phase in (Phase.RUNNING, Phase.GRACE):
            self._ask(False, self._hang_verdict)

    def _hang_verdict(self) -> None:
        lines = verdict(self.asker.answers(), self._live(), self.spec.hang_check)
        if lines is None:
            every = max(_ANSWER_WAIT, self.spec.hang_check / 4)
            self._timers.append(self._loop.call_later(every, self._hang_check))
            return
        self.err.write(("\n".join(lines) + "\n").encode(errors="replace"))
        self._apply(self.policy.deadlocked())

    def _apply(self, instructions: list[Instruction]) -> None:
        for instruction in instructions:
            match instruction:
                case Report(line):
                    self.err.write(line.encode(errors="replace") + b"\n")
                case SetTimer(timer, seconds):
                    self._timers.append(self._loop.call_later(seconds, self._on_timer, timer))
                case SignalRanks(ranks, signum):
                    for rank in ranks:
                        signal_group(self.ranks[rank].pgid, signum)
                case Finish(status):
                    self._finished.set_result(status)

    async def _sweep(self) -> None:
        """Every rank has exited: stop what they left in their process groups,
        then let the pipes drain."""
        # Usually empty, or emptying after the SIGTERM that stopped the ranks;
        # only processes that outlast another SIGTERM are worth a word.
        pgids = [r.pgid for r in self.ranks] + self.children.groups()
        groups = [g for g in pgids if signal_group(g, signal.SIGTERM)]
        groups = await self._wait_groups(groups, self.spec.kill_after)
        if groups:
            names = ", ".join(str(r.rank) for r in self.ranks if r.pgid in groups) or "spawned"
            self.err.write(f"zmqmesh: killing processes left behind by rank {names}\n".encode())
            for pgid in groups:
                signal_group(pgid, signal.SIGKILL)
            await self._wait_groups(groups, _LEFTOVER_WAIT)
        pumps = [p for r in self.ranks for p in r.pumps] + self.children.pumps()
        open_pipes = [p.closed for p in pumps if not p.closed.done()]
        if open_pipes:
            await asyncio.wait(open_pipes, timeout=_LEFTOVER_WAIT)
        self._swept = True

    async def _wait_children(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):  # their exits come on SIGCHLD
            await asyncio.wait_for(self.children.ended.wait(), seconds)

    async def _wait_groups(self, groups: list[int], seconds: float) -> list[int]:
        """Wait up to ``seconds`` for ``groups`` to empty; return those that did not."""
        deadline = self._loop.time() + seconds
        while True:
            groups = [g for g in groups if group_alive(g)]
            if not groups or self._loop.time() >= deadline:
                return groups
            # No event tells when a group's last member is gone: poll.
            await asyncio.sleep(0.05)

    def _kill_everything(self) -> None:
        # The job did not end normally (it failed to start, or a bug): nothing
        # may survive, so no grace at all.
        for r in self.ranks:
            signal_group(r.pgid, signal.SIGKILL)
            if r.returncode is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    r.returncode = r.proc.wait(timeout=5)
            reap_group(r.pgid)
        self.children.kill()
