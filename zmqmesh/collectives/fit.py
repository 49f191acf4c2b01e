"""The cost model of :mod:`~zmqmesh.collectives.simulate` fitted to
measurements: pure arithmetic on numbers a benchmark took
(``python -m bench scale`` takes them and calls this).

Three steps, each on what it can see:

1. :func:`fit_alpha_beta`: ``alpha`` and ``beta`` from a ping-pong's half
   round trips, a bare message.
2. :func:`fit_overheads`: ``step`` (per message), ``copy`` (per byte) and
   ``call`` (per call), what collectives add to bare messages, from
   collectives measured with a core per rank. The model's time is linear
   in them, so this is a linear fit (least absolute errors: see there).
3. :func:`fit_share`: ``share`` and ``share_bytes``, how much sharing
   cores slows the costs per message and per byte, from collectives
   measured with more ranks than cores.

Errors are relative throughout, so that a collective of 8 B weighs as much
as one of 16 MiB.
"""

from __future__ import annotations

import dataclasses
import itertools
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

# The shares fit_share tries: 0 (sharing costs nothing) .. 8, by 0.02.
SHARES = np.linspace(0.0, 8.0, 401)


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
    """``base`` with the ``step``, ``copy`` and ``call`` (each at least 0)
    that fit ``samples`` best: the least sum of absolute relative errors.
    ``base``'s own are replaced and its stretch is not used (the samples
    should have a core per rank). Without samples, ``base`` unchanged but
    for those.

    The model's time is ``base``'s with the three at 0, plus ``step`` per
    message and ``copy`` per byte on the longest chain of messages, plus
    ``call``. Absolute rather than squared errors, because other processes
    on the machine only ever add time, and in bursts: a burst that hit one
    sample moves a least-squares fit, not this one.
    """
    base = dataclasses.replace(base, step=0.0, copy=0.0, call=0.0, cores=0)
    per_message = Model(0.0, 0.0, step=1.0)  # its time: the chain's messages
    per_byte = Model(0.0, 0.0, copy=1.0)  # and their bytes
    rows, rhs = [], []
    for s in samples:
        terms = [s.predicted(per_message), s.predicted(per_byte), 1.0]
        rows.append([x / s.seconds for x in terms])
        rhs.append(1.0 - s.predicted(base) / s.seconds)
    if not rows:
        return base
    step, copy, call = _least_absolute(np.array(rows), np.array(rhs))
    return dataclasses.replace(base, step=float(step), copy=float(copy), call=float(call))


def _least_absolute(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The ``x >= 0`` with the least ``sum |a @ x - b|``.

    The sum is convex and piecewise linear, so some minimum lies on a
    vertex of the pieces: some coordinates of x at 0 and, for each of the
    others, one residual at 0. Every vertex is tried: for k unknowns and n
    rows, about C(n, k) of them (ties: the first found)."""
    n, k = a.shape
    best, best_loss = np.zeros(k), float(np.abs(b).sum())
    for free in range(1, min(k, n) + 1):
        for cols in itertools.combinations(range(k), free):
            rows = np.array(list(itertools.combinations(range(n), free)))
            m = a[:, cols][rows]  # (vertices, free, free)
            ok = np.abs(np.linalg.det(m)) > 1e-12 * np.abs(m).max(axis=(1, 2)) ** free
            if not ok.any():
                continue
            sol = np.linalg.solve(m[ok], b[rows[ok]][..., None])[..., 0]
            xs = np.zeros((len(sol), k))
            xs[:, cols] = sol
            xs = xs[(sol >= 0).all(axis=1)]
            if not len(xs):
                continue
            loss = np.abs(xs @ a.T - b).sum(axis=1)
            i = int(np.argmin(loss))
            if loss[i] < best_loss:
                best, best_loss = xs[i], float(loss[i])
    return best


def fit_share(model: Model, samples: Iterable[Sample]) -> Model:
    """``model`` with the ``share`` and ``share_bytes`` in :data:`SHARES`
    that fit the samples with more ranks than ``model.cores`` best: the
    least sum of absolute logarithms of model over measured. Without such
    samples (or without ``cores``), ``model`` unchanged."""
    over = [s for s in samples if 0 < model.cores < s.ranks]
    if not over:
        return model
    alone = dataclasses.replace(model, cores=0)
    per_message = dataclasses.replace(alone, beta=0.0, copy=0.0, gamma=0.0)
    per_byte = dataclasses.replace(alone, alpha=0.0, step=0.0, call=0.0)
    # a sample's time is (1 + share x) m + (1 + share_bytes x) b
    x = np.array([s.ranks / model.cores - 1.0 for s in over])
    m = np.array([s.predicted(per_message) / s.seconds for s in over])
    b = np.array([s.predicted(per_byte) / s.seconds for s in over])
    by_bytes = (1.0 + SHARES[:, None] * x) * b  # (share_bytes, sample)
    best = (np.inf, 0, 0)
    for i, share in enumerate(SHARES):
        ratio = (1.0 + share * x) * m + by_bytes
        loss = np.abs(np.log(ratio)).sum(axis=1)
        j = int(np.argmin(loss))
        if loss[j] < best[0]:
            best = (float(loss[j]), i, j)
    _, i, j = best
    return dataclasses.replace(model, share=float(SHARES[i]), share_bytes=float(SHARES[j]))


def fit(base: Model, samples: Iterable[Sample]) -> Model:
    """``base`` (its alpha, beta, gamma and cores) with ``step``, ``copy``
    and ``call`` fitted to the samples with a core per rank, then ``share``
    and ``share_bytes`` to the others."""
    samples = list(samples)
    fitted = fit_overheads(base, _one_per_core(base, samples))
    return fit_share(dataclasses.replace(fitted, cores=base.cores), samples)


def held_out(base: Model, samples: Iterable[Sample]) -> dict[str, float]:
    """Per collective, the median ``|error|`` on its samples with a core per
    rank of ``step``, ``copy`` and ``call`` fitted to the other
    collectives' samples: the fit judged on calls it did not see."""
    samples = _one_per_core(base, samples)
    out = {}
    for collective in sorted({s.collective for s in samples}):
        model = fit_overheads(base, [s for s in samples if s.collective != collective])
        out[collective] = statistics.median(
            abs(s.error(model)) for s in samples if s.collective == collective
        )
    return out
