"""The simulator: the real coroutines' recorded messages against the closed
forms that price p = 100,000, and the closed forms against known results."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqmesh.collectives.simulate import ALGORITHMS, Model, predict, rounds, simulate

PAIRS = [(c, a) for c, algs in ALGORITHMS.items() for a in algs]
M = Model(alpha=1e-5, beta=1e-9, gamma=3e-10)
# with the software terms, and with ranks sharing 3 cores
M_STEP = Model(alpha=1e-5, beta=1e-9, gamma=3e-10, step=4e-6, copy=5e-10, call=2e-5)
M_SHARED = Model(
    1e-5, 1e-9, 3e-10, step=4e-6, copy=5e-10, call=2e-5, cores=3, share=1.5, share_bytes=0.5
)
MODELS = [M, M_STEP, M_SHARED]


def _exact_time(collective: str, algorithm: str, p: int) -> bool:
    # Rabenseifner's closed form is an upper bound off powers of two
    return not (algorithm == "rabenseifner" and p & (p - 1))


@pytest.mark.parametrize(("collective", "algorithm"), PAIRS)
@pytest.mark.parametrize("p", [*range(1, 10), 16])
@pytest.mark.parametrize("nbytes", [8, 8 * 16 * 9 * 5 * 7, 8 * 91])
@pytest.mark.parametrize("model", MODELS, ids=["abg", "step", "shared"])
def test_closed_form_matches_the_real_coroutines(
    collective: str, algorithm: str, p: int, nbytes: int, model: Model
) -> None:
    sim = simulate(collective, algorithm, p, nbytes, model)
    got = predict(collective, algorithm, p, nbytes, model)
    assert got.messages == sim.messages == len(sim.trace)
    assert got.bytes_per_rank == sim.bytes_per_rank
    if _exact_time(collective, algorithm, p):
        assert got.time == pytest.approx(sim.time, rel=1e-9, abs=1e-15)
    else:
        assert sim.time * (1 - 1e-9) <= got.time <= sim.time * 1.01


@settings(max_examples=60, deadline=None)
@given(
    pair=st.sampled_from(PAIRS),
    p=st.integers(2, 12),
    items=st.integers(1, 300),
    itemsize=st.sampled_from([1, 4, 8]),
    model=st.sampled_from(MODELS),
)
def test_closed_form_matches_for_any_size(
    pair: tuple[str, str], p: int, items: int, itemsize: int, model: Model
) -> None:
    collective, algorithm = pair
    nbytes = items * itemsize
    sim = simulate(collective, algorithm, p, nbytes, model, itemsize=itemsize)
    got = predict(collective, algorithm, p, nbytes, model, itemsize=itemsize)
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
    # bcast as a general communicator runs it: the data (with the tag that
    # says binomial) reaches each rank once, then the ranks agree
    trace = simulate("bcast", "binomial", p, n, M).trace
    data = [(dst, b) for _, dst, b in trace if b != 16]
    assert sorted(dst for dst, _ in data) == list(range(1, p))  # each rank once
    assert all(b == n + 8 for _, b in data)
    agree = _rounds_of([m for m in trace if m[2] == 16], p)
    assert agree == [[((r + (1 << k)) % p, 16) for k in range(L)] for r in range(p)]
    # scatter_allgather: announced by its shape and dtype down the same tree
    trace = simulate("bcast", "scatter_allgather", p, n, M).trace
    assert sorted(dst for _, dst, b in trace if b == 24) == list(range(1, p))
    if p & (p - 1) == 0:
        per = _rounds_of(simulate("allreduce", "recursive_doubling", p, n, M).trace, p)
        assert per == [[(r ^ (1 << k), n) for k in range(L)] for r in range(p)]


@pytest.mark.parametrize("p", [2, 3, 5, 8, 64, 1000, 10_000, 100_000])
@pytest.mark.parametrize("model", [M, M_STEP], ids=["abg", "step"])
def test_known_closed_forms(p: int, model: Model) -> None:
    # a message costs alpha + step (+ beta + copy per byte); a call, call once
    a, b, g, c = model.alpha + model.step, model.beta + model.copy, model.gamma, model.call
    L = math.ceil(math.log2(p))

    def time(collective: str, algorithm: str, nbytes: int) -> float:
        return predict(collective, algorithm, p, nbytes, model).time

    assert time("barrier", "dissemination", 0) == pytest.approx(L * a + c)
    assert predict("barrier", "dissemination", p, 0, model).messages == p * L
    n = 8 * p * 1024
    ring = predict("allreduce", "ring", p, n, model)
    assert ring.bytes_per_rank == 2 * (p - 1) * n // p
    assert ring.time == pytest.approx(
        2 * (p - 1) * a + 2 * (p - 1) / p * n * b + (p - 1) / p * n * g + c
    )
    # bcast: the data with its 8-byte tag down a binomial tree, then the
    # agreement (dissemination of two 8-byte signatures)
    agree = L * (a + 16 * b)
    assert time("bcast", "binomial", n) == pytest.approx(L * (a + b * (n + 8)) + agree + c)
    assert time("alltoall", "pairwise", 8) == pytest.approx((p - 1) * (a + 8 * b) + c)
    if p & (p - 1) == 0:
        assert time("allreduce", "recursive_doubling", n) == pytest.approx(
            L * (a + b * n + g * n) + c
        )
        rab = predict("allreduce", "rabenseifner", p, n, model)
        assert rab.bytes_per_rank == 2 * (p - 1) * n // p
        assert rab.time == pytest.approx(
            2 * L * a + 2 * (p - 1) / p * n * b + (p - 1) / p * n * g + c
        )
        # announced (tag, shape and dtype: 24 bytes) down the tree first
        announce = L * (a + 24 * b)
        assert time("bcast", "scatter_allgather", n) == pytest.approx(
            announce + (L + p - 1) * a + 2 * (p - 1) / p * n * b + agree + c
        )


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


# -- the model's software and sharing terms --------------------------------------

times = st.floats(0, 1e-3)


@given(
    cores=st.integers(0, 64),
    shares=st.tuples(st.floats(0, 8), st.floats(0, 8)),
    p1=st.integers(1, 100_000),
    p2=st.integers(1, 100_000),
)
def test_sharing_cores_stretches_from_one_and_only_grows(
    cores: int, shares: tuple[float, float], p1: int, p2: int
) -> None:
    m = Model(1e-5, 1e-9, cores=cores, share=shares[0], share_bytes=shares[1])
    lo, hi = sorted((p1, p2))
    for k in (0, 1):
        assert 1.0 <= m.stretch(lo)[k] <= m.stretch(hi)[k]
        if cores == 0 or hi <= cores:
            assert m.stretch(hi)[k] == 1.0
        else:
            assert m.stretch(hi)[k] == pytest.approx(1 + shares[k] * (hi / cores - 1))
    assert m.at(hi).cores == 0
    assert m.at(hi).stretch(10**9) == (1.0, 1.0)


@settings(max_examples=200, deadline=None)
@given(
    pair=st.sampled_from(PAIRS),
    p=st.integers(1, 5000),
    nbytes=st.integers(0, 2**26),
    cores=st.integers(1, 64),
    shares=st.tuples(st.floats(0, 8), st.floats(0, 8)),
)
def test_sharing_cores_stretches_each_kind_of_cost_by_its_own_share(
    pair: tuple[str, str], p: int, nbytes: int, cores: int, shares: tuple[float, float]
) -> None:
    share, share_bytes = shares
    shared = Model(1e-5, 1e-9, 3e-10, 4e-6, 5e-10, 2e-5, cores, share, share_bytes)
    f, g = shared.stretch(p)
    # costs per message and per call only: share_bytes does not count
    messages = dataclasses.replace(shared, beta=0.0, copy=0.0, gamma=0.0)
    alone = predict(*pair, p, nbytes, dataclasses.replace(messages, cores=0)).time
    assert predict(*pair, p, nbytes, messages).time == pytest.approx(f * alone, rel=1e-12)
    # per byte only: share does not
    per_byte = dataclasses.replace(shared, alpha=0.0, step=0.0, call=0.0)
    alone = predict(*pair, p, nbytes, dataclasses.replace(per_byte, cores=0)).time
    assert predict(*pair, p, nbytes, per_byte).time == pytest.approx(g * alone, rel=1e-12)
    # one share for both: every algorithm slowed alike, so the cheapest
    # stays the cheapest
    even = dataclasses.replace(shared, share_bytes=share)
    base = predict(*pair, p, nbytes, dataclasses.replace(even, cores=0))
    got = predict(*pair, p, nbytes, even)
    assert got.time == pytest.approx(f * base.time, rel=1e-12)
    assert (got.messages, got.bytes_per_rank) == (base.messages, base.bytes_per_rank)


@settings(max_examples=200, deadline=None)
@given(
    pair=st.sampled_from(PAIRS),
    p=st.integers(1, 5000),
    nbytes=st.integers(0, 2**26),
    terms=st.tuples(times, times, times, times, times, times),
    k=st.floats(0.01, 100),
)
def test_time_is_linear_in_the_models_terms(
    pair: tuple[str, str],
    p: int,
    nbytes: int,
    terms: tuple[float, float, float, float, float, float],
    k: float,
) -> None:
    alpha, step, call, beta, copy, gamma = terms
    beta, copy, gamma = beta * 1e-6, copy * 1e-6, gamma * 1e-6  # per byte
    m = Model(alpha, beta, gamma, step=step, copy=copy, call=call)
    t = predict(*pair, p, nbytes, m).time
    # every term k times as long: the call k times as long
    scaled = Model(k * alpha, k * beta, k * gamma, step=k * step, copy=k * copy, call=k * call)
    assert predict(*pair, p, nbytes, scaled).time == pytest.approx(k * t, rel=1e-9, abs=1e-15)
    # step is charged where alpha is, copy where beta is; call once per
    # call (none for one rank)
    folded = predict(*pair, p, nbytes, Model(alpha + step, beta + copy, gamma)).time
    assert t == pytest.approx(folded + (call if p > 1 else 0.0), rel=1e-9, abs=1e-15)
