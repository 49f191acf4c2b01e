"""Placement: --map-by, -N/--npernode, --oversubscribe, max_slots, and the
core each rank binds to with --bind-to core. Pure functions; no job runs."""

from __future__ import annotations

import os
from collections import Counter

import pytest
from hostspecs import host_specs, render_list
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqmesh.job.hostlist import Host, HostfileError, parse_host_list, parse_hostfile_text
from zmqmesh.launcher.placement import (
    BIND_ENV,
    bind_self,
    bindings,
    cores,
    cpus_for,
    pinned,
    place,
    sysfs_core,
)

pytestmark = pytest.mark.timeout(60)
PROPERTY = settings(max_examples=150, deadline=None, database=None)


def hosts(spec: str) -> list[Host]:
    return parse_host_list(spec)


# -- map-by ---------------------------------------------------------------------------------


def test_by_slot_fills_each_host_before_the_next() -> None:
    assert place(hosts("a:2,b:3,c"), None) == ["a", "a", "b", "b", "b", "c"]
    assert place(hosts("a:2,b:3,c"), 3) == ["a", "a", "b"]


def test_by_node_goes_round_the_hosts_skipping_full_ones() -> None:
    assert place(hosts("a:2,b:3,c"), None, map_by="node") == ["a", "b", "c", "a", "b", "b"]
    assert place(hosts("a:2,b:3,c"), 4, map_by="node") == ["a", "b", "c", "a"]
    assert place(hosts("a:2,b:2"), 2, map_by="node") == ["a", "b"]


def test_npernode_takes_k_of_every_host() -> None:
    assert place(hosts("a:4,b:4,c:4"), None, npernode=2) == ["a", "a", "b", "b", "c", "c"]
    assert place(hosts("a:4,b:4"), 3, npernode=2) == ["a", "a", "b"]
    assert place(hosts("a:4,b:4"), None, npernode=2, map_by="node") == ["a", "b", "a", "b"]


def test_npernode_beyond_slots_needs_oversubscribe() -> None:
    with pytest.raises(HostfileError, match=r"^--host: -N 3 is more than the 2 slots of b"):
        place(hosts("a:4,b:2"), None, npernode=3)
    assert place(hosts("a:4,b:2"), None, npernode=3, oversubscribe=True) == ["a"] * 3 + ["b"] * 3


def test_npernode_bounds_the_ranks_even_with_oversubscribe() -> None:
    for over in (False, True):
        with pytest.raises(HostfileError, match=r"5 ranks do not fit: -N 2 on 2 hosts runs 4"):
            place(hosts("a:4,b:4"), 5, npernode=2, oversubscribe=over)


def test_more_ranks_than_slots_need_oversubscribe() -> None:
    with pytest.raises(
        HostfileError,
        match=r"^--host: 4 ranks do not fit in the 3 slots of the hosts; give fewer "
        r"ranks, more slots=, or --oversubscribe$",
    ):
        place(hosts("a:2,b"), 4)


def test_oversubscribed_ranks_go_one_to_each_host_in_turn() -> None:
    assert place(hosts("a:2,b"), 6, oversubscribe=True) == ["a"] * 4 + ["b"] * 2
    assert place(hosts("a:2,b"), 5, oversubscribe=True, map_by="node") == ["a", "b", "a", "b", "a"]


def test_max_slots_bounds_oversubscription() -> None:
    hs = parse_hostfile_text("a slots=1 max_slots=2\nb slots=1\n", "hf")
    assert place(hs, 5, oversubscribe=True) == ["a", "a", "b", "b", "b"]
    bounded = parse_hostfile_text("a slots=1 max_slots=2\nb slots=2 max_slots=2\n", "hf")
    assert place(bounded, 4, oversubscribe=True) == ["a", "a", "b", "b"]
    with pytest.raises(HostfileError, match=r"^hf: 5 ranks do not fit even with --oversubscribe"):
        place(bounded, 5, oversubscribe=True)
    with pytest.raises(HostfileError, match=r"-N 3 is more than max_slots=2 of a"):
        place(bounded, None, npernode=3, oversubscribe=True)


def test_wrong_arguments() -> None:
    with pytest.raises(ValueError, match="at least one host"):
        place([], None)
    with pytest.raises(ValueError, match="at least 1, not 0"):
        place(hosts("a"), 0)
    with pytest.raises(ValueError, match="npernode must be at least 1"):
        place(hosts("a"), 1, npernode=0)
    with pytest.raises(ValueError, match="map_by must be one of"):
        place(hosts("a"), 1, map_by="core")


@PROPERTY
@given(
    host_specs,
    st.integers(1, 40),
    st.sampled_from(["slot", "node"]),
    st.one_of(st.none(), st.integers(1, 5)),
)
def test_placement_properties(
    specs: list[tuple[str, int | None]], n: int, map_by: str, npernode: int | None
) -> None:
    hs = hosts(render_list([(name, min(s or 1, 6)) for name, s in specs]))
    offers = [npernode or h.slots for h in hs]
    try:
        got = place(hs, n, map_by=map_by, npernode=npernode, oversubscribe=True)
    except HostfileError:
        assert npernode is not None
        assert n > sum(offers)
        return
    assert len(got) == n
    counts = Counter(got)
    if n <= sum(offers):
        assert all(counts[h.name] <= o for h, o in zip(hs, offers, strict=True))
        if map_by == "slot":  # a prefix of the slots, in host order
            assert got == [h.name for h, o in zip(hs, offers, strict=True) for _ in range(o)][:n]
        else:  # round robin: a host with room left has at most one rank fewer than any other
            for h, o in zip(hs, offers, strict=True):
                if counts[h.name] < o:
                    assert all(counts[g.name] <= counts[h.name] + 1 for g in hs)
    else:  # every slot taken, the rest spread evenly
        extra = [counts[h.name] - o for h, o in zip(hs, offers, strict=True)]
        assert min(extra) >= 0
        assert max(extra) - min(extra) <= 1
        assert extra == sorted(extra, reverse=True)
    if map_by == "slot":  # a host's ranks are consecutive
        assert [k for k, _ in itertools_groupby(got)] == list(dict.fromkeys(got))
    else:  # the first ranks go one to each host, in order
        assert got[: min(n, len(hs))] == [h.name for h in hs][: min(n, len(hs))]
    without = place(hs, min(n, sum(offers)), map_by=map_by, npernode=npernode, oversubscribe=True)
    assert Counter(without) <= counts


