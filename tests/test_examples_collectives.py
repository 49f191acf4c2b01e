"""The collective and topology examples run under the launcher at several
sizes and print results that check out: pi, the ring token, the tree's
depth and acknowledgements, the heat solution against the serial one, and
both training schemes' accuracy."""

from __future__ import annotations

import math

import pytest
from conftest import ROOT, launch, rank0, run_example

EXAMPLES = ROOT / "examples"


def run_ok(n: int, name: str, *args: str) -> str:
    return run_example(n, name, *args, timeout=30)


@pytest.mark.timeout(40)
@pytest.mark.parametrize("n", [1, 3, 4])
def test_monte_carlo_pi(n: int) -> None:
    out = run_ok(n, "monte_carlo_pi.py", "--samples", "1000000")
    (total,) = rank0(out, rf"samples: ([\d,]+) on {n} rank")
    assert int(total.replace(",", "")) == 10**6
    pi, err = map(float, rank0(out, r"pi ~= ([\d.]+), abs error ([\d.e+-]+)"))
    assert abs(pi - math.pi) < 0.01
    assert err == pytest.approx(abs(pi - math.pi), abs=1e-5)
    assert rank0(out, r"time on 1 rank \(rank 0 alone, afterwards, same samples\): .*(same count)")
    (speedup,) = rank0(out, r"speed-up vs 1 rank: ([\d.]+)x")
    assert float(speedup) > 0


@pytest.mark.timeout(40)
@pytest.mark.parametrize("n", [1, 3, 4])
def test_ring_token(n: int) -> None:
    out = run_ok(n, "ring_token.py", "--laps", "25")
    left, right, peers = map(
        int, rank0(out, rf"ring of {n}: rank 0 has left=(\d+) right=(\d+), (\d+) peer")
    )
    assert (left, right) == ((0 - 1) % n, 1 % n)
    assert peers == len({left, right} - {0})  # its neighbours, nobody else
    token, expected = rank0(out, r"after 25 laps the token is (\d+) \(expected (\d+)\)")
    assert int(token) == int(expected) == 25 * sum(range(n))


@pytest.mark.timeout(40)
@pytest.mark.parametrize("n", [1, 3, 4])
def test_tree_broadcast(n: int) -> None:
    out = run_ok(n, "tree_broadcast.py", "--elems", "20000", "--repeat", "2")
    depth, expected = map(int, rank0(out, r"depth (\d+) \(expected (\d+)\)"))
    assert depth == expected == {1: 0, 3: 1, 4: 2}[n]
    acked, size = map(int, rank0(out, r"tree send/recv: (\d+) of (\d+) ranks acknowledged"))
    assert acked == size == n
    assert rank0(out, r"comm\.bcast: .*same payload on every rank: (True)")


@pytest.mark.timeout(40)
def test_tree_broadcast_arity_3() -> None:
    # Ranks 1..3 are the root's children, 4 is rank 1's: depth 2.
    out = run_ok(5, "tree_broadcast.py", "--elems", "1000", "--arity", "3", "--repeat", "1")
    assert rank0(out, r"tree of 5 ranks, arity 3; children of rank 0: (\(1, 2, 3\))")
    assert rank0(out, r"depth (2) \(expected 2\)")
    assert rank0(out, r"tree send/recv: (5) of 5 ranks acknowledged")


@pytest.mark.timeout(40)
@pytest.mark.parametrize(("n", "dims"), [(1, "1x1"), (3, "3x1"), (4, "2x2"), (6, "3x2")])
def test_heat_diffusion_matches_serial(n: int, dims: str) -> None:
    out = run_ok(n, "heat_diffusion.py", "--n", "30", "--tol", "1e-3")
    assert rank0(out, r"grid 30x30 on a (\d+x\d+) mesh") == (dims,)
    steps, mean = rank0(out, r"converged after (\d+) steps \(tol 0\.001\), mean temp ([\d.]+)")
    serial_steps, diff = rank0(out, r"serial NumPy run: (\d+) steps, max abs difference (\S+)")
    assert int(steps) == int(serial_steps) > 1
    assert float(diff) < 1e-12
    assert 0 < float(mean) < 0.25  # heating from one edge of four, not yet steady


@pytest.mark.timeout(40)
def test_heat_diffusion_grid_too_small() -> None:
    res = launch(6, EXAMPLES / "heat_diffusion.py", "--n", "2", timeout=30)
    assert res.returncode != 0
    assert "cannot be split over (3, 2)" in res.stdout + res.stderr


@pytest.mark.timeout(40)
@pytest.mark.parametrize("n", [1, 3, 4])
def test_allreduce_sgd(n: int) -> None:
    out = run_ok(n, "allreduce_sgd.py", "--samples", "2000", "--steps", "200")
    loss, acc = map(float, rank0(out, r"final training loss ([\d.]+), accuracy ([\d.]+)"))
    assert acc > 0.9
    assert loss < 0.3
    assert rank0(out, rf"weights bit-identical on all {n} ranks: (True)")


@pytest.mark.timeout(40)
@pytest.mark.parametrize("n", [3, 4])
def test_parameter_server(n: int) -> None:
    out = run_ok(n, "parameter_server.py", "--samples", "2000", "--steps", "200")
    assert rank0(out, r"server \+ (\d+) workers") == (str(n - 1),)
    loss, acc = map(float, rank0(out, r"final training loss ([\d.]+), accuracy ([\d.]+)"))
    assert acc > 0.9
    assert loss < 0.3


@pytest.mark.timeout(40)
def test_parameter_server_needs_two_ranks() -> None:
    res = launch(1, EXAMPLES / "parameter_server.py", timeout=30)
    assert res.returncode != 0
    assert "needs at least 2 ranks" in res.stdout + res.stderr
