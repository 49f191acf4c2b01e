"""MPI 4.0 calls of mpi4py 4 on real ranks, each through an mpi4py program
of ``tests/compat``: partitioned point-to-point (``partition.py``: rounds
of a ring exchange, large buffers, PROC_NULL, misuse), sessions
(``session.py``: process sets, their groups and communicators, error
handlers, the null session's errors) and the ULFM calls (``ulfm.py``:
agreement and shrink on intra- and intercommunicators)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import launch

HERE = Path(__file__).resolve().parent


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("program", "n"),
    [
        ("partition_tour.py", 2),
        ("partition_tour.py", 3),
        ("session_tour.py", 1),
        ("session_tour.py", 3),
        ("ulfm_tour.py", 2),
        ("ulfm_tour.py", 3),
    ],
)
def test_an_mpi4py_program_of_mpi4_calls_runs_to_its_end(program: str, n: int) -> None:
    res = launch(n, HERE / program, timeout=110, launcher_args=("--mpi4py",))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    tour = program.removesuffix("_tour.py")
    assert f"[0] {tour} tour ok on {n} ranks" in res.stdout
