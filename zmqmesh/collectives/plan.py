"""Which algorithm a collective runs: by communicator kind, bytes and size,
unless the job forces one.

Pure policy: :func:`plan` is the one place that chooses, for every
communicator, and its configuration (:class:`CollConfig`) is passed in.
Every rank must pick the same algorithm for the same call, so a choice may
depend only on what every rank knows alike: the communicator's kind and
size, the op, and the array's size where every rank holds an array of the
same shape (allreduce; bcast, whose root announces its choice first;
alltoall of one array whose rows are the items, where the call's signature
carries the array's shape and dtype: ``signature.alltoall_sig`` and
``item_bytes`` give plan's arguments from the signature alone). For
allgather, and alltoall of a sequence of items, each rank's items may
differ in size, so the choice depends on the communicator size alone;
``Comm.alltoall`` takes a sequence and passes no size.

Communicator kinds. ``general`` (the world, and what ``split``/``dup``
make) and a ``full`` topology (it has every edge) run the algorithms
chosen below. A ``ring``, ``tree`` or ``mesh`` topology talks along its
edges only, so every collective runs over a spanning tree of its edges
(``tree``), except that a ring runs the ring allgather, and the ring
allreduce for arrays from ``ALLREDUCE_LARGE`` on. Forced algorithms apply
to ``general`` and ``full`` communicators only: the others cannot run them.

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
model, plus what collectives add per message, per byte and per call) with
``MODEL``, the parameters ``python -m bench scale`` fitted here (see
``MODEL``). It finds, for example, that a non-power-of-two ring allreduce
of 16 MiB loses to Rabenseifner from 60 ranks on (its latency term grows
with p), that scatter-allgather bcast of 16 MiB loses to binomial from 336
ranks on, and that pairwise alltoall beats Bruck's for items from 164 KB at
64 ranks, and from 52 KB at 100,000 (Bruck forwards each item up to
log2(p) times, pairwise sends p - 1 messages).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from zmqmesh.collectives.simulate import Model, predict

__all__ = [
    "ALGORITHMS",
    "AUTOMATIC",
    "COLLECTIVES",
    "EDGE_KINDS",
    "KINDS",
    "CollConfig",
    "CollSettings",
    "plan",
]

# What a job may force, per collective: the algorithms of general
# communicators, the default first.
ALGORITHMS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "allreduce": ("recursive_doubling", "ring", "rabenseifner"),
        "bcast": ("binomial", "scatter_allgather"),
        "allgather": ("bruck", "ring"),
        "alltoall": ("bruck", "pairwise"),
    }
)
COLLECTIVES = (
    "barrier",
    "bcast",
    "scatter",
    "gather",
    "allgather",
    "reduce",
    "allreduce",
    "alltoall",
    "reduce_scatter",
    "scan",
    "exscan",
)
KINDS = ("general", "full", "ring", "tree", "mesh")
EDGE_KINDS = frozenset({"ring", "tree", "mesh"})  # may talk along their edges only

# Arrays of this many bytes or more use a bandwidth-optimal allreduce.
ALLREDUCE_LARGE = 4 * 1024 * 1024
# A bcast at least this large, on at least this many ranks, goes scatter +
# ring allgather.
BCAST_LARGE = 512 * 1024
BCAST_SA_MIN_SIZE = 8
# Alltoall of items whose size the ranks do not know alike: Bruck from
# this many ranks (see _alltoall).
ALLTOALL_BRUCK_MIN_SIZE = 9

# Fitted by ``python -m bench scale --rounds 5 --big-ranks 0`` on 2 cores
# (2026-12-07; medians of 5 rounds; model against measured: median error
# 11% on 2 ranks). Other processes were running, so the times here are two
# to three times a quiet run's (a quiet ping-pong once gave alpha 62.5 us,
# 6.5 GB/s); that slows the terms about alike, and a choice depends only on
# their ratios. With a core per rank: sharing cores is left out.
MODEL = Model(
    alpha=194e-6,
    beta=0.376e-9,
    gamma=0.165e-9,
    step=152e-6,
    copy=0.634e-9,
    call=282e-6,
)

_ENV_PREFIX = "ZMQMESH_"


def _check(name: str, algorithm: str) -> None:
    if name not in ALGORITHMS:
        raise ValueError(f"no algorithm choice for {name!r}; choose among {sorted(ALGORITHMS)}")
    if algorithm not in ALGORITHMS[name]:
        raise ValueError(
            f"unknown {name} algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS[name])}"
        )


@dataclass(frozen=True, slots=True)
class CollConfig:
    """The algorithms forced per collective, e.g. ``{"allreduce": "ring"}``;
    a collective not named is chosen by :func:`plan`. Every rank of a job
    must use the same configuration.

    Raises ``ValueError`` for an unknown collective or algorithm name.
    """

    forced: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, algorithm in self.forced.items():
            _check(name, algorithm)
        object.__setattr__(self, "forced", MappingProxyType(dict(self.forced)))

    def __hash__(self) -> int:
        return hash(frozenset(self.forced.items()))

    def forcing(self, **algorithms: str | None) -> CollConfig:
        """This configuration with ``algorithms`` forced; ``None`` returns a
        collective to automatic choice. Raises ``ValueError`` for an
        unknown collective or algorithm name."""
        forced = dict(self.forced)
        for name, algorithm in algorithms.items():
            if algorithm is None:
                if name not in ALGORITHMS:
                    _check(name, "")
                forced.pop(name, None)
            else:
                forced[name] = algorithm
        return CollConfig(forced)


AUTOMATIC = CollConfig()
"""Nothing forced: every choice is :func:`plan`'s."""


