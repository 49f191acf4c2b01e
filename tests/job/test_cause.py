"""The cause line between a failing rank and the launcher (job/cause.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from zmqmesh.job.cause import find_cause


def test_finds_its_rank_s_line_behind_any_prefix() -> None:
    lines = (
        b"[1] Traceback (most recent call last):\n"
        b"[1] ValueError: boom\n"
        b"[1] zmqmesh: rank 1 (nodeA) raised ValueError: boom at a.py:3 in f\n"
    )
    assert find_cause(lines, 1) == "rank 1 (nodeA) raised ValueError: boom at a.py:3 in f"
    assert find_cause(lines.replace(b"[1] ", b""), 1) is not None  # --no-prefix


def test_another_rank_s_line_or_a_mention_is_no_cause() -> None:
    other = b"zmqmesh: rank 12 (n) raised KeyError: 'x'\n"
    assert find_cause(other, 1) is None
    assert find_cause(b"zmqmesh: rank 1 (n) exited with code 3\n", 1) is None
    assert find_cause(b"", 0) is None


@given(st.binary(max_size=300), st.integers(0, 10**6))
def test_any_bytes_give_a_str_or_none(data: bytes, rank: int) -> None:
    got = find_cause(data, rank)
    assert got is None or got.startswith(f"rank {rank} (")