def itertools_groupby(names: list[str]) -> list[tuple[str, int]]:
    import itertools

    return [(k, len(list(g))) for k, g in itertools.groupby(names)]


# -- bind-to core ---------------------------------------------------------------------------


def test_bindings_number_the_ranks_of_each_host() -> None:
    where = [None, "b", None, "b", "c"]
    assert bindings(where, share=False) == [
        "core:0/2",
        "core:0/2",
        "core:1/2",
        "core:1/2",
        "core:0/1",
    ]
    assert bindings(["a", "a"], share=True) == ["core:0/2:share", "core:1/2:share"]


def no_topology(cpu: int) -> None:
    return None


# 2 packages x 2 cores x 2 threads, Linux's usual numbering: the second
# thread of each core comes after every core's first
SMT = {0: (0, 0), 1: (0, 1), 2: (1, 0), 3: (1, 1), 4: (0, 0), 5: (0, 1), 6: (1, 0), 7: (1, 1)}


def test_cpus_are_grouped_by_core() -> None:
    assert cores({5, 3}, no_topology) == [(3,), (5,)]
    assert cores(range(8), SMT.get) == [(0, 4), (1, 5), (2, 6), (3, 7)]
    # what this process may use: only some threads of some cores
    assert cores({1, 4, 5, 7}, SMT.get) == [(1, 5), (4,), (7,)]
    assert cores({0, 1, 9}, SMT.get) == [(0,), (1,), (9,)]  # 9: unknown, a core of its own


def test_cpus_for_picks_the_ith_core() -> None:
    assert cpus_for("core:0/2", {5, 3}, no_topology) == (3,)
    assert cpus_for("core:1/2", {5, 3}, no_topology) == (5,)
    assert cpus_for("core:3/4:share", {0, 1}, no_topology) == (1,)
    assert cpus_for("core:2/4:share", {0, 1}, no_topology) == (0,)
    assert cpus_for("core:1/4", range(8), SMT.get) == (1, 5)  # both threads of a core


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (
            "core:2/3",
            r"^--bind-to core: 3 ranks on this host but 2 cores available to them "
            r"\(CPUs 0,4 1\); give --oversubscribe",
        ),
        ("socket:0/1", "is not core:I/K"),
        ("core:1", "is not core:I/K"),
        ("core:a/2", "is not core:I/K"),
        ("core:0/2:x", "is not core:I/K"),
        ("core:2/2", "rank 2 of 2"),
    ],
)
def test_cpus_for_refuses(value: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        cpus_for(value, {0, 1, 4}, SMT.get)


@PROPERTY
@given(
    st.dictionaries(st.integers(0, 255), st.one_of(st.none(), st.integers(0, 40)), min_size=1),
    st.integers(1, 300),
)
def test_ranks_of_a_host_get_distinct_cores_while_there_are_enough(
    topology: dict[int, int | None], k: int
) -> None:
    groups = cores(topology, topology.get)
    assert sorted(c for g in groups for c in g) == sorted(topology)
    got = [cpus_for(v, topology, topology.get) for v in bindings(["h"] * k, share=True)]
    assert all(g in groups for g in got)
    assert len(set(got)) == min(k, len(groups))
    if k <= len(groups):
        assert [
            cpus_for(v, topology, topology.get) for v in bindings(["h"] * k, share=False)
        ] == got
    else:
        with pytest.raises(ValueError, match="give --oversubscribe"):
            cpus_for(bindings(["h"] * k, share=False)[0], topology, topology.get)


def test_this_machines_topology_is_read() -> None:
    mine = sorted(os.sched_getaffinity(0))
    groups = cores(mine, sysfs_core)
    assert sorted(c for g in groups for c in g) == mine
    assert all(sysfs_core(c) is not None for c in mine)  # Linux describes its CPUs
    assert sysfs_core(1 << 20) is None


def test_bind_self_and_pinned_set_this_threads_affinity() -> None:
    import threading

    before = os.sched_getaffinity(0)
    out: dict[str, object] = {}

    def body() -> None:  # a thread of its own: the test process keeps its affinity
        out["none"] = bind_self({})
        with pinned({BIND_ENV: "core:0/1"}):
            out["inside"] = os.sched_getaffinity(0)
        out["after"] = os.sched_getaffinity(0)
        out["cpu"] = bind_self({BIND_ENV: "core:0/1"})
        out["bound"] = os.sched_getaffinity(0)

    t = threading.Thread(target=body)
    t.start()
    t.join(30)
    first = cores(before, sysfs_core)[0]
    want = {"none": None, "inside": set(first), "after": before, "cpu": first, "bound": set(first)}
    assert out == want
    assert os.sched_getaffinity(0) == before
