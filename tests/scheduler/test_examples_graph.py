"""The task-graph and actor examples run and print results that check out."""

from __future__ import annotations

import pytest
from conftest import rank0, run_example


@pytest.mark.timeout(60)
@pytest.mark.parametrize("n", [1, 3])
def test_task_graph_example(n: int) -> None:
    out = run_example(n, "task_graph.py", "--leaves", "2000", "--size", "1000000")
    assert rank0(out, r"add\(inc\(1\), inc\(2\)\) = (\d+) \(serial: (\d+)\)") == ("5", "5")
    total, serial = rank0(out, r"tree of 2000 leaves: sum (\d+) \(serial: (\d+)\)")
    assert total == serial
    got, serial = rank0(out, r"chain of 20 links of [\d,]+ B: sum (\d+) \(serial: (\d+)\)")
    assert got == serial


@pytest.mark.timeout(60)
@pytest.mark.parametrize("n", [1, 3])
def test_actors_example(n: int) -> None:
    out = run_example(n, "actors.py")
    assert rank0(out, r"counter on rank \d+: (\d+) after 1000 calls, in order: (\w+)") == (
        "1000",
        "True",
    )
    (err,) = rank0(out, r"step 30: max weight error ([\d.]+)")
    assert float(err) < 0.1
