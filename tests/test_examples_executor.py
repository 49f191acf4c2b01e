"""The executor and pipeline examples run under the launcher at several sizes
and print results that check out: every task ran exactly once, stolen tasks
were given by someone, and each result equals its serial computation."""

from __future__ import annotations

import importlib.util
import re
from collections import Counter
from types import ModuleType

import pytest
from conftest import ROOT, launch

EXAMPLES = ROOT / "examples"


def run_ok(n: int, name: str, *args: str) -> str:
    """Run an example on n ranks; its output, after checking it succeeded."""
    res = launch(n, EXAMPLES / name, *args, timeout=50)
    assert res.returncode == 0, f"exit {res.returncode}\n{res.stdout}\n{res.stderr}"
    return res.stdout


def line(out: str, rank: int, pattern: str) -> tuple[str, ...]:
    """The groups of the first line of ``rank`` that matches ``pattern``."""
    m = re.search(rf"^\[{rank}\] " + pattern, out, re.M)
    assert m, f"no rank-{rank} line matching {pattern!r} in:\n{out}"
    return m.groups()


def workers(n: int) -> list[int]:
    """The ranks that run tasks: all but the root, or the root alone."""
    return list(range(1, n)) or [0]


def example_module(name: str) -> ModuleType:
    """Import an example's functions (its ``main`` does not run on import)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(60)
@pytest.mark.parametrize("n", [1, 3, 4])
def test_work_stealing(n: int) -> None:
    out = run_ok(n, "work_stealing.py", "--tasks", "120")
    rows = re.findall(r"^\[0\] worker (\d+): run +(\d+) +stolen +(\d+) +given +(\d+)$", out, re.M)
    stats = {int(w): tuple(map(int, c)) for w, *c in rows}
    assert sorted(stats) == workers(n)
    assert sum(s[0] for s in stats.values()) == 120  # every task ran exactly once
    assert sum(s[1] for s in stats.values()) == sum(s[2] for s in stats.values())
    if n == 1:
        assert stats == {0: (120, 0, 0)}
    assert line(out, 0, r"tasks run (\d+) of (\d+)") == ("120", "120")
    (eff,) = line(out, 0, r"efficiency ([\d.]+) ")
    assert float(eff) > 0.3
    assert line(out, 0, r"all (\d+) results correct") == ("120",)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("n", [1, 3, 4])
def test_fork_join(n: int) -> None:
    out = run_ok(n, "fork_join.py", "--n", "26", "--cutoff", "16")
    value, serial = line(out, 0, r"fib\(26\) = (\d+) \(serial: (\d+)\), cutoff 16")
    assert int(value) == int(serial) == 121393
    rows = re.findall(r"^\[0\] worker (\d+): ran (\d+) tasks, stole (\d+), gave (\d+)$", out, re.M)
    stats = {int(w): tuple(map(int, c)) for w, *c in rows}
    assert sorted(stats) == workers(n)
    run, expected, stolen = map(int, line(out, 0, r"(\d+) tasks in all \(expected (\d+)\), (\d+)"))
    assert run == expected == sum(s[0] for s in stats.values())
    assert stolen == sum(s[1] for s in stats.values()) == sum(s[2] for s in stats.values())
    # The root submits one task, so only the worker that got it can run
    # tasks without having stolen any.
    assert sum(1 for r, s, _ in stats.values() if r > 0 and s == 0) <= 1
    if n == 1:
        assert stolen == 0


@pytest.mark.timeout(60)
@pytest.mark.parametrize("n", [1, 3, 4])
def test_map_reduce(n: int) -> None:
    out = run_ok(n, "map_reduce.py", "--words", "50000", "--chunks", "10", "--seed", "5")
    corpus = example_module("map_reduce").make_corpus(50000, 5)
    serial = Counter(corpus)
    words, distinct, maps = map(int, line(out, 0, r"(\d+) words, (\d+) distinct, (\d+) map"))
    assert (words, distinct, maps) == (50000, len(serial), 10)
    top = re.findall(r"^\[0\] top '(\w+)' (\d+)$", out, re.M)
    assert [(w, int(c)) for w, c in top] == serial.most_common(5)
    assert "[0] counts match collections.Counter" in out


@pytest.mark.timeout(60)
@pytest.mark.parametrize("n", [1, 3, 4])
def test_scatter_gather(n: int) -> None:
    out = run_ok(n, "scatter_gather.py", "--size", "300000", "--chunks", "7")
    assert line(out, 0, r"scattered (\d+) float64 as (\d+) chunks") == ("300000", "7")
    workers_, order = line(out, 0, r"workers: (\d+), chunks gathered in the order \[(.*)\]")
    assert int(workers_) == len(workers(n))
    assert sorted(int(i) for i in order.split(",")) == list(range(7))
    assert line(out, 0, r"gathered array equals the serial result: (\w+)") == ("True",)
    assert line(out, 0, r"sum \S+, serial \S+, close: (\w+)") == ("True",)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("n", [2, 3, 4])
def test_pipeline(n: int) -> None:
    out = run_ok(n, "pipeline.py", "--items", "500")
    last, stages = n - 1, range(1, n - 1)
    assert line(out, 0, r"produced (\d+) items") == ("500",)
    for r in stages:
        assert line(out, r, rf"stage {r}: x -> 2x \+ {r} on (\d+) items") == ("500",)
    got = line(out, last, r"(\d+) items through (\d+) stage\(s\), in order: (\w+)")
    assert got == ("500", str(n - 2), "True")
    expected = 0
    for x in range(500):
        for r in stages:
            x = 2 * x + r
        expected += x
    total, printed, right = line(
        out, last, r"sum (\d+) \(expected (\d+)\), every value right: (\w+)"
    )
    assert int(total) == int(printed) == expected
    assert right == "True"


@pytest.mark.timeout(60)
def test_pipeline_needs_two_ranks() -> None:
    res = launch(1, EXAMPLES / "pipeline.py", timeout=50)
    assert res.returncode != 0
    assert "needs at least two ranks" in res.stdout + res.stderr
