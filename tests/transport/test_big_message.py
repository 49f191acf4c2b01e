"""A message over 4 GiB (the old frame limit) between ranks on one host."""

from __future__ import annotations

import pytest
from conftest import PROGRAMS, launch

NBYTES = 4 * 2**30 + 64 * 2**20  # just over 4 GiB; sender and receiver hold ~8.2 GiB


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_message_over_4_gib_arrives_whole() -> None:
    res = launch(2, PROGRAMS / "big_message.py", str(NBYTES), timeout=580)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"[1] received {NBYTES} bytes" in res.stdout, res.stdout + res.stderr
    assert "[1] and the next message" in res.stdout, res.stdout + res.stderr
