"""The cost model of :mod:`~zmqmesh.collectives.simulate` fitted to
measurements: pure arithmetic on numbers a benchmark took
(``python -m bench scale`` takes them and calls this).

Three steps, each on what it can see:

1. :func:`fit_alpha_beta`: ``alpha`` and ``beta`` from a ping-pong's half
   round trips, a bare message.
2. :func:`fit_overheads`: ``step`` (per message) and ``call`` (per call),
   what collectives add to bare messages, from collectives measured with a
   core per rank. The model's time is linear in both, so this is a linear
   fit (least absolute errors: see there).
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
    ``samples`` best: the least sum of absolute relative errors. ``base``'s
    own ``step`` and ``call`` are replaced and its stretch is not used (the
    samples should have a core per rank). Without samples, ``base``
    unchanged but for those.

    The model's time is ``base``'s with step and call 0, plus ``step`` per
    message on the longest chain of messages, plus ``call``: linear in
    both. Absolute rather than squared errors, because other processes on
    the machine only ever add time, and in bursts: a burst that hit one
    sample moves a least-squares fit, not this one.
    """
    base = dataclasses.replace(base, step=0.0, call=0.0, cores=0)
    chain_model = Model(0.0, 0.0, step=1.0)  # its time: the chain's length
    rows, rhs = [], []
    for s in samples:
        rows.append([s.predicted(chain_model) / s.seconds, 1.0 / s.seconds])
        rhs.append(1.0 - s.predicted(base) / s.seconds)
    if not rows:
        return base
    step, call = _least_absolute(np.array(rows), np.array(rhs))
    return dataclasses.replace(base, step=float(step), call=float(call))


def _least_absolute(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The ``x >= 0`` (two of them) with the least ``sum |a @ x - b|``.

    The sum is convex and piecewise linear, so some minimum lies on a
    vertex: where two residuals are 0, or one is and x is 0 in the other
    coordinate, or x is 0. Every vertex is tried (ties: the first, in that
    order)."""
    n = len(b)
    cands: list[np.ndarray] = [np.zeros(2)]
    for k in (0, 1):  # the other coordinate 0: one residual 0
        col = a[:, k]
        ok = col != 0
        x = np.zeros((int(ok.sum()), 2))
        x[:, k] = b[ok] / col[ok]
        cands.append(x)
    i, j = np.triu_indices(n, 1)  # two residuals 0
    det = a[i, 0] * a[j, 1] - a[i, 1] * a[j, 0]
    ok = np.abs(det) > 1e-12 * (np.abs(a[i]).max(axis=1) * np.abs(a[j]).max(axis=1))
    i, j, det = i[ok], j[ok], det[ok]
    x0 = (b[i] * a[j, 1] - a[i, 1] * b[j]) / det
    x1 = (a[i, 0] * b[j] - b[i] * a[j, 0]) / det
    cands.append(np.stack([x0, x1], axis=1))
    xs = np.vstack([c.reshape(-1, 2) for c in cands])
    xs = xs[(xs >= 0).all(axis=1)]
    loss = np.abs(xs @ a.T - b).sum(axis=1)
    best: np.ndarray = xs[int(np.argmin(loss))]
    return best


def fit_share(model: Model, samples: Iterable[Sample]) -> Model:
    """``model`` with the ``share`` in :data:`SHARES` that fits the samples
    with more ranks than ``model.cores`` best: the least sum of absolute
    logarithms of model over measured. Without such samples (or without
    ``cores``), ``model`` unchanged."""
    over = [s for s in samples if 0 < model.cores < s.ranks]
    if not over:
        return model
    alone = dataclasses.replace(model, cores=0)
    x = np.array([s.ranks / model.cores - 1.0 for s in over])
    log_ratio = np.log([s.predicted(alone) / s.seconds for s in over])
    loss = [float(np.sum(np.abs(np.log1p(share * x) + log_ratio))) for share in SHARES]
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
