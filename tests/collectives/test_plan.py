"""The one choice of collective algorithms: ``plan`` over every collective,
communicator kind, size, payload and forced configuration; the registry it
names from; the configuration values it is given."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import zmqmesh
from zmqmesh.collectives.plan import (
    ALGORITHMS,
    ALLREDUCE_LARGE,
    ALLTOALL_BRUCK_MIN_SIZE,
    AUTOMATIC,
    BCAST_LARGE,
    BCAST_SA_MIN_SIZE,
    COLLECTIVES,
    EDGE_KINDS,
    KINDS,
    MODEL,
    CollConfig,
    CollSettings,
    plan,
)
from zmqmesh.collectives.registry import REGISTRY
from zmqmesh.collectives.signature import alltoall_sig, item_bytes
from zmqmesh.collectives.simulate import predict
from zmqmesh.job.settings import JobSettings
from zmqmesh.testing import run_world

configs = st.fixed_dictionaries(
    {}, optional={name: st.sampled_from(algos) for name, algos in ALGORITHMS.items()}
)
sizes = st.one_of(
    st.integers(1, 70), st.integers(1, 5000), st.sampled_from([2**k for k in range(13)])
)
nbytes_ = st.one_of(
    st.integers(0, 2**26),
    st.sampled_from([0, BCAST_LARGE - 1, BCAST_LARGE, ALLREDUCE_LARGE - 1, ALLREDUCE_LARGE]),
)


class Call:
    """One call's arguments, as the runtime passes them."""

    def __init__(
        self, collective: str, kind: str, size: int, nbytes: int, seg: bool, commute: bool
    ) -> None:
        self.collective, self.kind, self.size = collective, kind, size
        self.nbytes, self.seg, self.commute = (nbytes if seg else 0), seg, commute

    def plan(self, config: CollConfig = AUTOMATIC, **changed: Any) -> str:
        args: dict[str, Any] = {
            "kind": self.kind,
            "size": self.size,
            "nbytes": self.nbytes,
            "segmentable": self.seg,
            "commute": self.commute,
            "config": config,
        }
        args.update(changed)
        return plan(self.collective, **args)

    def __repr__(self) -> str:
        return repr(vars(self))


calls = st.builds(
    Call,
    st.sampled_from(COLLECTIVES),
    st.sampled_from(KINDS),
    sizes,
    nbytes_,
    st.booleans(),
    st.booleans(),
)


def cheapest(collective: str, algorithms: tuple[str, ...], size: int, nbytes: int) -> str:
    return min(algorithms, key=lambda a: predict(collective, a, size, nbytes, MODEL).time)


def automatic(c: Call) -> str:
    """The rules of plan's docstring, written out again for general kinds."""
    if c.collective == "allreduce":
        if not (c.seg and c.commute and c.size > 1) or c.nbytes < ALLREDUCE_LARGE:
            return "recursive_doubling"
        if c.size & (c.size - 1) == 0:
            return "rabenseifner"
        return cheapest("allreduce", ("ring", "rabenseifner"), c.size, c.nbytes)
    if c.collective == "bcast":
        if not c.seg or c.size < BCAST_SA_MIN_SIZE or c.nbytes < BCAST_LARGE:
            return "binomial"
        return cheapest("bcast", ("binomial", "scatter_allgather"), c.size, c.nbytes)
    if c.collective == "allgather":
        return "bruck"
    if c.collective == "alltoall":
        if c.seg:
            return cheapest("alltoall", ("pairwise", "bruck"), c.size, c.nbytes)
        return "bruck" if c.size >= ALLTOALL_BRUCK_MIN_SIZE else "pairwise"
    return {
        "barrier": "dissemination",
        "scatter": "binomial",
        "gather": "binomial",
        "reduce": "binomial",
        "reduce_scatter": "pairwise",
        "scan": "recursive_doubling",
        "exscan": "recursive_doubling",
    }[c.collective]


def runnable(c: Call, algorithm: str) -> bool:
    """Whether a forced ``algorithm`` can run call ``c`` (else it gives way)."""
    if c.collective == "allreduce" and algorithm in ("ring", "rabenseifner"):
        return c.seg and c.commute and c.size > 1
    if c.collective == "bcast" and algorithm == "scatter_allgather":
        return c.seg
    return True


@settings(max_examples=1000, deadline=None)
@given(calls, configs)
def test_every_choice_is_a_registered_algorithm(c: Call, forced: dict[str, str]) -> None:
    algo = c.plan(CollConfig(forced))
    assert algo in REGISTRY[c.collective]
    assert (algo == "tree") == (c.kind in EDGE_KINDS and algo != "ring")


