"""The Executor over real processes, through the launcher."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from conftest import PROGRAMS, launch

CHECKS = [
    "map",
    "coroutines",
    "raises",
    "arrays",
    "bad_input",
    "nested",
    "as_completed",
    "skewed",
    "stats",
]


@pytest.mark.timeout(150)
@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_executor(n: int) -> None:
    res = launch(n, PROGRAMS / "executor_conformance.py", timeout=140)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert re.findall(r"^\[0\] ok (\w+)$", res.stdout, re.M) == CHECKS
    for rank in range(n):
        assert f"[{rank}] done" in res.stdout
        assert f"[{rank}] switch interval 0.005" in res.stdout  # CPython's default, back
    assert "1000/1000" in res.stderr  # map(progress=True): tqdm or a plain line
    if "tasks 1000/1000" in res.stderr:  # the plain line: done/total, rate and time left
        assert re.search(r"tasks 1000/1000 \([\d,]+/s, ETA 0:00\)", res.stderr), res.stderr
    # Efficiency is a benchmark (bench/), not a test: this only catches a
    # scheduler that leaves workers idle while others hold queued work.
    eff = float(re.findall(r"efficiency ([\d.]+)", res.stdout)[0])
    assert eff > 0.3, res.stdout


@pytest.mark.timeout(60)
def test_results_leave_while_the_worker_has_queued_tasks(tmp_path) -> None:
    """Results of a busy worker wait for its collection tick, never for
    its deque to run dry: the program's next task waits for one."""
    res = launch(2, PROGRAMS / "executor_results.py", str(tmp_path), timeout=50)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "[0] ok results while busy" in res.stdout
    assert "[1] done" in res.stdout


@pytest.mark.timeout(120)
def test_tasks_of_killed_workers_run_again(tmp_path) -> None:
    res = launch(
        5,
        PROGRAMS / "executor_failures.py",
        str(tmp_path),
        timeout=110,
        launcher_args=("--grace", "60"),
    )
    out = res.stdout
    assert "[0] ok rerun" in out, out + res.stderr
    assert re.search(r"^\[0\] ok poison \d$", out, re.M), out + res.stderr
    assert "[0] ok survivors" in out, out + res.stderr
    assert "[0] stats [1, 2, 3, 4]" in out
    assert res.returncode != 0  # ranks died: the job says so
    assert res.stderr.count("was killed by signal SIGKILL") == 3, res.stderr


@pytest.mark.timeout(120)
def test_root_loss_ends_every_worker() -> None:
    t = time.monotonic()
    res = launch(
        3, PROGRAMS / "executor_root_lost.py", timeout=110, launcher_args=("--grace", "60")
    )
    assert time.monotonic() - t < 30  # the workers left on their own, not at the grace
    assert res.returncode != 0
    for rank in (1, 2):
        assert f"[{rank}] left with RankFailedError 0" in res.stdout, res.stdout + res.stderr


@pytest.mark.timeout(60)
def test_task_errors_carry_their_story_and_retries_rerun(tmp_path: Path) -> None:
    res = launch(3, PROGRAMS / "executor_errors.py", str(tmp_path), timeout=50)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    for line in ("ok error story", "ok map item", "ok retries", "ok bad retries"):
        assert f"[0] {line}" in res.stdout, res.stdout + res.stderr


@pytest.mark.timeout(60)
@pytest.mark.parametrize("n", [1, 2, 4])
def test_stats_are_exact_inside_the_block(n: int) -> None:
    res = launch(n, PROGRAMS / "executor_stats.py", timeout=50)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "[0] ok stats exact" in res.stdout
    assert "[0] ok stats final" in res.stdout


@pytest.mark.timeout(60)
def test_pickle_allowed_sends_closures() -> None:
    res = launch(3, PROGRAMS / "executor_pickle.py", timeout=50, launcher_args=("--pickle",))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "[0] ok pickled tasks" in res.stdout
    assert "[1] ok pickled message" in res.stdout


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", [1, 3])
def test_cancelled_futures_leave_the_executor_working(n: int) -> None:
    res = launch(n, PROGRAMS / "executor_cancel.py", timeout=100)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "[0] ok cancelled futures" in res.stdout
    for rank in range(n):
        assert f"[{rank}] done" in res.stdout
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
