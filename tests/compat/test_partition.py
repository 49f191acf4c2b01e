"""Partitioned point-to-point communication (``partition.py``) on real
ranks: rounds of a ring exchange, large buffers, PROC_NULL, misuse."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import launch

HERE = Path(__file__).resolve().parent


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", [2, 3])
def test_partitioned_sends_and_receives_in_rounds(n: int) -> None:
    res = launch(n, HERE / "partition_tour.py", timeout=110, launcher_args=("--mpi4py",))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert f"[0] partition tour ok on {n} ranks" in res.stdout
