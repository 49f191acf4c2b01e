"""zmqmesh's mpi4py layer: buffer kinds and the module surface, on real ranks."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import launch

HERE = Path(__file__).resolve().parent


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", [1, 2])
def test_buffer_kinds_and_surface_on_real_ranks(n: int) -> None:
    res = launch(n, HERE / "surface_tour.py", timeout=110, launcher_args=("--mpi4py",))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert f"[0] surface tour ok on {n} ranks" in res.stdout


@pytest.mark.timeout(60)
@pytest.mark.parametrize("n", [1, 3])
def test_generalized_requests(n: int) -> None:
    res = launch(n, HERE / "grequest_tour.py", timeout=50, launcher_args=("--mpi4py",))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert f"[0] grequest tour ok on {n} ranks" in res.stdout
    assert "ValueError: boom" in res.stderr  # the callback's traceback, as mpi4py prints it