class CollSettings:
    """The forced algorithms in effect for the communicators of one process.

    Theory of operation. Two inputs: what the job's environment forces,
    read once by the runtime when it starts (:meth:`use_job`), and what the
    program changed since (:meth:`change`, which is ``zmqmesh.config``),
    which wins. ``config`` is the frozen result, the value every collective
    call passes to :func:`plan`.

    Invariant: ``config == job.forcing(**changes)``, always valid.
    """

    __slots__ = ("_changes", "_job", "config")

    def __init__(self, job: CollConfig = AUTOMATIC) -> None:
        self._job = job
        self._changes: dict[str, str | None] = {}
        self.config = job

    def use_job(self, job: CollConfig) -> CollConfig:
        """``job`` is what the job forces; returns the configuration now in
        effect (the program's changes still win)."""
        self.config = job.forcing(**self._changes)
        self._job = job
        return self.config

    def change(self, **algorithms: str | None) -> CollConfig:
        """Force ``algorithms`` (``None``: back to automatic choice, even
        where the job forces one); returns the configuration now in effect.
        Raises ``ValueError`` for an unknown name, changing nothing."""
        self.config = self.config.forcing(**algorithms)
        self._changes.update(algorithms)
        return self.config


# -- the choice ---------------------------------------------------------------

# A rule is the algorithm itself, or a function of the call and the forced
# algorithms that returns it.
_Rule = str | Callable[[int, int, bool, bool, Mapping[str, str]], str]


def plan(
    collective: str,
    *,
    kind: str,
    size: int,
    nbytes: int = 0,
    segmentable: bool = False,
    commute: bool = True,
    config: CollConfig,
) -> str:
    """The algorithm (a name in ``registry.REGISTRY[collective]``) for one
    call of ``collective`` on a communicator of ``kind`` (one of ``KINDS``)
    and ``size`` ranks.

    ``nbytes`` and ``segmentable`` describe an array payload that every rank
    knows alike (same shape everywhere; for bcast, the root's; for
    alltoall, one item, every item of every rank having that shape);
    ``commute`` is the op's. A forced algorithm that cannot run the call (ring or
    Rabenseifner allreduce of a non-array or with a non-commutative op,
    scatter-allgather bcast of a non-array) gives way to the default.
    Raises ``ValueError`` for an unknown collective or kind.
    """
    # Called for every collective call: one table look-up, and for most
    # collectives the answer itself.
    try:
        rule = _RULES[kind][collective]
    except KeyError:
        if kind not in _RULES:
            raise ValueError(
                f"unknown communicator kind {kind!r}; expected one of {KINDS}"
            ) from None
        raise ValueError(f"no collective {collective!r}; expected one of {COLLECTIVES}") from None
    if isinstance(rule, str):
        return rule
    return rule(size, nbytes, segmentable, commute, config.forced)