@settings(max_examples=1000, deadline=None)
@given(calls, configs)
def test_general_kinds_follow_the_rules_and_the_forced_algorithms(
    c: Call, forced: dict[str, str]
) -> None:
    if c.kind in EDGE_KINDS:
        c.kind = "general"
    want = forced.get(c.collective)
    expected = want if want is not None and runnable(c, want) else automatic(c)
    assert c.plan(CollConfig(forced)) == expected


@settings(max_examples=1000, deadline=None)
@given(calls, configs)
def test_a_full_topology_chooses_as_a_general_communicator(c: Call, forced: dict[str, str]) -> None:
    config = CollConfig(forced)
    assert c.plan(config, kind="full") == c.plan(config, kind="general")


@settings(max_examples=1000, deadline=None)
@given(calls, configs, st.sampled_from(sorted(EDGE_KINDS)))
def test_edge_kinds_use_their_edges_whatever_is_forced(
    c: Call, forced: dict[str, str], kind: str
) -> None:
    c.kind = kind
    algo = c.plan(CollConfig(forced))
    assert algo == c.plan(AUTOMATIC)
    ring = kind == "ring" and (
        c.collective == "allgather"
        or (
            c.collective == "allreduce"
            and c.seg
            and c.commute
            and c.size > 1
            and c.nbytes >= ALLREDUCE_LARGE
        )
    )
    assert algo == ("ring" if ring else "tree")


@given(calls, configs)
def test_the_choice_depends_on_its_arguments_only(c: Call, forced: dict[str, str]) -> None:
    config = CollConfig(forced)
    before = c.plan(config)
    zmqmesh.config(allreduce="ring", bcast="scatter_allgather", alltoall="bruck")
    try:  # the process's settings are not read: every rank gets the same answer
        assert c.plan(config) == before
        assert c.plan(CollConfig(dict(forced))) == before
    finally:
        zmqmesh.config(allreduce=None, bcast=None, alltoall=None)


def test_every_registered_algorithm_is_chosen_somewhere() -> None:
    seen: dict[str, set[str]] = {c: set() for c in REGISTRY}
    big = 16 * 2**20
    for collective in COLLECTIVES:
        for kind in KINDS:
            for size in (1, 2, 3, 8, 9, 64, 1000):
                for nbytes in (0, big):
                    forced = [{}] + [{collective: a} for a in ALGORITHMS.get(collective, ())]
                    for f in forced:
                        seen[collective].add(
                            plan(
                                collective,
                                kind=kind,
                                size=size,
                                nbytes=nbytes,
                                segmentable=nbytes > 0,
                                config=CollConfig(f),
                            )
                        )
    assert seen == {c: set(algos) for c, algos in REGISTRY.items()}
    assert set(REGISTRY) == set(COLLECTIVES)
    for name, algos in ALGORITHMS.items():
        assert set(algos) <= set(REGISTRY[name]) - {"tree"}


# -- alltoall: by size where every rank knows it -------------------------------

BIG = 16 * 2**20
SCALE = (64, 1000, 10_000, 100_000)
plan_alltoall = functools.partial(plan, "alltoall", kind="general", config=AUTOMATIC)


def alltoall(size: int, seq: Any) -> str:
    """plan for an alltoall, from what the call's signature says alone, as
    every rank computes it."""
    n = item_bytes(alltoall_sig(seq), size)
    return plan_alltoall(size=size, nbytes=n, segmentable=n > 0)


@pytest.mark.parametrize("p", SCALE)
def test_alltoall_of_large_items_goes_pairwise_at_scale(p: int) -> None:
    """Bruck forwards every item up to log2(p) times: for 16 MiB items the
    model prices it 3x (64 ranks) to 8x (100,000) slower than pairwise."""
    priced = {a: predict("alltoall", a, p, BIG, MODEL).time for a in ("bruck", "pairwise")}
    assert priced["bruck"] > 2 * priced["pairwise"]
    assert plan_alltoall(size=p, nbytes=BIG, segmentable=True) == "pairwise"
    # small items: log2(p) rounds against p - 1
    assert plan_alltoall(size=p, nbytes=8, segmentable=True) == "bruck"
    # the size unknown (items that may differ between ranks): Bruck, whose
    # worst case is far milder than pairwise's
    assert plan_alltoall(size=p) == "bruck"


@settings(max_examples=300, deadline=None)
@given(st.integers(2, 100_000), st.integers(1, 2**26))
def test_alltoall_of_arrays_runs_the_models_cheapest(p: int, nbytes: int) -> None:
    got = plan_alltoall(size=p, nbytes=nbytes, segmentable=True)
    priced = {a: predict("alltoall", a, p, nbytes, MODEL).time for a in ("pairwise", "bruck")}
    assert priced[got] == min(priced.values())


