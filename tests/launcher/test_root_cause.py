"""When one rank raises, the job says what and where: that rank's
traceback once, its zmqmesh/asyncio/uvloop frames folded; one line from
each rank that stopped because of it; and the launcher's last line names
the first failure (rank, host, exception, message, file:line, function)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROGRAMS, ROOT, job_env, launch

PROGRAM = PROGRAMS / "raise_on_one.py"
CAUSE = r"rank 1 \(\S+\) raised ValueError: boom on 1 at \S*raise_on_one\.py:11 in check"


@pytest.mark.timeout(60)
def test_the_last_line_names_the_first_failure() -> None:
    res = launch(4, PROGRAM, timeout=50)
    assert res.returncode == 1, res.stdout + res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert re.fullmatch(f"zmqmesh: job failed: {CAUSE}", last), last
    # the failing rank's traceback, once, with the internal frames folded
    assert res.stderr.count("Traceback (most recent call last)") == 1, res.stderr
    assert re.search(r"^\[1\]   \.\.\. \d+ frames? of zmqmesh, asyncio, uvloop$", res.stderr, re.M)
    assert "zmqmesh/runtime" not in res.stderr, res.stderr
    assert 'raise ValueError(f"boom on {value}")' in res.stderr
    # each other rank: one line, naming what happened on rank 1
    for r in (0, 2, 3):
        lines = [ln for ln in res.stderr.splitlines() if ln.startswith(f"[{r}] ")]
        assert len(lines) == 1, (r, lines)
        assert re.fullmatch(
            rf"\[{r}\] rank {r}: stopped in barrier at \S*raise_on_one\.py:17 in main, "
            r"rank 1 failed: raised ValueError: boom on 1 at \S*raise_on_one\.py:11 in check",
            lines[0],
        ), lines[0]


@pytest.mark.timeout(60)
def test_full_tracebacks_on_request() -> None:
    env = {**job_env(), "ZMQMESH_TRACEBACK": "full"}
    cmd = [sys.executable, "-m", "zmqmesh", "launch", "-n", "2", "--timeout", "45", str(PROGRAM)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=50, env=env, cwd=ROOT)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "frames of zmqmesh" not in res.stderr
    assert f"{os.sep}zmqmesh{os.sep}runtime{os.sep}" in res.stderr  # every frame shown
    assert re.search(f"zmqmesh: job failed: {CAUSE}$", res.stderr.strip()), res.stderr


@pytest.mark.timeout(60)
def test_an_exit_status_is_no_exception() -> None:
    res = launch(3, PROGRAMS / "exit_on_one.py", timeout=50)
    assert res.returncode == 3, res.stdout + res.stderr
    assert "job failed" not in res.stderr, res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    assert re.search(
        r"^\[0\] rank 0: stopped in barrier at \S*exit_on_one\.py:15 in main, "
        r"rank 1 failed: exited with code 3$",
        res.stderr,
        re.M,
    ), res.stderr


@pytest.mark.timeout(60)
def test_a_rank_that_finished_is_not_called_failed(tmp_path: Path) -> None:
    prog = tmp_path / "early.py"
    prog.write_text(
        "import zmqmesh\n"
        "async def main(comm):\n"
        "    if comm.rank == 0:\n"
        "        return\n"
        "    await comm.recv(0)\n"
        "zmqmesh.run(main)\n"
    )
    res = launch(2, prog, timeout=50)
    assert res.returncode == 1, res.stdout + res.stderr
    assert re.search(
        r"^\[1\] rank 1: stopped in recv at \S*early\.py:5 in main, rank 0 finished \(exit 0\)$",
        res.stderr,
        re.M,
    ), res.stderr


@pytest.mark.timeout(60)
def test_verbose_shows_every_frame() -> None:
    res = launch(2, PROGRAM, timeout=50, launcher_args=("--verbose",))
    assert res.returncode == 1, res.stdout + res.stderr
    assert "frames of zmqmesh" not in res.stderr
    assert f"{os.sep}zmqmesh{os.sep}runtime{os.sep}" in res.stderr
