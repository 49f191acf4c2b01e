"""The cost model of :mod:`~zmqmesh.collectives.simulate` fitted to
measurements: pure arithmetic on numbers a benchmark took
(``python -m bench scale`` takes them and calls this).

Three steps, each on what it can see:

1. :func:`fit_alpha_beta`: ``alpha`` and ``beta`` from a ping-pong's half
   round trips, a bare message.
2. :func:`fit_overheads`: ``step`` (per message) and ``call`` (per call),
   what collectives add to bare messages, from collectives measured with a
   core per rank. The model's time is linear in both, so this is a linear
   least-squares fit.
3. :func:`fit_share`: ``share``, how much sharing cores slows every cost,
   from collectives measured with more ranks than cores.

Errors are relative throughout, so that a collective of 8 B weighs as much
as one of 16 MiB.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from zmqmesh.collectives.simulate import Model, predict

__all__ = [
    "SHARES",
    "Sample",
    "fit",
    "fit_alpha_beta",
    "fit_overheads",
    "fit_share",
    "held_out",
]

# The shares fit_share tries: 0 (sharing costs nothing) .. 8, by 0.005.
SHARES = np.linspace(0.0, 8.0, 1601)


@dataclass(frozen=True, slots=True)
class Sample:
    """One measured collective: ``seconds`` per call of ``collective`` by
    ``algorithm`` on ``ranks`` ranks with ``nbytes`` (as ``predict`` counts
    them)."""

    ranks: int
    collective: str
    algorithm: str
    nbytes: int
    seconds: float

    def predicted(self, model: Model) -> float:
        """What ``model`` says this call takes, seconds."""
        return predict(self.collective, self.algorithm, self.ranks, self.nbytes, model).time

    def error(self, model: Model) -> float:
        """``(model - measured) / measured``."""
        return self.predicted(model) / self.seconds - 1.0


def fit_alpha_beta(half_rtt: Mapping[int, float]) -> tuple[float, float]:
    """``(alpha, beta)`` of ``alpha + beta * size`` fitted to ``half_rtt``
    (bytes -> seconds) by least squares on the relative error; beta at
    least 0. Raises ``ValueError`` with fewer than two sizes."""
    if len(half_rtt) < 2:
        raise ValueError(f"need at least two sizes, got {len(half_rtt)}")
    rows = np.array([[1 / t, s / t] for s, t in sorted(half_rtt.items())])
    (alpha, beta), *_ = np.linalg.lstsq(rows, np.ones(len(rows)), rcond=None)
    return float(alpha), max(float(beta), 0.0)


def _one_per_core(model: Model, samples: Iterable[Sample]) -> list[Sample]:
    return [s for s in samples if model.cores <= 0 or s.ranks <= model.cores]


def fit_overheads(base: Model, samples: Iterable[Sample]) -> Model:
    """``base`` with the ``step`` and ``call`` (both at least 0) that fit
    ``samples`` best, least squares on the relative error; ``base``'s own
    ``step`` and ``call`` are replaced, its stretch is not used (the samples
    should have a core per rank). Without samples, ``base`` unchanged.

    The model's time is ``base``'s with step and call 0, plus ``step`` per
    message on the longest chain of messages, plus ``call``.
    """
    base = dataclasses.replace(base, step=0.0, call=0.0, cores=0)
    chain_model = Model(0.0, 0.0, step=1.0)  # its time: the chain's length
    rows, rhs = [], []
    for s in samples:
        rows.append([s.predicted(chain_model) / s.seconds, 1.0 / s.seconds])
        rhs.append(1.0 - s.predicted(base) / s.seconds)
    if not rows:
        return base
    a, b = np.array(rows), np.array(rhs)
    # Least squares with both >= 0: the best of the unconstrained fit, each
    # one alone (the other at 0) and neither, among those without a negative.
    candidates = [np.linalg.lstsq(a, b, rcond=None)[0], np.zeros(2)]
    for keep in (0, 1):
        x = np.zeros(2)
        x[keep] = np.linalg.lstsq(a[:, [keep]], b, rcond=None)[0][0]
        candidates.append(x)
    ok = [x for x in candidates if (x >= 0).all()]
    step, call = min(ok, key=lambda x: float(np.sum((a @ x - b) ** 2)))
    return dataclasses.replace(base, step=float(step), call=float(call))


def fit_share(model: Model, samples: Iterable[Sample]) -> Model:
    """``model`` with the ``share`` in :data:`SHARES` that fits the samples
    with more ranks than ``model.cores`` best, least squares on the
    logarithm of model over measured. Without such samples (or without
    ``cores``), ``model`` unchanged."""
    over = [s for s in samples if 0 < model.cores < s.ranks]
    if not over:
        return model
    alone = dataclasses.replace(model, cores=0)
    x = np.array([s.ranks / model.cores - 1.0 for s in over])
    log_ratio = np.log([s.predicted(alone) / s.seconds for s in over])
    loss = [float(np.sum((np.log1p(share * x) + log_ratio) ** 2)) for share in SHARES]
    return dataclasses.replace(model, share=float(SHARES[int(np.argmin(loss))]))


def fit(base: Model, samples: Iterable[Sample]) -> Model:
    """``base`` (its alpha, beta, gamma and cores) with ``step`` and
    ``call`` fitted to the samples with a core per rank, then ``share`` to
    the others."""
    samples = list(samples)
    fitted = fit_overheads(base, _one_per_core(base, samples))
    return fit_share(dataclasses.replace(fitted, cores=base.cores), samples)


def held_out(base: Model, samples: Iterable[Sample]) -> dict[str, float]:
    """Per collective, the median ``|error|`` on its samples with a core per
    rank of ``step`` and ``call`` fitted to the other collectives' samples:
    the fit judged on calls it did not see."""
    samples = _one_per_core(base, samples)
    out = {}
    for collective in sorted({s.collective for s in samples}):
        model = fit_overheads(base, [s for s in samples if s.collective != collective])
        out[collective] = statistics.median(
            abs(s.error(model)) for s in samples if s.collective == collective
        )
    return out
