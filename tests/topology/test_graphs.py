"""make_topology, spanning trees over a topology's edges, and the connection
counts of the scale argument, checked against enumeration."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqmesh.topology import (
    KINDS,
    FullTopo,
    MeshTopo,
    RingTopo,
    Topology,
    TreeTopo,
    connections,
    dims_create,
    make_topology,
    sockets_per_rank,
    spanning_tree,
)

from .test_topos import topologies

PROPERTY = settings(max_examples=150, deadline=None, database=None)


# -- make_topology ------------------------------------------------------------


def test_make_topology() -> None:
    assert make_topology("ring", 5, 2) == RingTopo(5, 2)
    assert make_topology("full", 5, 2) == FullTopo(5, 2)
    assert make_topology("tree", 5, 2) == TreeTopo(5, 2, 2, 0)
    assert make_topology("tree", 5, 2, arity=3, root=4) == TreeTopo(5, 2, 3, 4)
    mesh = make_topology("mesh", 6, 1, dims=(2, 3), periodic=(True, False))
    assert mesh == MeshTopo((2, 3), (True, False), 1)
    assert make_topology("mesh", 6, 0, dims=[0, 0]) == MeshTopo((3, 2), (False, False), 0)
    assert make_topology("mesh", 12, 0, dims=(0, 3), periodic=True).dims == (4, 3)
    assert make_topology("mesh", 12, 0, dims=(0, 3), periodic=True).periodic == (True, True)
    assert KINDS == ("ring", "tree", "mesh", "full")


@pytest.mark.parametrize(
    ("kind", "size", "params", "error", "message"),
    [
        ("star", 4, {}, ValueError, "unknown topology kind 'star'"),
        ("ring", 4, {"arity": 2}, TypeError, "ring topology takes no parameter arity"),
        ("tree", 4, {"dims": (2, 2)}, TypeError, r"takes no parameter dims \(it takes arity, root"),
        ("mesh", 4, {}, TypeError, "needs dims"),
        ("mesh", 6, {"dims": (2, 2)}, ValueError, r"mesh dims \(2, 2\) hold 4 ranks, not 6"),
        ("mesh", 6, {"dims": (4, 0)}, ValueError, "cannot split 6 nodes"),
        ("mesh", 6, {"dims": "23"}, TypeError, "dims must be a sequence"),
        ("mesh", 6, {"dims": (2, 3), "periodic": (True,)}, ValueError, "periodic has 1"),
        ("mesh", 6, {"dims": (2, 3), "periodic": 1}, TypeError, "periodic must be a bool"),
        ("tree", 4, {"root": 9}, ValueError, "root must be in"),
        ("ring", 0, {}, ValueError, "size must be >= 1"),
    ],
)
def test_make_topology_errors(
    kind: str, size: int, params: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        make_topology(kind, size, 0, **params)


# -- spanning_tree ---------------------------------------------------------------


def check_spanning_tree(
    topo: Topology, root: int
) -> tuple[list[int | None], list[tuple[int, ...]]]:
    parent, children = spanning_tree(topo.size, lambda r: topo.at(r).neighbors, root)
    assert len(parent) == len(children) == topo.size
    assert parent[root] is None
    for v in range(topo.size):
        p = parent[v]
        if v != root:
            assert p is not None
            assert v in topo.at(p).neighbors  # an edge of the topology
            assert v in children[p]
        for c in children[v]:
            assert parent[c] == v
    # every rank exactly once: the root plus everyone's children
    flat = [root, *itertools.chain.from_iterable(children)]
    assert sorted(flat) == list(range(topo.size))
    # rooted where asked: every rank reaches root following parents
    for v in range(topo.size):
        hops, r = 0, v
        while (p := parent[r]) is not None:
            r, hops = p, hops + 1
            assert hops < topo.size
        assert r == root
    return parent, children


@PROPERTY
@given(topologies, st.data())
def test_spanning_tree_uses_only_edges(topo: Topology, data: st.DataObject) -> None:
    root = data.draw(st.integers(0, topo.size - 1))
    first = check_spanning_tree(topo, root)
    assert spanning_tree(topo.size, lambda r: topo.at(r).neighbors, root) == first


@PROPERTY
@given(st.integers(1, 40), st.integers(1, 5), st.data())
def test_spanning_tree_of_a_tree_is_the_tree(size: int, arity: int, data: st.DataObject) -> None:
    root = data.draw(st.integers(0, size - 1))
    tree = TreeTopo(size, 0, arity, root)
    parent, children = check_spanning_tree(tree, root)
    for r in range(size):
        assert parent[r] == tree.at(r).parent
        assert children[r] == tree.at(r).children


def test_spanning_tree_examples() -> None:
    ring = RingTopo(6, 0)
    parent, children = spanning_tree(6, lambda r: ring.at(r).neighbors, 0)
    # BFS both ways round, left neighbor first: 0 -> 5 -> 4 -> 3 and 0 -> 1 -> 2
    assert parent == [None, 0, 1, 4, 5, 0]
    assert children == [(5, 1), (2,), (), (), (3,), (4,)]
    assert spanning_tree(1, lambda r: (0, 0), 0) == ([None], [()])
    mesh = MeshTopo((2, 3), (False, False), 0)
    parent, _ = spanning_tree(6, lambda r: mesh.at(r).neighbors, 4)
    assert parent == [1, 4, 1, 4, None, 4]  # 4 -> (1, 3, 5); 1 -> (0, 2)


def test_spanning_tree_errors() -> None:
    two_islands = {0: (1,), 1: (0,), 2: (3,), 3: (2,)}
    with pytest.raises(ValueError, match=r"disconnected: 2 of 4 ranks .* root 0 \(2, 3\)"):
        spanning_tree(4, two_islands.__getitem__, 0)
    with pytest.raises(ValueError, match="rank 0 lists neighbor 7, outside"):
        spanning_tree(3, lambda r: (7,), 0)
    with pytest.raises(ValueError, match=r"rank must be in \[0, 3\)"):
        spanning_tree(3, lambda r: (), 3)
    with pytest.raises(ValueError, match="size must be >= 1"):
        spanning_tree(0, lambda r: (), 0)


# -- connection counts ---------------------------------------------------------


def enumerate_sockets(topo: Topology) -> tuple[int, int]:
    """(most distinct peers of one rank, sum over ranks) by enumeration."""
    per_rank = [len(set(v.neighbors) - {v.rank}) for v in (topo.at(r) for r in range(topo.size))]
    return max(per_rank), sum(per_rank)


def socket_cases(p: int) -> list[tuple[str, dict[str, Any]]]:
    cases: list[tuple[str, dict[str, Any]]] = [("ring", {}), ("full", {})]
    cases += [("tree", {"arity": a, "root": p // 2}) for a in (1, 2, 3, 5)]
    for nd in (1, 2, 3):
        for per in itertools.product([False, True], repeat=nd):
            cases.append(("mesh", {"dims": dims_create(p, nd), "periodic": per}))
    return cases


@pytest.mark.parametrize("p", [*range(1, 26), 32, 36, 60, 64])
def test_socket_counts_match_enumeration(p: int) -> None:
    for kind, params in socket_cases(p):
        topo = make_topology(kind, p, 0, **params)
        want = enumerate_sockets(topo)
        got = (sockets_per_rank(kind, p, **params), connections(kind, p, **params))
        assert got == want, (kind, p, params)


def test_socket_counts_at_scale() -> None:
    """The numbers of docs/topologies.md."""
    for p in (1000, 100_000):
        assert sockets_per_rank("ring", p) == 2
        assert sockets_per_rank("tree", p, arity=2) == 3
        assert sockets_per_rank("tree", p, arity=4) == 5
        assert sockets_per_rank("mesh", p, ndims=2) == 4
        assert sockets_per_rank("mesh", p, ndims=3) == 6
        assert sockets_per_rank("full", p) == p - 1
        assert connections("full", p) == p * (p - 1)
        assert connections("tree", p, arity=4) == 2 * (p - 1)
    assert connections("mesh", 1000, dims=(40, 25), periodic=True) == 4000
    assert connections("mesh", 1000, ndims=3, periodic=True) == 6000
    assert connections("mesh", 1000, ndims=2) == 2 * (25 * 39 + 40 * 24)


def test_socket_count_errors() -> None:
    with pytest.raises(ValueError, match="unknown topology kind"):
        sockets_per_rank("hypercube", 8)
    with pytest.raises(ValueError, match="p must be >= 1"):
        connections("ring", 0)
    with pytest.raises(TypeError, match="takes no parameter dims"):
        sockets_per_rank("ring", 8, dims=(2, 4))
    with pytest.raises(ValueError, match="hold 6 ranks, not 8"):
        sockets_per_rank("mesh", 8, dims=(2, 3))
    with pytest.raises(ValueError, match="arity must be >= 1"):
        connections("tree", 8, arity=0)
