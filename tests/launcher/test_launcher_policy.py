"""The launcher's failure policy: events in, instructions out, compared with ==."""

from __future__ import annotations

import ast
import signal
from pathlib import Path

import pytest

from zmqmesh.launcher import policy as policy_module
from zmqmesh.launcher.policy import (
    Finish,
    JobPolicy,
    Phase,
    Report,
    SetTimer,
    SignalRanks,
    Timer,
    describe_exit,
    exit_status,
)

pytestmark = pytest.mark.timeout(60)

TERM = signal.SIGTERM
KILL = signal.SIGKILL


def test_a_job_whose_ranks_all_succeed_finishes_with_0_at_the_last_exit() -> None:
    policy = JobPolicy(3, grace=10)
    assert policy.start() == []
    assert policy.rank_exited(1, 101, 0) == []
    assert policy.rank_exited(0, 100, 0) == []
    assert policy.rank_exited(2, 102, 0) == [Finish(0)]
    assert policy.phase is Phase.DONE


def test_the_first_failure_opens_the_grace_period_then_the_survivors_are_stopped() -> None:
    policy = JobPolicy(4, grace=10, kill_after=3)
    assert policy.rank_exited(2, 102, 3) == [
        Report("zmqmesh: rank 2 (pid 102) exited with code 3"),
        SetTimer(Timer.GRACE, 10),
    ]
    assert policy.phase is Phase.GRACE
    # A later failure in the grace period is reported but does not change the status.
    assert policy.rank_exited(0, 100, -9) == [
        Report("zmqmesh: rank 0 (pid 100) was killed by signal SIGKILL")
    ]
    assert policy.timer_expired(Timer.GRACE) == [
        Report("zmqmesh: grace period of 10 s over; stopping the 2 ranks still running"),
        SignalRanks((1, 3), TERM),
        SetTimer(Timer.KILL, 3),
    ]
    # Exits caused by the launcher are not failures.
    assert policy.rank_exited(3, 103, -15) == []
    assert policy.timer_expired(Timer.KILL) == [
        Report("zmqmesh: killing the 1 rank still running after 3 s"),
        SignalRanks((1,), KILL),
    ]
    assert policy.rank_exited(1, 101, -9) == [Finish(3)]


def test_survivors_that_finish_within_the_grace_period_end_the_job() -> None:
    policy = JobPolicy(2, grace=10)
    policy.rank_exited(0, 100, 1)
    assert policy.rank_exited(1, 101, 0) == [Finish(1)]
    assert policy.timer_expired(Timer.GRACE) == []  # stale: ignored


def test_death_by_signal_gives_128_plus_the_signal() -> None:
    policy = JobPolicy(1, grace=10)
    assert policy.rank_exited(0, 7, -signal.SIGSEGV) == [
        Report("zmqmesh: rank 0 (pid 7) was killed by signal SIGSEGV"),
        Finish(128 + signal.SIGSEGV),
    ]


def test_no_grace_stops_the_others_at_once() -> None:
    policy = JobPolicy(3, grace=0, kill_after=3)
    assert policy.rank_exited(1, 101, 2) == [
        Report("zmqmesh: rank 1 (pid 101) exited with code 2"),
        SignalRanks((0, 2), TERM),
        SetTimer(Timer.KILL, 3),
    ]
    assert policy.phase is Phase.STOPPING


def test_the_timeout_stops_everything_with_status_124() -> None:
    policy = JobPolicy(2, grace=10, timeout=1.5, kill_after=3)
    assert policy.start() == [SetTimer(Timer.TIMEOUT, 1.5)]
    assert policy.timer_expired(Timer.TIMEOUT) == [
        Report("zmqmesh: job timed out after 1.5 s"),
        SignalRanks((0, 1), TERM),
        SetTimer(Timer.KILL, 3),
    ]
    assert policy.rank_exited(0, 100, -15) == []
    assert policy.timer_expired(Timer.TIMEOUT) == []
    assert policy.rank_exited(1, 101, 0) == [Finish(124)]


def test_a_failure_before_the_timeout_keeps_its_status() -> None:
    policy = JobPolicy(2, grace=30, timeout=5, kill_after=3)
    policy.rank_exited(0, 100, 6)
    assert policy.timer_expired(Timer.TIMEOUT) == [
        Report("zmqmesh: job timed out after 5 s"),
        SignalRanks((1,), TERM),
        SetTimer(Timer.KILL, 3),
    ]
    assert policy.rank_exited(1, 101, -15) == [Finish(6)]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_to_the_launcher_stops_all_and_a_second_one_kills(signum: int) -> None:
    policy = JobPolicy(2, grace=10, kill_after=3)
    policy.rank_exited(0, 100, 9)
    name = signal.Signals(signum).name
    assert policy.signalled(signum) == [
        Report(f"zmqmesh: {name} received; stopping all ranks"),
        SignalRanks((1,), TERM),
        SetTimer(Timer.KILL, 3),
    ]
    assert policy.signalled(signum) == [
        Report(f"zmqmesh: {name} received again; killing all ranks"),
        SignalRanks((1,), KILL),
    ]
    # The interruption, not the earlier failure, is what $? shows.
    assert policy.rank_exited(1, 101, -9) == [Finish(128 + signum)]
    assert policy.signalled(signum) == []


def test_a_signal_while_already_stopping_sends_nothing_twice() -> None:
    policy = JobPolicy(2, grace=10, timeout=1, kill_after=3)
    policy.timer_expired(Timer.TIMEOUT)
    assert policy.signalled(signal.SIGINT) == [
        Report("zmqmesh: SIGINT received; stopping all ranks")
    ]
    policy.rank_exited(0, 100, -15)
    assert policy.rank_exited(1, 101, -15) == [Finish(130)]


def test_misuse_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one rank"):
        JobPolicy(0, grace=1)
    policy = JobPolicy(2, grace=1)
    policy.rank_exited(0, 100, 0)
    with pytest.raises(ValueError, match="rank 0 is not running"):
        policy.rank_exited(0, 100, 0)
    assert "running=1" in repr(policy)


@pytest.mark.parametrize(
    ("returncode", "status"), [(0, 0), (1, 1), (255, 255), (-9, 137), (-15, 143), (-2, 130)]
)
def test_exit_status(returncode: int, status: int) -> None:
    assert exit_status(returncode) == status


def test_describe_exit_names_unknown_signals_by_number() -> None:
    assert describe_exit(3, 42, -99) == "zmqmesh: rank 3 (pid 42) was killed by signal 99"


def test_the_policy_module_does_no_io() -> None:
    tree = ast.parse(Path(policy_module.__file__).read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "dataclasses", "enum", "signal"}, imported
