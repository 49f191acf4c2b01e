"""The nonblocking, collectives-tour, matvec, FFT and redundancy examples run
under the launcher at several sizes and print results that check out against
their serial computations; the FFT refuses a size it cannot split, and the
redundancy check catches an injected error."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT, launch, rank0, run_example

EXAMPLES = ROOT / "examples"


def run_ok(n: int, name: str, *args: str) -> str:
    return run_example(n, name, *args, timeout=50)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("n", [1, 3, 4])
def test_nonblocking(n: int) -> None:
    out = run_ok(n, "nonblocking.py", "--n", "200000", "--work", "100", "--reps", "2")
    assert rank0(out, rf"ring of {n} rank\(s\), (200,000) float64 each, work 100x100")
    assert rank0(out, r"results match the serial computation: (True)")
    blocking, nonblocking = rank0(out, r"blocking: ([\d.]+) ms, nonblocking: ([\d.]+) ms")
    assert float(blocking) > 0
    assert float(nonblocking) > 0
    assert rank0(out, r"time saved by overlapping: (-?[\d.]+) ms")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("n", [1, 3, 4])
def test_collectives_tour(n: int) -> None:
    out = run_ok(n, "collectives_tour.py")
    lines = dict(re.findall(r"^\[0\] ([^:\n]+): (.*) -- ok$", out, re.M))
    assert len(lines) == 10, out
    assert "WRONG" not in out
    every = f"on all {n} ranks"
    assert lines["bcast config"] == f"{{'lr': 0.05, 'epochs': 3, 'name': 'tour'}} {every}"
    assert lines["bcast weights"] == f"[0.   0.25 0.5  0.75 1.  ] {every}"
    assert lines["allreduce MAX of [rank, -rank]"] == f"[{n - 1} 0] {every}"
    maxloc = (10, 1) if n > 1 else (0, 0)
    assert lines["allreduce MAXLOC of 10*(rank%2)"] == f"{maxloc} {every}"
    assert lines["allgather rank**2"] == f"{[r * r for r in range(n)]} {every}"
    triangle = n * (n + 1) // 2
    if n == 1:
        assert lines["reduce SUM of rank+1"] == f"1 {every}"
        assert lines["scan SUM of rank+1"] == f"1 {every}"
        assert lines["alltoall 100*src+dst"] == f"[0] {every}"
    else:
        assert lines["reduce SUM of rank+1"] == f"{triangle} at rank 0, None elsewhere"
        scans = ", ".join(f"rank {r}: {(r + 1) * (r + 2) // 2}" for r in range(n))
        assert lines["scan SUM of rank+1"] == scans
        rows = ", ".join(f"rank {r}: {[100 * i + r for i in range(n)]}" for r in range(n))
        assert lines["alltoall 100*src+dst"] == rows
        assert lines["scatter"].startswith("rank 0: [0 1 2], rank 1: [3 4 5]")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("n", [1, 3, 4])
def test_distributed_matvec(n: int) -> None:
    out = run_ok(n, "distributed_matvec.py", "--n", "202", "--m", "150")
    (blocks,) = rank0(out, r"A is 202x150, split into row blocks of \[([\d, ]+)\]")
    sizes = [int(b) for b in blocks.split(",")]
    assert len(sizes) == n
    assert sum(sizes) == 202
    assert max(sizes) - min(sizes) <= 1
    for r, rows in enumerate(sizes):
        assert f"[{r}] rank {r}: {rows} rows, local |y| = " in out
    assert rank0(out, r"allclose to the serial A @ x: (True)")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_distributed_fft(n: int) -> None:
    out = run_ok(n, "distributed_fft.py")
    assert rank0(out, rf"2-D FFT of a 48x48 complex array on {n} rank\(s\), (\d+) rows each") == (
        str(48 // n),
    )
    (diff,) = rank0(out, r"allclose to np.fft.fft2: True, max abs diff ([\d.e+-]+)")
    assert float(diff) < 1e-9


@pytest.mark.timeout(60)
def test_distributed_fft_refuses_uneven_split() -> None:
    res = launch(5, EXAMPLES / "distributed_fft.py", timeout=50)
    assert res.returncode != 0
    assert "N = 48 does not divide by 5 ranks" in res.stdout + res.stderr


@pytest.mark.timeout(60)
@pytest.mark.parametrize("n", [1, 3, 4])
def test_redundant_computation(n: int) -> None:
    out = run_ok(n, "redundant_computation.py")
    groups = (n + 1) // 2
    assert rank0(out, r"(\d+) of (\d+) group\(s\) agree, 0 mismatch") == (str(groups),) * 2
    for g in range(n // 2):
        lo, hi = 2 * g, 2 * g + 1
        assert f"[{lo}] group {g}: ranks {lo} and {hi} agree on " in out
    if n % 2:
        last = n - 1
        assert f"[{last}] group {last // 2}: rank {last} (no partner: computed twice" in out
    assert "MISMATCH" not in out


@pytest.mark.timeout(60)
@pytest.mark.parametrize("n", [1, 3, 4])
def test_redundant_computation_detects_injected_error(n: int) -> None:
    res = launch(n, EXAMPLES / "redundant_computation.py", "--inject", timeout=50)
    assert res.returncode != 0
    assert re.search(r"^\[0\] group 0: .* MISMATCH: ", res.stdout, re.M), res.stdout
    groups = (n + 1) // 2
    assert f"[0] {groups - 1} of {groups} group(s) agree, 1 mismatch(es)" in res.stdout
    assert "1 group(s) disagree" in res.stdout + res.stderr
