"""zmqmesh's mpi4py layer: the seed text's mpi4py programs run unchanged
under ``launch --mpi4py``, and the calls they and others use behave."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import launch

HERE = Path(__file__).resolve().parent
SEEDS = HERE / "seeds"

# program -> lines rank 0 must print
EXPECT = {
    "hello_mpi.py": ["Hello from process 0 of 4"],
    "point_to_point.py": ["'status': 'success'"],
    "collective_ops.py": ["Process 0 received broadcast data with keys"],
    "monte_carlo_pi.py": ["=== Results ==="],
    "network_patterns.py": ["Received final token: Token from 0 → 1 → 2 → 3"],
    "scientific_mpi.py": ["Result shape: (4000,)"],
    "mpi_profiling.py": ["MPI PERFORMANCE REPORT"],
    "distributed_ml.py": ["Initialized NN with 20→10→1"],
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("program", sorted(EXPECT))
def test_seed_program_runs_unchanged(program: str) -> None:
    res = launch(4, SEEDS / program, timeout=110, launcher_args=("--mpi4py",))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    rank0 = [ln for ln in res.stdout.splitlines() if ln.startswith("[0] ")]
    for line in EXPECT[program]:
        assert any(line in ln for ln in rank0), (line, res.stdout[-3000:])


@pytest.mark.timeout(60)
def test_api_tour() -> None:
    res = launch(3, HERE / "api_tour.py", timeout=50, launcher_args=("--mpi4py",))
    assert res.returncode == 0, res.stdout + res.stderr
    assert (
        "[0] sum 3 gather [0, 1, 4] bcast cfg Allreduce [3. 3. 3. 3.] Bcast [0. 1. 2.] "
        "ring 2 sub 2" in res.stdout
    )


@pytest.mark.timeout(60)
def test_unsupported_calls_say_so(tmp_path: Path) -> None:
    prog = tmp_path / "unsupported.py"
    prog.write_text(
        "from mpi4py import MPI\n"
        "try:\n"
        "    MPI.File.Open(MPI.COMM_WORLD, 'data')\n"
        "except NotImplementedError as exc:\n"
        "    print('refused:', exc)\n"
    )
    res = launch(2, prog, timeout=50, launcher_args=("--mpi4py",))
    assert res.returncode == 0, res.stderr
    assert "refused: MPI.File.Open is not supported" in res.stdout


@pytest.mark.timeout(60)
def test_without_the_flag_mpi4py_is_not_shadowed(tmp_path: Path) -> None:
    prog = tmp_path / "which.py"
    prog.write_text(
        "try:\n"
        "    import mpi4py\n"
        "    print('mpi4py from', 'zmqmesh' if 'zmqmesh' in mpi4py.__file__ else 'elsewhere')\n"
        "except ImportError:\n"
        "    print('mpi4py from nowhere')\n"
    )
    res = launch(1, prog, timeout=50)
    assert res.returncode == 0, res.stderr
    assert "from zmqmesh" not in res.stdout


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", [2, 3])
def test_buffers_datatypes_and_surface_on_real_ranks(n: int) -> None:
    res = launch(n, HERE / "buffers_tour.py", timeout=110, launcher_args=("--mpi4py",))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert f"[0] buffers tour ok on {n} ranks; zmqmesh (4, 0)" in res.stdout


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", [2, 3])
def test_point_to_point_modes_probes_and_persistent_requests(n: int) -> None:
    res = launch(n, HERE / "p2p_tour.py", timeout=110, launcher_args=("--mpi4py",))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert f"[0] p2p tour ok on {n} ranks" in res.stdout


@pytest.mark.timeout(150)
@pytest.mark.parametrize("n", [3, 4])
def test_nonblocking_collectives_progress_while_the_program_computes(
    n: int, tmp_path: Path
) -> None:
    res = launch(n, HERE / "nbc_tour.py", str(tmp_path), timeout=140, launcher_args=("--mpi4py",))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert f"[0] nbc tour ok on {n} ranks" in res.stdout
