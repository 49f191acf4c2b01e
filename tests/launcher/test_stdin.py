"""Rank 0 reads the launcher's stdin, as mpiexec forwards it
(``echo 100 | zmqmesh launch -n 2 cpi.py``); the other ranks read
/dev/null, and so does rank 0 when the launcher's stdin is closed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, job_env

PROGRAM = (
    "import os, sys\n"
    "rank = os.environ['ZMQMESH_RANK']\n"
    "print(f'rank {rank} read {sys.stdin.read()!r}', flush=True)\n"
)


def _run(tmp_path: Path, *extra: str, stdin: object = None, text: str | None = None) -> str:
    prog = tmp_path / "read.py"
    prog.write_text(PROGRAM)
    cmd = [sys.executable, "-m", "zmqmesh", "launch", "-n", "2", "--timeout", "50", *extra]
    res = subprocess.run(
        [*cmd, str(prog)],
        input=text,
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=job_env(),
        cwd=ROOT,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


@pytest.mark.timeout(70)
@pytest.mark.parametrize("how", [(), ("--spawn", "exec")])
def test_rank_0_reads_what_the_launcher_is_given(tmp_path: Path, how: tuple[str, ...]) -> None:
    out = _run(tmp_path, *how, text="100\n")
    assert "[0] rank 0 read '100\\n'" in out
    assert "[1] rank 1 read ''" in out


@pytest.mark.timeout(70)
def test_with_stdin_closed_rank_0_reads_nothing(tmp_path: Path) -> None:
    prog = tmp_path / "read.py"
    prog.write_text(PROGRAM)
    code = (
        "import os, subprocess, sys\n"
        "os.close(0)\n"
        f"cmd = [sys.executable, '-m', 'zmqmesh', 'launch', '-n', '2', {str(prog)!r}]\n"
        "sys.exit(subprocess.run(cmd).returncode)\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        env=job_env(), cwd=ROOT,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert "[0] rank 0 read ''" in res.stdout
