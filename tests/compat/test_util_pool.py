"""``mpi4py.util.pool`` on real ranks: ``Pool`` on the worker ranks of
``python -m mpi4py.futures``, ``ThreadPool`` anywhere, and a failing map
that ends the job instead of hanging it."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import launch

HERE = Path(__file__).resolve().parent
MPI4PY = ("--mpi4py",)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", [1, 3])
def test_pool_runs_every_call_on_the_worker_ranks(n: int) -> None:
    res = launch(n, "-m", "mpi4py.futures", str(HERE / "pool_tour.py"), timeout=110,
                 launcher_args=MPI4PY)  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "[0] pool tour ok with Pool" in res.stdout


@pytest.mark.timeout(120)
def test_thread_pool_runs_every_call_on_threads() -> None:
    res = launch(2, HERE / "pool_tour.py", "threads", timeout=110, launcher_args=MPI4PY)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "[1] pool tour ok with ThreadPool" in res.stdout


@pytest.mark.timeout(60)
def test_a_failing_map_ends_the_job(tmp_path: Path) -> None:
    prog = tmp_path / "fails.py"
    prog.write_text(
        "from mpi4py.util.pool import Pool\n"
        "def fail(x):\n"
        "    raise KeyError(x)\n"
        "if __name__ == '__main__':\n"
        "    with Pool(2) as pool:\n"
        "        pool.map(fail, [1, 2])\n"
    )
    res = launch(3, "-m", "mpi4py.futures", str(prog), timeout=50, launcher_args=MPI4PY)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "KeyError" in res.stderr
    assert "deadlock" not in res.stderr
    assert "timed out" not in res.stderr
