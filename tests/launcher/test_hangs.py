"""Hangs and deadlocks explained: the launcher names what each rank waits
in, stops a deadlocked job with a line saying so, and never calls a rank
that computes, or a message still on its way, a deadlock."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from conftest import PROGRAMS, ROOT, job_env, launch

PROGRAM = PROGRAMS / "hangs.py"
CHECK = ("--hang-check", "1.5")


def _deadlock(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 1, res.stdout + res.stderr
    assert "zmqmesh: deadlock:" in res.stderr, res.stderr
    return res.stderr


@pytest.mark.timeout(60)
def test_a_cycle_of_receives_is_a_deadlock_with_its_cycle() -> None:
    err = _deadlock(launch(2, PROGRAM, "cycle", timeout=50, launcher_args=CHECK))
    for r, o in ((0, 1), (1, 0)):
        assert re.search(
            rf"rank {r} recv\(source={o}, tag=5\) at \S*hangs\.py:\d+ in main \(for [\d.]+ s\)",
            err,
        ), err
    assert re.search(
        r"deadlock cycle: rank (\d) recv\(source=\d, tag=5\) at \S+ in main -> "
        r"rank \d recv\(source=\d, tag=5\) at \S+ in main -> rank \1",
        err,
    ), err


@pytest.mark.timeout(60)
def test_two_ranks_deadlocked_while_a_third_computes() -> None:
    err = _deadlock(launch(3, PROGRAM, "pair", timeout=50, launcher_args=CHECK))
    assert "zmqmesh: deadlock: ranks 0, 1 waited" in err, err
    assert "rank 2" not in err.split("deadlock cycle")[0].split("deadlock:")[1], err


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["barrier", "tag", "any", "irecv"])
def test_other_shapes_of_deadlock(mode: str) -> None:
    err = _deadlock(launch(3, PROGRAM, mode, timeout=50, launcher_args=CHECK))
    if mode == "barrier":
        assert re.search(r"rank 0 barrier \(collective #1, from rank \d\) at \S+", err), err
        assert "rank 1 recv(source=0, tag=ANY)" in err, err
    if mode == "tag":
        assert "rank 1 recv(source=0, tag=2)" in err, err
    if mode == "any":
        assert "recv(source=ANY, tag=ANY)" in err, err
    if mode == "irecv":
        assert "rank 0 irecv(source=1, tag=3)" in err, err


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["compute", "sleep"])
def test_computing_or_sleeping_is_no_deadlock(mode: str) -> None:
    res = launch(2, PROGRAM, mode, timeout=50, launcher_args=CHECK)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "[0] finished" in res.stdout
    assert "deadlock" not in res.stderr, res.stderr


@pytest.mark.timeout(60)
def test_a_timeout_says_what_each_rank_waits_in() -> None:
    res = launch(2, PROGRAM, "cycle", timeout=10, launcher_args=("--hang-check", "0"))
    assert res.returncode == 124, res.stdout + res.stderr
    err = res.stderr
    assert "what each rank waits in" in err, err
    assert "rank 1 recv(source=0, tag=5)" in err, err
    assert err.index("what each rank waits in") < err.index("timed out"), err
    assert "deadlock" not in err


@pytest.mark.timeout(60)
@contextlib.contextmanager
def _stuck_job() -> Iterator[subprocess.Popen[str]]:
    """A running 2-rank job in a receive cycle (no hang check), once both
    ranks are about to wait; killed at the end."""
    cmd = [sys.executable, "-m", "zmqmesh", "launch", "-n", "2", "--hang-check", "0",
           "--timeout", "40", str(PROGRAM), "cycle"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=job_env(), cwd=ROOT
    )
    try:
        assert proc.stdout is not None
        seen = [proc.stdout.readline() for _ in range(2)]
        assert all("waiting" in line for line in seen), seen
        yield proc
        assert proc.poll() is None  # the job went on
    finally:
        proc.kill()
        proc.communicate(timeout=30)


def test_usr1_prints_each_rank_s_wait_and_stack_without_stopping_the_job() -> None:
    with _stuck_job() as proc:
        assert proc.stderr is not None
        got = ""
        deadline = time.monotonic() + 30
        while "rank 1 recv" not in got and time.monotonic() < deadline:
            proc.send_signal(signal.SIGUSR1)  # until both wait (the first may come early)
            line = proc.stderr.readline()
            got += line
            while line and "what each rank waits in" not in line and "rank 1" not in line:
                line = proc.stderr.readline()
                got += line
            for _ in range(8):
                got += proc.stderr.readline()
        assert "rank 0 recv(source=1, tag=5)" in got, got
        assert "hangs.py" in got, got


@pytest.mark.timeout(60)
def test_zmqmesh_stack_asks_a_running_job() -> None:
    with _stuck_job() as proc:
        stack = [sys.executable, "-m", "zmqmesh", "stack", str(proc.pid)]
        got = ""
        deadline = time.monotonic() + 30
        while "rank 1 recv" not in got and time.monotonic() < deadline:
            res = subprocess.run(stack, capture_output=True, text=True, timeout=20, env=job_env())
            assert res.returncode == 0, res.stderr
            got = res.stdout  # (the first ask may come before both ranks wait)
        assert "rank 0 recv(source=1, tag=5)" in got, got
        assert "hangs.py" in got, got


def test_zmqmesh_stack_of_no_process_says_so() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "zmqmesh", "stack", "999999"],
        capture_output=True, text=True, timeout=20, env=job_env(),
    )  # fmt: skip
    assert res.returncode == 1
    assert "no process 999999" in res.stderr
