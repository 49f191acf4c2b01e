"""Every example runs under the launcher and prints its checkable result."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT, launch

EXAMPLES = ROOT / "examples"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("n", [1, 4])
def test_hello(n: int) -> None:
    res = launch(n, EXAMPLES / "hello.py", timeout=50)
    assert res.returncode == 0, res.stderr
    for r in range(n):
        assert f"[{r}] hello from rank {r} of {n}" in res.stdout
        left = (r - 1) % n
        assert f"[{r}] rank {r} got 'greetings from {left}'" in res.stdout
    assert f"[0] all {n} ranks checked in: {list(range(n))}" in res.stdout


@pytest.mark.timeout(90)
def test_pingpong_table() -> None:
    res = launch(2, EXAMPLES / "pingpong.py", "--iters", "5", timeout=80)
    assert res.returncode == 0, res.stderr
    rows = re.findall(r"^\[0\]\s+(\d+)\s+([\d.]+)\s+([\d.]+)$", res.stdout, re.M)
    assert [int(r[0]) for r in rows] == [8 * 8**k for k in range(8)]
    assert all(float(r[1]) > 0 for r in rows)


@pytest.mark.timeout(60)
def test_pingpong_needs_two_ranks() -> None:
    res = launch(1, EXAMPLES / "pingpong.py", timeout=50)
    assert res.returncode != 0
    assert "needs two ranks" in res.stdout + res.stderr
