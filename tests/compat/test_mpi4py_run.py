"""``python -m mpi4py`` and ``mpi4py.bench`` inside a zmqmesh job: the
program runs as ``__main__`` with the arguments it expects, an uncaught
exception aborts the whole job (non-zero, no hang), and the benchmarks
print mpi4py's lines."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, job_env, launch

MPI4PY = ("--mpi4py",)


def _lines(out: str, rank: int) -> list[str]:
    tag = f"[{rank}] "
    return [ln[len(tag) :] for ln in out.splitlines() if ln.startswith(tag)]


@pytest.mark.timeout(60)
def test_a_script_runs_as_main_with_its_arguments(tmp_path: Path) -> None:
    prog = tmp_path / "prog.py"
    prog.write_text(
        "import sys\n"
        "from mpi4py import MPI\n"
        "c = MPI.COMM_WORLD\n"
        "print('sum', c.allreduce(c.rank), sys.argv[1:], __name__, sys.path[0] == "
        f"{str(tmp_path)!r})\n"
    )
    res = launch(2, "-m", "mpi4py", str(prog), "a", "-b", timeout=50, launcher_args=MPI4PY)
    assert res.returncode == 0, res.stderr
    for r in (0, 1):
        assert _lines(res.stdout, r) == ["sum 1 ['a', '-b'] __main__ True"]


@pytest.mark.timeout(60)
def test_a_command_and_a_module_and_rc_options() -> None:
    cmd = "import sys; from mpi4py import MPI, rc; print(MPI.COMM_WORLD.size, sys.argv, rc.threads)"
    res = launch(2, "-m", "mpi4py", "-rc", "threads=False", "-c", cmd, "x", timeout=50,
                 launcher_args=MPI4PY)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert _lines(res.stdout, 1) == ["2 ['-c', 'x'] False"]
    res = launch(2, "-m", "mpi4py", "--rc=errors='exception'", "-m", "mpi4py.bench",
                 "helloworld", timeout=50, launcher_args=MPI4PY)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert _lines(res.stdout, 1) == [f"Hello, World! I am process 1 of 2 on {_host()}."]


@pytest.mark.timeout(60)
def test_mpi4py_run_is_the_module_and_an_attribute(tmp_path: Path) -> None:
    prog = tmp_path / "via.py"
    prog.write_text(
        "import mpi4py\n"
        "print('run', mpi4py.run.__name__.rsplit('.', 1)[1], callable(mpi4py.run.main),\n"
        "      callable(mpi4py.run.run_command_line), callable(mpi4py.run.set_abort_status))\n"
    )
    res = launch(1, "-m", "mpi4py.run", str(prog), timeout=50, launcher_args=MPI4PY)
    assert res.returncode == 0, res.stderr
    assert _lines(res.stdout, 0) == ["run run True True True"]


@pytest.mark.timeout(90)
def test_an_uncaught_exception_aborts_the_job(tmp_path: Path) -> None:
    prog = tmp_path / "boom.py"
    prog.write_text(
        "from mpi4py import MPI\n"
        "c = MPI.COMM_WORLD\n"
        "c.Barrier()\n"
        "if c.rank == 0:\n"
        "    raise ValueError('boom')\n"
        "c.recv(source=0)  # waits for a message that never comes\n"
    )
    res = launch(3, "-m", "mpi4py", str(prog), timeout=80, launcher_args=MPI4PY)
    assert res.returncode == 1, res.stdout + res.stderr
    rank0 = _lines(res.stderr, 0)  # the traceback, then the abort
    assert "ValueError: boom" in rank0, res.stderr
    assert "MPI.Abort(1) on rank 0" in rank0
    assert "timed out" not in res.stderr


@pytest.mark.timeout(60)
def test_a_non_zero_exit_status_is_the_jobs() -> None:
    cmd = "import sys; from mpi4py import MPI; MPI.COMM_WORLD.Barrier(); sys.exit(3)"
    res = launch(2, "-m", "mpi4py", "-c", cmd, timeout=50, launcher_args=MPI4PY)
    assert res.returncode == 3, res.stdout + res.stderr
    res = launch(2, "-m", "mpi4py", "-c", "import sys; sys.exit(0)", timeout=50,
                 launcher_args=MPI4PY)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("words", "status", "says"),
    [
        (("--version",), 0, "mpi4py 4.1.2"),
        (("--mpi-std-version",), 0, "MPI 4.0"),
        (("-h",), 0, "-rc <key=value,...>  set 'mpi4py.rc.key=value'"),
        ((), 1, "No path specified for execution"),
        (("-q",), 1, "Unknown option: -q"),
        (("-c",), 1, "Argument expected for option: -c"),
    ],
)
def test_the_runners_own_options(words: tuple[str, ...], status: int, says: str) -> None:
    cmd = [sys.executable, "-m", "zmqmesh.compat.mpi4py", *words]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=50, env=job_env(), cwd=ROOT)
    assert res.returncode == status, res.stderr
    assert says in res.stdout + res.stderr


def _host() -> str:
    import socket

    return socket.gethostname()


@pytest.mark.timeout(60)
def test_bench_helloworld_greets_in_rank_order() -> None:
    res = launch(3, "-m", "mpi4py.bench", "helloworld", timeout=50, launcher_args=MPI4PY)
    assert res.returncode == 0, res.stderr
    for r in range(3):
        assert _lines(res.stdout, r) == [f"Hello, World! I am process {r} of 3 on {_host()}."]
    res = launch(2, "-m", "mpi4py.bench", "helloworld", "-q", timeout=50, launcher_args=MPI4PY)
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("n", [1, 3])
def test_bench_ringtest_times_the_ring(n: int) -> None:
    res = launch(n, "-m", "mpi4py.bench", "ringtest", "-n", "100", "-l", "5", "-s", "1",
                 timeout=50, launcher_args=MPI4PY)  # fmt: skip
    assert res.returncode == 0, res.stderr
    line = _lines(res.stdout, 0)
    assert len(line) == 1, res.stdout
    assert re.fullmatch(
        rf"time for 5 loops = [0-9.e+-]+ seconds \({n} processes, 100 bytes\)", line[0]
    ), res.stdout


ROW = r" *\d+ +\d+\.\d\d \| \d\.\d{7}e[+-]\d\d \u00b1 \d\.\d{4}e[+-]\d\d +\d+"


@pytest.mark.timeout(90)
@pytest.mark.parametrize("extra", [(), ("--pickle",), ("--no-stats", "--no-header")])
def test_bench_pingpong_prints_mpi4pys_table(extra: tuple[str, ...]) -> None:
    res = launch(2, "-m", "mpi4py.bench", "pingpong", "-m", "4", "-n", "4096", "-l", "5", "-s",
                 "1", "--huge-size", "1024", *extra, timeout=80, launcher_args=MPI4PY)  # fmt: skip
    assert res.returncode == 0, res.stderr
    lines = _lines(res.stdout, 0)
    assert _lines(res.stdout, 1) == []
    rows = lines if "--no-header" in extra else lines[2:]
    if "--no-header" not in extra:
        assert lines[0] == "# MPI PingPong Test"
        assert lines[1] == (
            "# Size [B]  Bandwidth [MB/s] | Time Mean [s] \u00b1 StdDev [s]  Samples"
        )
    assert [int(r.split()[0]) for r in rows] == [4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
    row = r" *\d+ +\d+\.\d\d" if "--no-stats" in extra else ROW
    assert all(re.fullmatch(row, r) for r in rows), rows
    if "--no-stats" not in extra:  # the sample count: --loop, never more for large messages
        assert {r.split()[-1] for r in rows} == {"5"}


@pytest.mark.timeout(60)
def test_bench_unknown_commands_say_so() -> None:
    res = launch(2, "-m", "mpi4py.bench", "nosuch", timeout=50, launcher_args=MPI4PY)
    assert res.returncode == 2
    assert "unknown command 'nosuch'" in res.stdout + res.stderr


@pytest.mark.timeout(90)
@pytest.mark.parametrize(("n", "executor"), [(1, "mpi"), (3, "mpi"), (2, "thread")])
def test_bench_futures_reports_every_size(n: int, executor: str) -> None:
    res = launch(n, "-m", "mpi4py.bench", "futures", "-e", executor, "-t", "3", "-m", "16",
                 "-n", "64", timeout=80, launcher_args=MPI4PY)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    rows = [r for r in _lines(res.stdout, 0) if not r.startswith("#")]
    assert [int(r.split()[0]) for r in rows] == [16, 32, 64]
    assert _lines(res.stdout, 0)[0].startswith(f"# MPI Futures Test ({executor}")


@pytest.mark.timeout(90)
def test_bench_pingpong_outband_goes_through_pkl5() -> None:
    res = launch(2, "-m", "mpi4py.bench", "pingpong", "--outband", "--threshold", "1024",
                 "--min-size", "1024", "--max-size", "4096", "--loop", "2", "--skip", "1",
                 timeout=80, launcher_args=MPI4PY)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    rows = [r for r in _lines(res.stdout, 0) if not r.startswith("#")]
    assert [int(r.split()[0]) for r in rows] == [1024, 2048, 4096]
