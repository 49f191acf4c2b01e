"""Which algorithm a collective runs: by bytes, communicator size and
topology, unless the job forces one.

Pure policy. Every rank must pick the same algorithm for the same call, so
a choice may depend only on what every rank knows alike: the communicator
size, the op, and the array's size where every rank holds an array of the
same shape (allreduce; bcast, whose root announces the size first). For
allgather and alltoall each rank's items may differ in size, so the choice
depends on the communicator size alone.

Thresholds. ``python -m bench coll --algorithms`` on a 2-core machine
(2026-11-22, 5 rounds, medians, same-host shared memory with lent result
blocks) gave, for float64 allreduce:

    ranks  size     recursive doubling  Rabenseifner  ring
    2      64 KiB   69 us               112 us        111 us
    2      1 MiB    308 us              399 us        407 us
    2      4 MiB    888 us              911 us        955 us
    2      16 MiB   4.90 ms             2.76 ms       2.83 ms
    4      1 MiB    1.88 ms             2.35 ms       3.22 ms
    4      4 MiB    4.48 ms             4.40 ms       5.68 ms
    4      16 MiB   24.4 ms             13.4 ms       14.6 ms

so arrays below ``ALLREDUCE_LARGE`` (4 MiB, where the three meet) use
recursive doubling and larger ones a bandwidth-optimal algorithm:
Rabenseifner for powers of two, and otherwise whichever of ring and
Rabenseifner (with its fold-in) the cost model prices lower. For bcast,
binomial beat scatter + ring allgather at 2 ranks (16 MiB: 1.33 vs 3.62 ms)
and 4 ranks (16 MiB: 5.51 vs 10.01 ms), so scatter-allgather is left to 8
ranks and more, where the model decides.

Beyond what two cores can run, choices come from ``simulate.predict``
(the algorithms' own message patterns priced with an alpha-beta-gamma
model) with ``MODEL``, the parameters ``python -m bench scale`` fitted here
(alpha 62.5 us, 6.5 GB/s, np.add at 14.7 GB/s). It finds, for example,
that a non-power-of-two ring allreduce of 16 MiB loses to Rabenseifner from
57 ranks on (its latency term grows with p), and that scatter-allgather
bcast of 16 MiB loses to binomial from 256 ranks on.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping

from zmqmesh.collectives.simulate import Model, predict

__all__ = ["ALGORITHMS", "choose", "config", "forced"]

ALGORITHMS: dict[str, tuple[str, ...]] = {
    "allreduce": ("recursive_doubling", "ring", "rabenseifner"),
    "bcast": ("binomial", "scatter_allgather"),
    "allgather": ("bruck", "ring"),
    "alltoall": ("bruck", "pairwise"),
}

# Arrays of this many bytes or more use a bandwidth-optimal allreduce.
ALLREDUCE_LARGE = 4 * 1024 * 1024
# A bcast at least this large, on at least this many ranks, goes scatter +
# ring allgather.
BCAST_LARGE = 512 * 1024
BCAST_SA_MIN_SIZE = 8
# Bruck's alltoall sends items up to log2(p) hops: worth it only when
# rounds dominate, which at our per-message cost means many ranks.
ALLTOALL_BRUCK_MIN_SIZE = 9

# Fitted by ``python -m bench scale`` (see the module docstring).
MODEL = Model(alpha=62.5e-6, beta=0.153e-9, gamma=0.068e-9)

_forced: dict[str, str] = {}
_env_read = False


def _check(name: str, algorithm: str) -> str:
    if name not in ALGORITHMS:
        raise ValueError(f"no algorithm choice for {name!r}; choose among {sorted(ALGORITHMS)}")
    if algorithm not in ALGORITHMS[name]:
        raise ValueError(
            f"unknown {name} algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS[name])}"
        )
    return algorithm


def _read_env(env: Mapping[str, str]) -> None:
    global _env_read
    _env_read = True
    for name in ALGORITHMS:
        value = env.get(f"ZMQMESH_{name.upper()}")
        if value and name not in _forced:
            _forced[name] = _check(name, value.strip().lower())


def config(**algorithms: str | None) -> dict[str, str]:
    """Force collective algorithms for this process, e.g.
    ``zmqmesh.config(allreduce="ring")``; ``None`` returns a collective to
    automatic choice. Returns the forced settings now in effect.

    The environment variables ``ZMQMESH_ALLREDUCE``, ``ZMQMESH_BCAST``,
    ``ZMQMESH_ALLGATHER`` and ``ZMQMESH_ALLTOALL`` do the same for a whole
    job. Every rank must force the same algorithms. A forced algorithm that
    cannot run a given call (ring or Rabenseifner allreduce of a non-array
    or with a non-commutative op, scatter-allgather bcast of a non-array)
    falls back to the default for that call. Raises ``ValueError`` for an
    unknown collective or algorithm name.
    """
    if not _env_read:
        _read_env(os.environ)
    for name, algorithm in algorithms.items():
        if algorithm is None:
            _check(name, ALGORITHMS.get(name, ("",))[0])
            _forced.pop(name, None)
        else:
            _forced[name] = _check(name, algorithm)
    return dict(_forced)


def forced(name: str) -> str | None:
    """The algorithm forced for collective ``name``, if any."""
    if not _env_read:
        _read_env(os.environ)
    return _forced.get(name)


def choose(
    name: str, *, size: int, nbytes: int = 0, segmentable: bool = False, commute: bool = True
) -> str:
    """The algorithm for one call of collective ``name``.

    ``nbytes`` and ``segmentable`` describe an array payload that every rank
    knows alike (same shape everywhere); ``commute`` is the op's.
    """
    want = forced(name)
    if name == "allreduce":
        large_ok = segmentable and commute and size > 1
        if want is not None and (want == "recursive_doubling" or large_ok):
            return want
        if not large_ok or nbytes < ALLREDUCE_LARGE:
            return "recursive_doubling"
        if size & (size - 1) == 0:
            return "rabenseifner"
        return _cheapest("allreduce", ("ring", "rabenseifner"), size, nbytes)
    if name == "bcast":
        if want is not None and (want == "binomial" or segmentable):
            return want
        if not segmentable or size < BCAST_SA_MIN_SIZE or nbytes < BCAST_LARGE:
            return "binomial"
        return _cheapest("bcast", ("binomial", "scatter_allgather"), size, nbytes)
    if name == "allgather":
        return want or "bruck"
    if name == "alltoall":
        return want or ("bruck" if size >= ALLTOALL_BRUCK_MIN_SIZE else "pairwise")
    raise ValueError(f"no algorithm choice for {name!r}")


@functools.lru_cache(maxsize=4096)
def _cheapest(collective: str, algorithms: tuple[str, ...], size: int, nbytes: int) -> str:
    """The algorithm the cost model prices lowest (ties: the first)."""
    return min(algorithms, key=lambda a: predict(collective, a, size, nbytes, MODEL).time)
