"""A collective mismatch is told in the user's words, on every rank: both
calls, their arguments and lines, the call's number and communicator."""

from __future__ import annotations

import re

import pytest
from conftest import PROGRAMS, launch

ALLREDUCE = r"allreduce\(float64\[3\], op=MAX\) at \S*mismatch_words\.py:16 in main"
BCAST = r"bcast\(root=0\) at \S*mismatch_words\.py:18 in main"
WHERE = r" \(collective #1 on communicator context \d+\)"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("n", [2, 3])
def test_every_rank_names_both_calls(n: int) -> None:
    res = launch(n, PROGRAMS / "mismatch_words.py", timeout=50)
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    assert re.search(
        rf"^\[0\] error: rank 0 called {ALLREDUCE} while rank \d called {BCAST}{WHERE}$", out, re.M
    ), out
    for r in range(1, n):
        assert re.search(
            rf"^\[{r}\] error: rank {r} called {BCAST} while rank 0 called {ALLREDUCE}{WHERE}$",
            out,
            re.M,
        ), out
    for r in range(n):
        assert f"[{r}] ok" in out
