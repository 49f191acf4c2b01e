"""Every example runs as the README says: ``zmqmesh launch -n 4
examples/NAME.py``, with no arguments, and exits 0 leaving nothing behind
in the temp directory."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from conftest import ROOT, launch

EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_runs_with_no_arguments(example: Path) -> None:
    before = set(Path(tempfile.gettempdir()).glob("zmqmesh-checkpoints-*"))
    res = launch(4, example, timeout=100)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    assert set(Path(tempfile.gettempdir()).glob("zmqmesh-checkpoints-*")) == before