def _allreduce(
    size: int, nbytes: int, segmentable: bool, commute: bool, forced: Mapping[str, str]
) -> str:
    large_ok = segmentable and commute and size > 1
    want = forced.get("allreduce")
    if want is not None and (want == "recursive_doubling" or large_ok):
        return want
    if not large_ok or nbytes < ALLREDUCE_LARGE:
        return "recursive_doubling"
    if size & (size - 1) == 0:
        return "rabenseifner"
    return _cheapest("allreduce", ("ring", "rabenseifner"), size, nbytes)


def _bcast(
    size: int, nbytes: int, segmentable: bool, commute: bool, forced: Mapping[str, str]
) -> str:
    want = forced.get("bcast")
    if want is not None and (want == "binomial" or segmentable):
        return want
    if not segmentable or size < BCAST_SA_MIN_SIZE or nbytes < BCAST_LARGE:
        return "binomial"
    return _cheapest("bcast", ("binomial", "scatter_allgather"), size, nbytes)


def _allgather(
    size: int, nbytes: int, segmentable: bool, commute: bool, forced: Mapping[str, str]
) -> str:
    return forced.get("allgather") or "bruck"


def _alltoall(
    size: int, nbytes: int, segmentable: bool, commute: bool, forced: Mapping[str, str]
) -> str:
    want = forced.get("alltoall")
    if want is not None:
        return want
    if segmentable:  # items of nbytes each, on every rank: priced
        return _cheapest("alltoall", ("pairwise", "bruck"), size, nbytes)
    # Unknown sizes. Bruck forwards an item up to log2(p) times, pairwise
    # sends p - 1 messages: for large items Bruck is at worst about
    # log2(p) / 2 times slower, for small ones pairwise (p - 1) / log2(p)
    # times; the second grows much faster with p.
    return "bruck" if size >= ALLTOALL_BRUCK_MIN_SIZE else "pairwise"


def _ring_allreduce(
    size: int, nbytes: int, segmentable: bool, commute: bool, forced: Mapping[str, str]
) -> str:
    large = segmentable and commute and size > 1 and nbytes >= ALLREDUCE_LARGE
    return "ring" if large else "tree"


_GENERAL: dict[str, _Rule] = {
    "barrier": "dissemination",
    "bcast": _bcast,
    "scatter": "binomial",
    "gather": "binomial",
    "allgather": _allgather,
    "reduce": "binomial",
    "allreduce": _allreduce,
    "alltoall": _alltoall,
    "reduce_scatter": "pairwise",
    "scan": "recursive_doubling",
    "exscan": "recursive_doubling",
}
_EDGES: dict[str, _Rule] = dict.fromkeys(COLLECTIVES, "tree")
_RULES: dict[str, dict[str, _Rule]] = {
    "general": _GENERAL,
    "full": _GENERAL,  # every edge: the general algorithms
    "ring": {**_EDGES, "allgather": "ring", "allreduce": _ring_allreduce},
    "tree": _EDGES,
    "mesh": _EDGES,
}


@functools.lru_cache(maxsize=4096)
def _cheapest(collective: str, algorithms: tuple[str, ...], size: int, nbytes: int) -> str:
    """The algorithm the cost model prices lowest (ties: the first)."""
    return min(algorithms, key=lambda a: predict(collective, a, size, nbytes, MODEL).time)
