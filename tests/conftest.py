"""Shared test helpers: run real jobs through the real launcher."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = Path(__file__).resolve().parent / "programs"


def job_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZMQMESH_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def launch(
    n: int,
    program: str | Path,
    *args: str,
    timeout: float = 90,
    launcher_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``zmqmesh launch -n n program args`` to completion (``env``:
    variables the ranks get too); a hang is a failure
    (``subprocess.TimeoutExpired``), never a wait."""
    cmd = [
        sys.executable,
        "-m",
        "zmqmesh",
        "launch",
        "-n",
        str(n),
        "--timeout",
        str(timeout - 5),
        *launcher_args,
        str(program),
        *args,
    ]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=job_env(**(env or {})), cwd=ROOT
    )


@pytest.fixture
def run_job():
    return launch


def run_example(n: int, name: str, *args: str, timeout: float = 50) -> str:
    """Run ``examples/name`` on n ranks; its output, after checking it succeeded."""
    res = launch(n, ROOT / "examples" / name, *args, timeout=timeout)
    assert res.returncode == 0, f"exit {res.returncode}\n{res.stdout}\n{res.stderr}"
    return res.stdout


def rank0(out: str, pattern: str) -> tuple[str, ...]:
    """The groups of the first line of rank 0 that matches ``pattern``."""
    import re

    m = re.search(r"^\[0\] " + pattern, out, re.M)
    assert m, f"no rank-0 line matching {pattern!r} in:\n{out}"
    return m.groups()
