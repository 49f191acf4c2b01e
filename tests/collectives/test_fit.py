"""Fitting the cost model: from measurements that a known model made, every
fit finds that model again; from any measurements, a model that is valid."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqmesh.collectives.fit import (
    SHARES,
    Sample,
    fit,
    fit_alpha_beta,
    fit_overheads,
    fit_share,
    held_out,
)
from zmqmesh.collectives.simulate import ALGORITHMS, Model

PAIRS = [(c, a) for c, algs in ALGORITHMS.items() for a in algs]
SIZES = (8, 65536, 1048576)


def measured(model: Model, ranks: tuple[int, ...] = (2, 4, 8)) -> list[Sample]:
    """What ``model`` says every algorithm takes, as measurements."""
    out = []
    for p in ranks:
        for collective, algorithm in PAIRS:
            for n in (0,) if collective == "barrier" else SIZES:
                s = Sample(p, collective, algorithm, n, 1.0)
                out.append(dataclasses.replace(s, seconds=s.predicted(model)))
    return out


alphas = st.floats(1e-6, 1e-3)
betas = st.floats(1e-11, 1e-8)
steps = st.floats(0, 1e-3)
shares = st.sampled_from(list(SHARES[::3]))


@given(alphas, betas)
def test_alpha_and_beta_from_a_ping_pong(alpha: float, beta: float) -> None:
    half_rtt = {n: alpha + beta * n for n in (8, 1024, 65536, 1048576, 16777216)}
    got = fit_alpha_beta(half_rtt)
    assert got == pytest.approx((alpha, beta), rel=1e-6)


def test_alpha_and_beta_need_two_sizes_and_beta_is_never_negative() -> None:
    with pytest.raises(ValueError, match="two sizes"):
        fit_alpha_beta({8: 1e-5})
    assert fit_alpha_beta({8: 2e-5, 1024: 1e-5})[1] == 0.0


@settings(max_examples=50, deadline=None)
@given(alphas, betas, steps, betas, steps)
def test_step_copy_and_call_found_again(
    alpha: float, beta: float, step: float, copy: float, call: float
) -> None:
    truth = Model(alpha, beta, 1e-10, step=step, copy=copy, call=call)
    got = fit_overheads(Model(alpha, beta, 1e-10), measured(truth, (2, 3, 5)))
    assert got.step == pytest.approx(step, rel=1e-6, abs=1e-12)
    assert got.copy == pytest.approx(copy, rel=1e-6, abs=1e-15)
    assert got.call == pytest.approx(call, rel=1e-6, abs=1e-12)
    assert (got.alpha, got.beta, got.gamma) == (alpha, beta, 1e-10)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(PAIRS), st.integers(2, 9), st.floats(1e-7, 1.0)),
        min_size=1,
        max_size=30,
    )
)
def test_the_overheads_are_never_negative(cells: list[tuple[tuple[str, str], int, float]]) -> None:
    samples = [Sample(p, c, a, 8, t) for (c, a), p, t in cells]
    got = fit_overheads(Model(1e-4, 1e-9), samples)
    assert got.step >= 0
    assert got.copy >= 0
    assert got.call >= 0


def test_without_samples_nothing_is_fitted() -> None:
    base = Model(1e-4, 1e-9, step=3.0, call=2.0, cores=2, share=0.5)
    assert fit_overheads(base, []) == dataclasses.replace(
        base, step=0.0, copy=0.0, call=0.0, cores=0
    )
    assert fit_share(base, measured(Model(1e-4, 1e-9), (2,))) == base  # no crowded runs
    assert fit_share(dataclasses.replace(base, cores=0), measured(base)).share == 0.5


@settings(max_examples=30, deadline=None)
@given(alphas, betas, steps, shares, shares)
def test_sharing_found_again(
    alpha: float, beta: float, step: float, share: float, share_bytes: float
) -> None:
    truth = Model(alpha, beta, 1e-10, step, 5e-10, 2e-5, 2, share, share_bytes)
    got = fit_share(dataclasses.replace(truth, share=1.0, share_bytes=1.0), measured(truth))
    assert got.share == pytest.approx(share, abs=1e-9)
    if beta > 1e-10:  # else the bytes cost too little to tell share_bytes
        assert got.share_bytes == pytest.approx(share_bytes, abs=1e-9)


@settings(max_examples=30, deadline=None)
@given(alphas, betas, steps, betas, steps, shares)
def test_the_whole_fit_predicts_what_it_was_fitted_to(
    alpha: float, beta: float, step: float, copy: float, call: float, share: float
) -> None:
    truth = Model(alpha, beta, 1e-10, step, copy, call, 2, share, share)
    samples = measured(truth)
    got = fit(Model(alpha, beta, 1e-10, cores=2), samples)
    assert max(abs(s.error(got)) for s in samples) < 1e-6
    assert max(held_out(Model(alpha, beta, 1e-10, cores=2), samples).values()) < 1e-6


def test_held_out_judges_each_collective_by_the_others() -> None:
    truth = Model(1e-4, 1e-9, 1e-10, step=5e-5, call=1e-4)
    samples = measured(truth, (2,))
    # one collective twice as slow as the model says: held out, it is off
    # by half, and by more than any other (fitted with it)
    slow = [
        dataclasses.replace(s, seconds=2 * s.seconds) if s.collective == "alltoall" else s
        for s in samples
    ]
    got = held_out(Model(1e-4, 1e-9, 1e-10), slow)
    assert set(got) == {"allgather", "allreduce", "alltoall", "barrier", "bcast"}
    assert got["alltoall"] == pytest.approx(0.5, abs=1e-6)
    assert max(got, key=lambda k: got[k]) == "alltoall"


@settings(max_examples=30, deadline=None)
@given(alphas, steps, steps, st.integers(0, 10**6), st.floats(1.5, 50))
def test_a_burst_on_one_sample_moves_no_fit(
    alpha: float, step: float, call: float, which: int, burst: float
) -> None:
    """Other processes only add time, in bursts: one sample many times too
    slow leaves step, copy, call and share where the others put them."""
    truth = Model(alpha, 1e-9, 1e-10, step, 5e-10, call, cores=2, share=1.5, share_bytes=0.5)
    samples = measured(truth)
    i = which % len(samples)
    samples[i] = dataclasses.replace(samples[i], seconds=burst * samples[i].seconds)
    got = fit(Model(alpha, 1e-9, 1e-10, cores=2), samples)
    assert got.step == pytest.approx(step, rel=1e-6, abs=1e-12)
    assert got.copy == pytest.approx(5e-10, rel=1e-6)
    assert got.call == pytest.approx(call, rel=1e-6, abs=1e-12)
    assert got.share == pytest.approx(1.5)
    assert got.share_bytes == pytest.approx(0.5)
