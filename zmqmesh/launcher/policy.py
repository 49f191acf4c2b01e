"""The failure policy of a launched job, as a sans-IO state machine.

Theory of operation: the driver (``spawn.py``) feeds :class:`JobPolicy` the
events of a job -- a rank exited, a timer fired, the launcher was signalled --
and carries out the instructions each call returns: print a line on stderr,
arm a timer, send a signal to some ranks' process groups, finish with an exit
status. The machine never touches a process, a clock or a stream, so its tests
feed events and compare instruction lists with ``==``.

The phases run RUNNING -> GRACE -> STOPPING -> DONE, any of them possibly
skipped. A rank failing (non-zero exit or death by a signal) while RUNNING
opens the GRACE period; the grace timer, the job timeout or a signal to the
launcher start STOPPING (SIGTERM to the ranks still running, SIGKILL to those
left when the kill timer fires); the last exit makes the job DONE.

Invariants:

- ``Finish`` is emitted exactly once, when the last rank has exited, and only
  then.
- The exit status is fixed by the first cause: the first rank to fail (its exit
  code, or 128 + signal number), else the timeout (124). A signal to the
  launcher overrides both with 128 + its number, because whoever interrupts a
  job expects to see the interruption in ``$?``.
- Once the launcher is stopping ranks, their exits are consequences, not
  failures: they are neither reported nor counted.
- A timer that fires in a phase where it no longer applies is ignored, so the
  driver never has to cancel timers before the job is done.
"""

from __future__ import annotations

import enum
import signal
from dataclasses import dataclass

__all__ = [
    "DEADLOCK_STATUS",
    "TIMEOUT_STATUS",
    "Finish",
    "Instruction",
    "JobPolicy",
    "Phase",
    "Report",
    "SetTimer",
    "SignalRanks",
    "Timer",
    "describe_exit",
    "exit_status",
]

TIMEOUT_STATUS = 124
DEADLOCK_STATUS = 1  # the job was stopped because its ranks could never go on
"""The job's exit status when ``--timeout`` expired (as GNU ``timeout``)."""


class Phase(enum.Enum):
    RUNNING = "running"
    GRACE = "grace"
    STOPPING = "stopping"
    DONE = "done"


class Timer(enum.Enum):
    TIMEOUT = "timeout"
    GRACE = "grace"
    KILL = "kill"


@dataclass(frozen=True, slots=True)
class Report:
    """Print ``line`` (no newline) on the launcher's stderr."""

    line: str


@dataclass(frozen=True, slots=True)
class SetTimer:
    """Call :meth:`JobPolicy.timer_expired` with ``timer`` after ``seconds``."""

    timer: Timer
    seconds: float


@dataclass(frozen=True, slots=True)
class SignalRanks:
    """Send ``signum`` to the process group of each rank in ``ranks``."""

    ranks: tuple[int, ...]
    signum: int


@dataclass(frozen=True, slots=True)
class Finish:
    """Every rank has exited; the launcher exits with ``status``."""

    status: int


Instruction = Report | SetTimer | SignalRanks | Finish


def exit_status(returncode: int) -> int:
    """The shell's view of a process's end: its exit code, or 128 + N when
    it was killed by signal N (``returncode`` is ``-N``, as in ``subprocess``)."""
    return returncode if returncode >= 0 else 128 - returncode


