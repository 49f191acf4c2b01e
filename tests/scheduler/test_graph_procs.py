"""Task graphs over real processes, through the launcher."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import PROGRAMS, launch

GRAPH_CHECKS = ["inc_inc_add", "nested", "upstream", "tree", "chain", "placement"]


@pytest.mark.timeout(100)
@pytest.mark.parametrize("n", [1, 3, 5])
def test_futures_as_arguments(n: int) -> None:
    res = launch(n, PROGRAMS / "executor_graph.py", timeout=90)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert re.findall(r"^\[0\] ok (\w+)$", res.stdout, re.M) == GRAPH_CHECKS
    for rank in range(n):
        assert f"[{rank}] done" in res.stdout


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", [3, 5])
def test_results_lost_with_a_worker_are_made_again(n: int, tmp_path: Path) -> None:
    res = launch(
        n,
        PROGRAMS / "executor_graph_failures.py",
        str(tmp_path),
        timeout=110,
        launcher_args=("--grace", "60"),
    )
    out = res.stdout + res.stderr
    assert "[0] ok chain after a loss" in res.stdout, out[-4000:]
    assert "[0] ok tree after a loss" in res.stdout, out[-4000:]
    assert "[0] done" in res.stdout, out[-4000:]
    kills = 2 if n == 5 else 1
    assert res.stderr.count("was killed by signal SIGKILL") == kills, res.stderr


@pytest.mark.timeout(100)
@pytest.mark.parametrize("n", [3, 5])
def test_kept_results_are_freed_and_stay_off_the_root(n: int) -> None:
    res = launch(n, PROGRAMS / "executor_release.py", timeout=90)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert re.findall(r"^\[0\] ok (\w+)$", res.stdout, re.M) == ["chain", "garbage", "release"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", [3, 5])
@pytest.mark.parametrize("seed", [1, 2])
def test_random_graphs_are_exact_while_workers_die(n: int, seed: int, tmp_path: Path) -> None:
    res = launch(
        n,
        PROGRAMS / "executor_graph_random.py",
        str(tmp_path),
        str(seed),
        timeout=110,
        launcher_args=("--grace", "60"),
    )
    out = res.stdout + res.stderr
    assert "[0] ok random graph" in res.stdout, out[-4000:]
    assert "[0] done" in res.stdout, out[-4000:]
