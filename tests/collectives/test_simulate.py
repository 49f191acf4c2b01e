"""The simulator: the real coroutines' recorded messages against the closed
forms that price p = 100,000, and the closed forms against known results."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqmesh.collectives.simulate import ALGORITHMS, Model, predict, rounds, simulate

PAIRS = [(c, a) for c, algs in ALGORITHMS.items() for a in algs]
M = Model(alpha=1e-5, beta=1e-9, gamma=3e-10)


def _exact_time(collective: str, algorithm: str, p: int) -> bool:
    # Rabenseifner's closed form is an upper bound off powers of two
    return not (algorithm == "rabenseifner" and p & (p - 1))


@pytest.mark.parametrize(("collective", "algorithm"), PAIRS)
@pytest.mark.parametrize("p", [*range(1, 10), 16])
@pytest.mark.parametrize("nbytes", [8, 8 * 16 * 9 * 5 * 7, 8 * 91])
def test_closed_form_matches_the_real_coroutines(
    collective: str, algorithm: str, p: int, nbytes: int
) -> None:
    sim = simulate(collective, algorithm, p, nbytes, M)
    got = predict(collective, algorithm, p, nbytes, M)
    assert got.messages == sim.messages == len(sim.trace)
    assert got.bytes_per_rank == sim.bytes_per_rank
    if _exact_time(collective, algorithm, p):
        assert got.time == pytest.approx(sim.time, rel=1e-9, abs=1e-15)
    else:
        assert sim.time <= got.time <= sim.time * 1.01


@settings(max_examples=60, deadline=None)
@given(
    pair=st.sampled_from(PAIRS),
    p=st.integers(2, 12),
    items=st.integers(1, 300),
    itemsize=st.sampled_from([1, 4, 8]),
)
def test_closed_form_matches_for_any_size(
    pair: tuple[str, str], p: int, items: int, itemsize: int
) -> None:
    collective, algorithm = pair
    nbytes = items * itemsize
    sim = simulate(collective, algorithm, p, nbytes, M, itemsize=itemsize)
    got = predict(collective, algorithm, p, nbytes, M, itemsize=itemsize)
    assert (got.messages, got.bytes_per_rank) == (sim.messages, sim.bytes_per_rank)
    assert sim.time * (1 - 1e-9) <= got.time <= sim.time * 1.01


def _rounds_of(trace: list[tuple[int, int, int]], p: int) -> list[list[tuple[int, int]]]:
    """Per rank, its messages as (dest, bytes) in order."""
    out: list[list[tuple[int, int]]] = [[] for _ in range(p)]
    for src, dst, n in trace:
        out[src].append((dst, n))
    return out


@pytest.mark.parametrize("p", range(2, 17))
def test_message_patterns(p: int) -> None:
    n = 8 * p * 4  # blocks divide evenly
    L = rounds(p)
    per = _rounds_of(simulate("barrier", "dissemination", p, 0, M).trace, p)
    assert per == [[((r + (1 << k)) % p, 0) for k in range(L)] for r in range(p)]
    per = _rounds_of(simulate("allreduce", "ring", p, n, M).trace, p)
    assert per == [[((r + 1) % p, n // p)] * (2 * (p - 1)) for r in range(p)]
    per = _rounds_of(simulate("alltoall", "pairwise", p, n, M).trace, p)
    assert per == [[((r + s) % p, n) for s in range(1, p)] for r in range(p)]
    per = _rounds_of(simulate("allgather", "bruck", p, n, M).trace, p)
    want = [
        [((r - (1 << k)) % p, min(1 << k, p - (1 << k)) * n) for k in range(L)] for r in range(p)
    ]
    assert per == want
    trace = simulate("bcast", "binomial", p, n, M).trace
    assert sorted(dst for _, dst, _ in trace) == list(range(1, p))  # each rank once
    assert all(b == n for _, _, b in trace)
    if p & (p - 1) == 0:
        per = _rounds_of(simulate("allreduce", "recursive_doubling", p, n, M).trace, p)
        assert per == [[(r ^ (1 << k), n) for k in range(L)] for r in range(p)]


@pytest.mark.parametrize("p", [2, 3, 5, 8, 64, 1000, 10_000, 100_000])
def test_known_closed_forms(p: int) -> None:
    a, b, g = M.alpha, M.beta, M.gamma
    L = math.ceil(math.log2(p))
    assert predict("barrier", "dissemination", p, 0, M).time == pytest.approx(L * a)
    assert predict("barrier", "dissemination", p, 0, M).messages == p * L
    n = 8 * p * 1024
    ring = predict("allreduce", "ring", p, n, M)
    assert ring.bytes_per_rank == 2 * (p - 1) * n // p
    assert ring.time == pytest.approx(
        2 * (p - 1) * a + 2 * (p - 1) / p * n * b + (p - 1) / p * n * g
    )
    assert predict("bcast", "binomial", p, n, M).time == pytest.approx(L * (a + b * n))
    assert predict("alltoall", "pairwise", p, 8, M).time == pytest.approx((p - 1) * (a + 8 * b))
    if p & (p - 1) == 0:
        rd = predict("allreduce", "recursive_doubling", p, n, M)
        assert rd.time == pytest.approx(L * (a + b * n + g * n))
        rab = predict("allreduce", "rabenseifner", p, n, M)
        assert rab.bytes_per_rank == 2 * (p - 1) * n // p
        assert rab.time == pytest.approx(2 * L * a + 2 * (p - 1) / p * n * b + (p - 1) / p * n * g)
        sa = predict("bcast", "scatter_allgather", p, n, M)
        assert sa.time == pytest.approx((L + p - 1) * a + 2 * (p - 1) / p * n * b)


@settings(max_examples=200, deadline=None)
@given(
    pair=st.sampled_from(PAIRS),
    p=st.integers(1, 100_000),
    n1=st.integers(0, 2**26),
    n2=st.integers(0, 2**26),
)
def test_cost_is_monotone_in_bytes(pair: tuple[str, str], p: int, n1: int, n2: int) -> None:
    if pair[0] in ("allgather", "alltoall") and p > 20_000 and pair[1] != "bruck":
        p = 20_000  # keep the O(p) forms quick
    lo, hi = sorted((n1, n2))
    a, b = predict(*pair, p, lo, M), predict(*pair, p, hi, M)
    assert a.time <= b.time
    assert a.bytes_per_rank <= b.bytes_per_rank
    assert a.messages == b.messages


def test_rejects_unknown_algorithms() -> None:
    with pytest.raises(ValueError, match="unknown algorithm"):
        predict("allreduce", "bruck", 4, 8, M)
    with pytest.raises(ValueError, match="p must be"):
        simulate("barrier", "dissemination", 0, 0, M)


def test_plan_takes_the_models_choice_at_scale() -> None:
    from functools import partial

    from zmqmesh.collectives.plan import AUTOMATIC, plan

    choose = partial(plan, kind="general", config=AUTOMATIC)

    big = 16 * 2**20
    # measured at small p: ring for a non-power-of-two large allreduce
    assert choose("allreduce", size=3, nbytes=big, segmentable=True) == "ring"
    # priced at large p: the ring's (p - 1) latency terms lose
    assert choose("allreduce", size=1000, nbytes=big, segmentable=True) == "rabenseifner"
    assert choose("bcast", size=4, nbytes=big, segmentable=True) == "binomial"
    assert choose("bcast", size=64, nbytes=big, segmentable=True) == "scatter_allgather"
    assert choose("bcast", size=4096, nbytes=big, segmentable=True) == "binomial"
