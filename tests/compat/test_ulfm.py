"""The ULFM calls (``ulfm.py``) on real ranks, intra- and intercommunicators."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import launch

HERE = Path(__file__).resolve().parent


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", [2, 3])
def test_agreement_and_shrink_with_no_failed_process(n: int) -> None:
    res = launch(n, HERE / "ulfm_tour.py", timeout=110, launcher_args=("--mpi4py",))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert f"[0] ulfm tour ok on {n} ranks" in res.stdout
