"""Which algorithm a collective runs: by bytes, communicator size and
topology, unless the job forces one.

Pure policy. Every rank must pick the same algorithm for the same call, so
a choice may depend only on what every rank knows alike: the communicator
size, the op, and the array's size where every rank holds an array of the
same shape (allreduce; bcast, whose root announces the size first). For
allgather and alltoall each rank's items may differ in size, so the choice
depends on the communicator size alone.

Thresholds come from ``python -m bench coll`` on a 2-core machine (see
bench/README.md for the tables they were read from).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["ALGORITHMS", "choose", "config", "forced"]

ALGORITHMS: dict[str, tuple[str, ...]] = {
    "allreduce": ("recursive_doubling", "ring", "rabenseifner"),
    "bcast": ("binomial", "scatter_allgather"),
    "allgather": ("bruck", "ring"),
    "alltoall": ("bruck", "pairwise"),
}

# Below this many bytes an allreduce is latency-bound: recursive doubling's
# log2(p) rounds beat the 2(p-1) rounds of the bandwidth-optimal algorithms.
ALLREDUCE_LARGE = 64 * 1024
# A bcast at least this large goes scatter + ring allgather (3+ ranks).
BCAST_LARGE = 512 * 1024
# Bruck's alltoall sends items up to log2(p) hops: worth it only when
# rounds dominate, which at our per-message cost means many ranks.
ALLTOALL_BRUCK_MIN_SIZE = 9

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
        return "rabenseifner" if size & (size - 1) == 0 else "ring"
    if name == "bcast":
        if want is not None and (want == "binomial" or segmentable):
            return want
        return (
            "scatter_allgather"
            if segmentable and size > 2 and nbytes >= BCAST_LARGE
            else "binomial"
        )
    if name == "allgather":
        return want or "bruck"
    if name == "alltoall":
        return want or ("bruck" if size >= ALLTOALL_BRUCK_MIN_SIZE else "pairwise")
    raise ValueError(f"no algorithm choice for {name!r}")
