"""Actors over real processes, through the launcher."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import PROGRAMS, launch

CHECKS = ["ordered", "futures", "handles", "concurrency", "data", "close"]


@pytest.mark.timeout(100)
@pytest.mark.parametrize("n", [1, 3, 5])
def test_actors(n: int, tmp_path: Path) -> None:
    res = launch(n, PROGRAMS / "executor_actors.py", str(tmp_path), timeout=90)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert re.findall(r"^\[0\] ok (\w+)$", res.stdout, re.M) == CHECKS
    for rank in range(n):
        assert f"[{rank}] done" in res.stdout
    assert "never retrieved" not in res.stdout + res.stderr


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", [3, 5])
def test_actors_die_or_restart_with_their_worker(n: int, tmp_path: Path) -> None:
    res = launch(
        n,
        PROGRAMS / "executor_actors.py",
        str(tmp_path),
        "kill",
        timeout=110,
        launcher_args=("--grace", "60"),
    )
    out = res.stdout + res.stderr
    want = [*CHECKS, "died"] + (["restart"] if n == 5 else [])
    assert re.findall(r"^\[0\] ok (\w+)$", res.stdout, re.M) == want, out[-4000:]
    assert "[0] done" in res.stdout, out[-4000:]
    assert res.stderr.count("was killed by signal SIGKILL") == len(want) - len(CHECKS), out
    assert "never retrieved" not in out