@settings(max_examples=300, deadline=None)
@given(st.integers(ALLTOALL_BRUCK_MIN_SIZE, 100_000), st.integers(0, 2**30))
def test_alltoall_without_the_size_is_never_far_from_the_cheapest(p: int, nbytes: int) -> None:
    """Bruck, where the items' size is unknown, sends at most ceil(p / 2)
    items in each of ceil(log2 p) rounds, where pairwise sends p - 1."""
    got = plan_alltoall(size=p)
    priced = {a: predict("alltoall", a, p, nbytes, MODEL).time for a in ("pairwise", "bruck")}
    bound = (p - 1).bit_length() * (p + 1) / (2 * (p - 1))
    assert priced[got] <= bound * min(priced.values()) * (1 + 1e-9)


# an item: any size
item = st.one_of(st.integers(), st.builds(np.zeros, st.integers(0, 9)))


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 12),
    st.sampled_from(["<f8", ">i4", "bool", "complex64", "u1"]),
    st.lists(st.integers(0, 64), max_size=2).map(tuple),
    st.data(),
)
def test_every_rank_of_an_alltoall_chooses_alike(
    size: int, dtype: str, rest: tuple[int, ...], data: st.DataObject
) -> None:
    """Ranks whose calls sign alike choose alike: one array each (the same
    dtype and shape, any values), or lists of items of any sizes each."""
    arrays = [np.full((size, *rest), r, dtype) for r in range(size)]
    assert len({alltoall(size, a) for a in arrays}) == 1
    lists = [data.draw(st.lists(item, min_size=size, max_size=size)) for _ in range(size)]
    assert len({alltoall(size, seq) for seq in lists}) == 1


