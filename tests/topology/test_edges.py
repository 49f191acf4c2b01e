"""Every edge's remote key names, at the peer, a slot that points back."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from zmqmesh.topology import make_topology
from zmqmesh.topology.edges import edge_keys


def check(kind: str, size: int, **params: object) -> None:
    topos = [make_topology(kind, size, r, **params) for r in range(size)]
    for r, t in enumerate(topos):
        keys = edge_keys(t)
        assert len(keys) == len(t.neighbors)
        local = [k for k, _ in keys]
        assert len(set(zip(t.neighbors, local, strict=True))) == len(local)  # unique per peer
        for (_, remote), q in zip(keys, t.neighbors, strict=True):
            peer = topos[q]
            back = [
                i
                for i, (k, _) in enumerate(edge_keys(peer))
                if k == remote and peer.neighbors[i] == r
            ]
            assert len(back) == 1, (kind, size, params, r, q, remote)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12))
def test_ring_and_full(size: int) -> None:
    check("ring", size)
    check("full", size)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 15), st.integers(1, 4), st.data())
def test_tree(size: int, arity: int, data: st.DataObject) -> None:
    check("tree", size, arity=arity, root=data.draw(st.integers(0, size - 1)))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.data())
def test_mesh(dims: list[int], data: st.DataObject) -> None:
    periodic = data.draw(st.lists(st.booleans(), min_size=len(dims), max_size=len(dims)))
    size = 1
    for d in dims:
        size *= d
    check("mesh", size, dims=tuple(dims), periodic=tuple(periodic))
