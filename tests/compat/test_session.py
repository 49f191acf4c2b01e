"""Sessions (``session.py``) on real ranks: process sets, their groups and
communicators, error handlers, the null session's errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import launch

HERE = Path(__file__).resolve().parent


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", [1, 3])
def test_a_session_s_process_sets_make_groups_and_communicators(n: int) -> None:
    res = launch(n, HERE / "session_tour.py", timeout=110, launcher_args=("--mpi4py",))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert f"[0] session tour ok on {n} ranks" in res.stdout