def signal_name(signum: int) -> str:
    """``SIGKILL`` for 9; ``99`` for a number without a name."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


def describe_exit(
    rank: int, pid: int, returncode: int, host: str | None = None, via: str = "ssh"
) -> str:
    """The line naming a failed rank, e.g. ``zmqmesh: rank 2 (pid 1234)
    exited with code 3``, ``... was killed by signal SIGKILL``, or for a
    rank started over ssh ``zmqmesh: rank 2 on node7 (ssh pid 1234) ...``
    (``via="srun"``: ``(srun pid 1234)``, a rank started as a SLURM step)."""
    who = (
        f"zmqmesh: rank {rank} on {host} ({via} pid {pid})"
        if host
        else f"zmqmesh: rank {rank} (pid {pid})"
    )
    if returncode == 255 and host and via == "ssh":
        return f"{who} exited with code 255: ssh failed (connection lost or refused)"
    if returncode >= 0:
        return f"{who} exited with code {returncode}"
    return f"{who} was killed by signal {signal_name(-returncode)}"


def _seconds(value: float) -> str:
    return f"{value:g} s"


class JobPolicy:
    """Decides what happens to a job of ``size`` ranks as its ranks exit.

    ``grace`` is how long the surviving ranks may run after the first failure;
    ``timeout`` bounds the whole job (``None``: unbounded); ``kill_after`` is
    how long a rank sent SIGTERM has before SIGKILL. Every method returns the
    instructions the driver must carry out, in order.
    """

    def __init__(
        self, size: int, *, grace: float, timeout: float | None = None, kill_after: float = 3.0
    ) -> None:
        if size < 1:
            raise ValueError(f"a job needs at least one rank, got {size}")
        self.size = size
        self.grace = grace
        self.timeout = timeout
        self.kill_after = kill_after
        self.phase = Phase.RUNNING
        self.status: int | None = None
        self.running: set[int] = set(range(size))
        self._interrupted = False

    def __repr__(self) -> str:
        return (
            f"<JobPolicy {self.phase.value} size={self.size} "
            f"running={len(self.running)} status={self.status}>"
        )

    def start(self) -> list[Instruction]:
        """The instructions for a job whose ranks were just started."""
        if self.timeout is None:
            return []
        return [SetTimer(Timer.TIMEOUT, self.timeout)]

    def rank_exited(
        self, rank: int, pid: int, returncode: int, host: str | None = None, via: str = "ssh"
    ) -> list[Instruction]:
        """``rank`` (process ``pid``, on ``host`` when started over ssh, or
        srun when ``via="srun"``) ended with ``returncode`` (``-N``: signal N)."""
        if rank not in self.running:
            raise ValueError(f"rank {rank} is not running")
        self.running.discard(rank)
        out: list[Instruction] = []
        if returncode != 0 and self.phase in (Phase.RUNNING, Phase.GRACE):
            out.append(Report(describe_exit(rank, pid, returncode, host, via)))
            if self.status is None:
                self.status = exit_status(returncode)
            if self.phase is Phase.RUNNING and self.running:
                out += self._open_grace()
        if not self.running:
            self.phase = Phase.DONE
            out.append(Finish(0 if self.status is None else self.status))
        return out

    def timer_expired(self, timer: Timer) -> list[Instruction]:
        """``timer``, armed by an earlier ``SetTimer``, fired."""
        if timer is Timer.TIMEOUT and self.phase in (Phase.RUNNING, Phase.GRACE):
            if self.status is None:
                self.status = TIMEOUT_STATUS
            line = f"zmqmesh: job timed out after {_seconds(self.timeout or 0.0)}"
            return [Report(line), *self._stop()]
        if timer is Timer.GRACE and self.phase is Phase.GRACE:
            line = (
                f"zmqmesh: grace period of {_seconds(self.grace)} over; "
                f"stopping {self._count_running()}"
            )
            return [Report(line), *self._stop()]
        if timer is Timer.KILL and self.phase is Phase.STOPPING and self.running:
            line = f"zmqmesh: killing {self._count_running()} after {_seconds(self.kill_after)}"
            return [Report(line), SignalRanks(self._ranks(), signal.SIGKILL)]
        return []

    def deadlocked(self) -> list[Instruction]:
        """The ranks were found waiting for each other (``launcher/hang.py``,
        which reports it): stop them, with a failing status."""
        if self.phase not in (Phase.RUNNING, Phase.GRACE):
            return []
        if self.status is None:
            self.status = DEADLOCK_STATUS
        return self._stop()

    def signalled(self, signum: int) -> list[Instruction]:
        """The launcher received ``signum`` (SIGINT, SIGTERM, SIGHUP): stop
        every rank now; a second signal while stopping kills them at once."""
        if self.phase is Phase.DONE:
            return []
        name = signal_name(signum)
        if not self._interrupted:
            self._interrupted = True
            self.status = 128 + signum
            return [Report(f"zmqmesh: {name} received; stopping all ranks"), *self._stop()]
        return [
            Report(f"zmqmesh: {name} received again; killing all ranks"),
            SignalRanks(self._ranks(), signal.SIGKILL),
        ]

    def _open_grace(self) -> list[Instruction]:
        if self.grace <= 0:
            return self._stop()
        self.phase = Phase.GRACE
        return [SetTimer(Timer.GRACE, self.grace)]

    def _stop(self) -> list[Instruction]:
        if self.phase is Phase.STOPPING:
            return []
        self.phase = Phase.STOPPING
        return [SignalRanks(self._ranks(), signal.SIGTERM), SetTimer(Timer.KILL, self.kill_after)]

    def _ranks(self) -> tuple[int, ...]:
        return tuple(sorted(self.running))

    def _count_running(self) -> str:
        n = len(self.running)
        return f"the {n} rank{'s' if n != 1 else ''} still running"