@pytest.mark.parametrize(
    ("collective", "kind", "match"),
    [
        ("bcastt", "general", "no collective"),
        ("bcastt", "ring", "no collective"),
        ("neighbor_allgather", "mesh", "no collective"),
        ("bcast", "graph", "unknown communicator kind"),
        ("bcast", "", "unknown communicator kind"),
    ],
)
def test_unknown_collectives_and_kinds_raise(collective: str, kind: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        plan(collective, kind=kind, size=4, config=AUTOMATIC)


# -- configuration ------------------------------------------------------------


def test_config_values_are_frozen_and_compare_by_content() -> None:
    source = {"allreduce": "ring"}
    config = CollConfig(source)
    source["bcast"] = "binomial"  # the caller's dict is not the config's
    assert dict(config.forced) == {"allreduce": "ring"}
    with pytest.raises(TypeError):
        config.forced["bcast"] = "binomial"  # type: ignore[index]
    with pytest.raises(AttributeError):
        config.forced = {}  # type: ignore[misc]
    assert config == CollConfig({"allreduce": "ring"})
    assert hash(config) == hash(CollConfig({"allreduce": "ring"}))
    assert config != AUTOMATIC
    assert dict(AUTOMATIC.forced) == {}


def test_config_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown allreduce algorithm 'fastest'"):
        CollConfig({"allreduce": "fastest"})
    with pytest.raises(ValueError, match="unknown allreduce algorithm 'tree'"):
        CollConfig({"allreduce": "tree"})  # edges choose their own
    with pytest.raises(ValueError, match="no algorithm choice for 'barrier'"):
        CollConfig({"barrier": "dissemination"})
    with pytest.raises(ValueError, match="no algorithm choice for 'nope'"):
        AUTOMATIC.forcing(nope=None)


@given(configs, st.dictionaries(st.sampled_from(sorted(ALGORITHMS)), st.none()))
def test_forcing_sets_and_releases(forced: dict[str, str], released: dict[str, None]) -> None:
    base = CollConfig(forced)
    assert base.forcing() == base
    assert base.forcing(**forced) == base
    assert dict(base.forcing(**released).forced) == {
        k: v for k, v in forced.items() if k not in released
    }
    assert AUTOMATIC.forcing(**forced) == base


@pytest.mark.parametrize(
    ("env", "forced"),
    [
        ({}, {}),
        ({"ZMQMESH_ALLREDUCE": "ring"}, {"allreduce": "ring"}),
        ({"ZMQMESH_ALLREDUCE": " Ring\n", "ZMQMESH_BCAST": ""}, {"allreduce": "ring"}),
        (
            {
                "ZMQMESH_ALLREDUCE": "rabenseifner",
                "ZMQMESH_BCAST": "scatter_allgather",
                "ZMQMESH_ALLGATHER": "ring",
                "ZMQMESH_ALLTOALL": "bruck",
                "ZMQMESH_BARRIER": "anything",  # no choice there: not read
                "PATH": "/bin",
            },
            {
                "allreduce": "rabenseifner",
                "bcast": "scatter_allgather",
                "allgather": "ring",
                "alltoall": "bruck",
            },
        ),
    ],
)
def test_config_from_the_environment(env: dict[str, str], forced: dict[str, str]) -> None:
    settings = JobSettings.from_environ(env, hostname=lambda: "here")
    assert settings.forced_algorithms() == forced
    assert CollConfig(settings.forced_algorithms()) == CollConfig(forced)


def test_config_from_the_environment_rejects_unknown_algorithms() -> None:
    settings = JobSettings.from_environ({"ZMQMESH_BCAST": "fast"}, hostname=lambda: "here")
    with pytest.raises(ValueError, match="unknown bcast algorithm 'fast'"):
        CollConfig(settings.forced_algorithms())


operations = st.lists(
    st.one_of(
        st.tuples(st.just("job"), configs),
        st.tuples(
            st.just("change"),
            st.dictionaries(
                st.sampled_from([*ALGORITHMS, "barrier"]),
                st.sampled_from([None, "ring", "bruck", "binomial", "pairwise", "x"]),
                max_size=3,
            ),
        ),
    ),
    max_size=12,
)


@given(operations)
def test_settings_keep_the_programs_changes_over_the_jobs(ops: list[tuple[str, Any]]) -> None:
    settings_ = CollSettings()
    job: dict[str, str] = {}
    changes: dict[str, str | None] = {}
    for what, arg in ops:
        if what == "job":
            job = arg
            assert settings_.use_job(CollConfig(arg)) is settings_.config
        else:
            try:
                CollConfig(job).forcing(**changes).forcing(**arg)
            except ValueError:
                before = settings_.config
                with pytest.raises(ValueError, match="algorithm"):
                    settings_.change(**arg)
                assert settings_.config is before  # a bad change changes nothing
                continue
            assert settings_.change(**arg) is settings_.config
            changes.update(arg)
        assert settings_.config == CollConfig(job).forcing(**changes)


# -- the runtime follows the configuration -----------------------------------


def test_the_forced_algorithm_is_what_runs_and_edges_keep_theirs() -> None:
    import numpy as np

    def last_call(comm: zmqmesh.Comm) -> str:
        return next(reversed(comm._coll.recent.values()))[1]

    async def body(comm: zmqmesh.Comm) -> list[str]:
        x = np.ones(8)
        ring = await comm.create_topology("ring")
        full = await comm.create_topology("full")
        out = []
        for algo in (None, "ring", "rabenseifner", "recursive_doubling"):
            assert zmqmesh.config(allreduce=algo).get("allreduce") == algo
            for c in (comm, full, ring):
                await c.allreduce(x)
                out.append(last_call(c))
        zmqmesh.config(allreduce=None)
        return out

    got = run_world(3, body)[0]
    ends = "'SUM', ('array', '<f8', (8,)))"
    expected = []
    for algo in ("recursive_doubling", "ring", "rabenseifner", "recursive_doubling"):
        expected += [f"allreduce('{algo}', {ends}"] * 2 + [f"allreduce('tree', {ends}"]
    assert got == expected


def test_engines_follow_their_settings_and_the_jobs_config() -> None:
    from zmqmesh.runtime.engine import PROCESS_COLL, Engine

    shared = Engine(0, 1, allow_pickle=False)
    own = CollSettings()
    alone = Engine(0, 1, allow_pickle=False, coll=own)
    assert shared.coll is PROCESS_COLL  # zmqmesh.config reaches it
    alone.use_coll_config(CollConfig({"allgather": "ring"}))
    assert dict(own.config.forced) == {"allgather": "ring"}
    assert "allgather" not in PROCESS_COLL.config.forced
    with pytest.raises(ValueError, match="unknown alltoall algorithm"):
        alone.use_coll_config(CollConfig({"alltoall": "star"}))
    assert dict(own.config.forced) == {"allgather": "ring"}
    shared.close()
    alone.close()


@pytest.mark.timeout(120)
def test_a_choice_the_refit_moved_runs_for_real() -> None:
    """With what collectives add per message and per byte, a 2 MiB bcast on
    9 ranks goes scatter + ring allgather (the alpha-beta model alone chose
    binomial): every rank gets the root's array, chosen or forced."""
    n, big = 9, 2 * 2**20
    assert (
        plan("bcast", kind="general", size=n, nbytes=big, segmentable=True, config=AUTOMATIC)
        == "scatter_allgather"
    )

    async def body(comm: zmqmesh.Comm) -> list[np.ndarray]:
        out = []
        for algo in (None, *ALGORITHMS["bcast"]):
            zmqmesh.config(bcast=algo)
            x = np.arange(big // 8, dtype=np.float64) if comm.rank == 3 else None
            out.append(await comm.bcast(x, root=3))
        zmqmesh.config(bcast=None)
        return out

    want = np.arange(big // 8, dtype=np.float64)
    for got in run_world(n, body):
        assert len(got) == 3
        assert all(np.array_equal(g, want) for g in got)
