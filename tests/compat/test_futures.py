"""``mpi4py.futures`` on real ranks: ``python -m mpi4py.futures`` (rank 0
runs the script, the others serve), ``MPICommExecutor``, the error that
says how to start a pool, and a failing script that ends the job."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import launch

HERE = Path(__file__).resolve().parent
MPI4PY = ("--mpi4py",)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", [1, 3])
def test_the_futures_command_line_serves_the_scripts_executors(n: int) -> None:
    res = launch(n, "-m", "mpi4py.futures", str(HERE / "futures_tour.py"), timeout=110,
                 launcher_args=MPI4PY)  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert f"[0] futures tour ok on {n} ranks" in res.stdout
    assert f"[0] num_workers {max(n - 1, 1)}" in res.stdout


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", [1, 2, 4])
def test_mpi_comm_executor_splits_root_and_workers(n: int) -> None:
    res = launch(n, HERE / "futures_tour.py", "comm", timeout=110, launcher_args=MPI4PY)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert f"[0] futures tour ok on {n} ranks" in res.stdout


@pytest.mark.timeout(60)
def test_a_pool_without_worker_ranks_says_how_to_start_one(tmp_path: Path) -> None:
    prog = tmp_path / "pool.py"
    prog.write_text("from mpi4py.futures import MPIPoolExecutor\nMPIPoolExecutor()\n")
    res = launch(2, prog, timeout=50, launcher_args=MPI4PY)
    assert res.returncode != 0
    assert "zmqmesh launch --mpi4py -n N -m mpi4py.futures script.py" in res.stderr


@pytest.mark.timeout(60)
def test_workers_run_the_script_as_worker_and_a_failure_ends_the_job(tmp_path: Path) -> None:
    prog = tmp_path / "fails.py"
    prog.write_text(
        "import sys\n"
        "from mpi4py import MPI\n"
        "from mpi4py.futures import MPIPoolExecutor\n"
        "print('as', __name__, sys.argv[1:])\n"
        "def half(x):\n"
        "    return x / 2\n"
        "if __name__ == '__main__':\n"
        "    with MPIPoolExecutor() as ex:\n"
        "        print('half', list(ex.map(half, [2, 4])))\n"
        "        ex.submit(half, 'x').result()\n"
    )
    res = launch(3, "-m", "mpi4py.futures", str(prog), "arg", timeout=50, launcher_args=MPI4PY)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "[0] as __main__ ['arg']" in res.stdout
    assert "[1] as __worker__ ['arg']" in res.stdout
    assert "[0] half [1.0, 2.0]" in res.stdout
    assert "TypeError: unsupported operand" in res.stderr
    assert "timed out" not in res.stderr


@pytest.mark.timeout(60)
def test_the_futures_command_line_needs_a_program() -> None:
    res = launch(1, "-m", "mpi4py.futures", timeout=50, launcher_args=MPI4PY)
    assert res.returncode == 1
    assert "usage: python -m mpi4py.futures" in res.stderr


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", [2, 3])
def test_long_maps_dealt_in_portions_keep_each_items_outcome(n: int) -> None:
    res = launch(n, "-m", "mpi4py.futures", str(HERE / "futures_map_tour.py"), timeout=110,
                 launcher_args=MPI4PY)  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert f"[0] futures map tour ok on {n} ranks" in res.stdout


def test_portions_shrink_to_one_chunk_and_cover_the_map() -> None:
    from zmqmesh.compat.mpi4py.futures._pool import MAX_PORTION, portion

    assert portion(10_000, 2) == MAX_PORTION
    assert portion(2, 2) == portion(15, 2) == 1  # one each while few are left
    for left, workers in [(10_000, 2), (400, 3), (17, 1), (1, 8)]:
        sizes = []
        while left:
            sizes.append(portion(left, workers))
            left -= sizes[-1]
        assert sizes == sorted(sizes, reverse=True), sizes
        assert sizes[-1] == 1


@pytest.mark.timeout(30)
def test_a_thread_pool_whose_initializer_fails_breaks_without_hanging() -> None:
    import time
    from concurrent.futures import BrokenExecutor

    from zmqmesh.compat.mpi4py.futures import ThreadPoolExecutor

    def refuse() -> None:
        time.sleep(0.05)
        raise RuntimeError("no")

    ex = ThreadPoolExecutor(initializer=refuse)
    ex.submit(time.sleep, 0).cancel()  # (the standard pool's worker died on this one)
    pending = ex.submit(time.sleep, 0)
    with pytest.raises(BrokenExecutor):
        ex.submit(time.sleep, 0).result()
    with pytest.raises(BrokenExecutor):
        pending.result()
    with pytest.raises(BrokenExecutor):
        ex.submit(time.sleep, 0)
    assert ex.num_workers == 0
    ex.shutdown()


@pytest.mark.timeout(90)
def test_futures_cancelled_at_shutdown_are_done_for_wait(tmp_path: Path) -> None:
    prog = tmp_path / "cancel.py"
    prog.write_text(
        "import time\n"
        "from mpi4py import futures\n"
        "if __name__ == '__main__':\n"
        "    ex = futures.MPIPoolExecutor(max_workers=1).bootup()\n"
        "    first = ex.submit(time.sleep, 0.1)\n"
        "    queued = [ex.submit(time.sleep, 0.1) for _ in range(50)]\n"
        "    ex.shutdown(wait=False, cancel_futures=True)\n"
        "    done, not_done = futures.wait([first, *queued], timeout=30)\n"
        "    print('left', len(not_done), 'cancelled', sum(f.cancelled() for f in queued),"
        " flush=True)\n"
    )
    res = launch(1, prog, timeout=80, launcher_args=MPI4PY)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "[0] left 0 cancelled 50" in res.stdout


@pytest.mark.timeout(30)
def test_map_with_a_buffersize_keeps_at_most_that_many_tasks_out() -> None:
    import threading

    from zmqmesh.compat.mpi4py.futures import ThreadPoolExecutor

    out, most, lock = [0], [0], threading.Lock()

    def square(x: int) -> int:
        with lock:
            out[0] += 1
            most[0] = max(most[0], out[0])
        with lock:
            out[0] -= 1
        return x * x

    ref = [x * x for x in range(10)]
    with ThreadPoolExecutor(4) as ex:
        for size in (1, 2, 9, 10, 11):
            for chunk in (1, 3, 11):
                assert list(ex.map(square, range(10), chunksize=chunk, buffersize=size)) == ref
        with pytest.raises(TypeError, match="buffersize"):
            ex.map(square, range(3), buffersize="1")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="buffersize"):
            ex.map(square, range(3), buffersize=0)
        with pytest.raises(ValueError, match="buffersize and unordered"):
            ex.map(square, range(3), buffersize=1, unordered=True)
    assert most[0] <= 4
