"""Ring, tree, mesh and full topologies: the documented attributes, MPI's
values, argument checks, and properties over every rank of every shape."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqmesh.topology import FullTopo, MeshTopo, RingTopo, Topology, TreeTopo

PROPERTY = settings(max_examples=150, deadline=None, database=None)

sizes = st.integers(1, 40)


@st.composite
def trees(draw: st.DrawFn) -> TreeTopo:
    size = draw(sizes)
    return TreeTopo(size, 0, draw(st.integers(1, 5)), draw(st.integers(0, size - 1)))


@st.composite
def meshes(draw: st.DrawFn) -> MeshTopo:
    dims = draw(st.lists(st.integers(1, 5), min_size=1, max_size=4).filter(_small))
    periodic = draw(st.lists(st.booleans(), min_size=len(dims), max_size=len(dims)))
    return MeshTopo(tuple(dims), tuple(periodic), 0)


def _small(dims: Sequence[int]) -> bool:
    return math.prod(dims) <= 150


topologies = st.one_of(
    sizes.map(lambda n: RingTopo(n, 0)),
    trees(),
    meshes(),
    sizes.map(lambda n: FullTopo(n, 0)),
)


def views(t: Topology) -> list[Topology]:
    return [t.at(r) for r in range(t.size)]


# -- ring -------------------------------------------------------------------


def test_ring() -> None:
    r = RingTopo(5, 0)
    assert (r.left, r.right, r.neighbors) == (4, 1, (4, 1))
    assert RingTopo(5, 3).neighbors == (2, 4)
    assert RingTopo(1, 0).neighbors == (0, 0)  # left == right == self, as MPI's would be
    assert RingTopo(2, 0).neighbors == (1, 1)
    assert RingTopo(5, 4).at(0) == r
    assert r.kind == "ring"


# -- tree -------------------------------------------------------------------


def test_tree_heap_order() -> None:
    t = TreeTopo(10, 0)
    assert (t.parent, t.children, t.neighbors) == (None, (1, 2), (1, 2))
    assert t.at(1).children == (3, 4)
    assert t.at(4).children == (9,)
    assert t.at(4).neighbors == (1, 9)
    assert t.at(9).parent == 4
    assert t.at(9).children == ()


def test_tree_rooted_elsewhere() -> None:
    t = TreeTopo(10, 2, arity=3, root=2)
    assert t.parent is None
    assert t.children == (3, 4, 5)
    assert t.at(3).parent == 2
    assert t.at(3).children == (6, 7, 8)
    assert t.at(4).children == (9, 0, 1)  # relative 7, 8, 9 wrap around to 9, 0, 1
    assert t.at(0).parent == 4
    assert t.at(5).children == ()
    assert TreeTopo(1, 0).neighbors == ()
    chain = TreeTopo(4, 1, arity=1)
    assert (chain.parent, chain.children) == (0, (2,))


# -- mesh -------------------------------------------------------------------


def test_mesh_row_major_like_mpi_cart_create() -> None:
    m = MeshTopo((2, 3), (False, False), 0)
    assert m.size == 6
    assert m.ndims == 2
    assert [m.at(r).coords for r in range(6)] == [
        (0, 0),
        (0, 1),
        (0, 2),
        (1, 0),
        (1, 1),
        (1, 2),
    ]
    assert m.rank_of((1, 1)) == 4
    assert MeshTopo((2, 3, 4), (False,) * 3, 23).coords == (1, 2, 3)


def test_mesh_shift_like_mpi_cart_shift() -> None:
    m = MeshTopo((2, 3), (False, False), 1)  # coords (0, 1)
    assert m.shift(0, 1) == (None, 4)
    assert m.shift(1, 1) == (0, 2)
    assert m.shift(1, -1) == (2, 0)
    assert m.shift(1, 2) == (None, None)
    assert m.shift(0, 0) == (1, 1)
    t = MeshTopo((2, 3), (True, False), 1)
    assert t.shift(0, 1) == (4, 4)  # a periodic dimension of 2: both ways reach rank 4
    assert t.shift(0, 3) == (4, 4)
    assert t.neighbors == (4, 4, 0, 2)
    assert MeshTopo((2, 3), (False, False), 0).neighbors == (3, 1)
    assert MeshTopo((1, 3), (True, True), 1).neighbors == (1, 1, 0, 2)  # itself, twice
    assert MeshTopo((3,), (True,), 0).neighbors == (2, 1)


def test_mesh_rank_of_wraps_only_periodic_dims() -> None:
    m = MeshTopo((3, 4), (True, False), 0)
    assert m.rank_of((-1, 0)) == m.rank_of((2, 0)) == 8
    assert m.rank_of((5, 3)) == 11
    with pytest.raises(ValueError, match="off non-periodic dimension 1 of extent 4"):
        m.rank_of((0, 4))
    with pytest.raises(ValueError, match="off non-periodic dimension 1"):
        m.rank_of((0, -1))
    with pytest.raises(ValueError, match="expected 2 coordinates, got 3"):
        m.rank_of((0, 0, 0))
    with pytest.raises(ValueError, match=r"dim must be in \[0, 2\)"):
        m.shift(2, 1)


def test_mesh_normalizes_fields() -> None:
    m = MeshTopo([2, np.int64(3)], [1, 0], np.int32(5))  # type: ignore[arg-type]
    assert m == MeshTopo((2, 3), (True, False), 5)
    assert type(m.rank) is int
    assert m.periodic == (True, False)
    assert hash(m) == hash(MeshTopo((2, 3), (True, False), 5))
    assert MeshTopo((), (), 0).neighbors == ()  # a 0-d grid holds one rank


# -- full -------------------------------------------------------------------


def test_full() -> None:
    assert FullTopo(4, 2).neighbors == (0, 1, 3)
    assert FullTopo(1, 0).neighbors == ()


# -- argument checks --------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: RingTopo(0, 0), ValueError, "size must be >= 1"),
        (lambda: RingTopo(3, 3), ValueError, r"rank must be in \[0, 3\)"),
        (lambda: RingTopo(3, -1), ValueError, "rank must be in"),
        (lambda: FullTopo(2, 5), ValueError, "rank must be in"),
        (lambda: RingTopo(3.0, 0), TypeError, "size must be an int"),
        (lambda: RingTopo(3, True), TypeError, "rank must be an int"),
        (lambda: TreeTopo(4, 0, 0), ValueError, "arity must be >= 1"),
        (lambda: TreeTopo(4, 0, 2, 4), ValueError, r"root must be in \[0, 4\)"),
        (lambda: TreeTopo(4, 0, 2.5), TypeError, "arity must be an int"),
        (lambda: MeshTopo((2, 0), (False, False), 0), ValueError, "every dim must be >= 1"),
        (lambda: MeshTopo((2, 3), (False,), 0), ValueError, "periodic has 1 entries for 2"),
        (lambda: MeshTopo((2, 3), (False, False), 6), ValueError, r"rank must be in \[0, 6\)"),
        (lambda: MeshTopo((2, "3"), (False, False), 0), TypeError, "dims entry must be an int"),
        (lambda: MeshTopo(6, (False,), 0), TypeError, "dims must be a sequence"),
        (lambda: MeshTopo((6,), True, 0), TypeError, "periodic must be a sequence"),
    ],
)
def test_bad_arguments(make: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        make()  # type: ignore[operator]


def test_frozen() -> None:
    r = RingTopo(3, 0)
    with pytest.raises(AttributeError):
        r.rank = 1  # type: ignore[misc]


# -- properties over every rank ----------------------------------------------


@PROPERTY
@given(topologies)
def test_neighbor_symmetry(topo: Topology) -> None:
    """b is listed by a exactly as often as a is listed by b."""
    counts = [Counter(v.neighbors) for v in views(topo)]
    for a in range(topo.size):
        for b in counts[a]:
            assert counts[a][b] == counts[b][a], (a, b)


@PROPERTY
@given(topologies)
def test_degree_bounds(topo: Topology) -> None:
    for v in views(topo):
        n = v.neighbors
        assert all(0 <= r < topo.size for r in n)
        if isinstance(v, RingTopo):
            assert len(n) == 2
        elif isinstance(v, TreeTopo):
            assert len(n) <= v.arity + 1
            assert len(set(n)) == len(n)
            assert v.rank not in n
        elif isinstance(v, MeshTopo):
            assert len(n) <= 2 * v.ndims
        else:
            assert n == tuple(r for r in range(topo.size) if r != v.rank)


@PROPERTY
@given(trees())
def test_tree_parent_children_consistent(tree: TreeTopo) -> None:
    all_children = []
    for v in views(tree):
        assert isinstance(v, TreeTopo)
        for c in v.children:
            assert tree.at(c).parent == v.rank
        if v.parent is not None:
            assert v.rank in tree.at(v.parent).children
        all_children.extend(v.children)
        # following parents reaches the root in fewer than size steps
        r, steps = v.rank, 0
        while (p := tree.at(r).parent) is not None:
            r, steps = p, steps + 1
            assert steps < tree.size
        assert r == tree.root
    assert sorted([tree.root, *all_children]) == list(range(tree.size))


@PROPERTY
@given(meshes())
def test_mesh_coords_round_trip(mesh: MeshTopo) -> None:
    seen = set()
    for r in range(mesh.size):
        c = mesh.at(r).coords
        assert all(0 <= x < d for x, d in zip(c, mesh.dims, strict=True))
        assert mesh.rank_of(c) == r
        assert mesh.coords_of(r) == c
        seen.add(c)
    assert len(seen) == mesh.size
    # row-major: rank order is the lexicographic order of coordinates
    assert [mesh.at(r).coords for r in range(mesh.size)] == sorted(seen)


@PROPERTY
@given(meshes(), st.integers(-6, 6))
def test_mesh_shift_consistency(mesh: MeshTopo, disp: int) -> None:
    """dest of r is s  <=>  source of s is r, with wrap on periodic dims."""
    for dim in range(mesh.ndims):
        shifts = [mesh.at(r).shift(dim, disp) for r in range(mesh.size)]
        for r, (source, dest) in enumerate(shifts):
            if dest is not None:
                assert shifts[dest][0] == r
            if source is not None:
                assert shifts[source][1] == r
            c = mesh.at(r).coords[dim]
            off_edge = not 0 <= c + disp < mesh.dims[dim]
            assert (dest is None) == (off_edge and not mesh.periodic[dim])
            if mesh.periodic[dim]:
                assert dest == mesh.at(r).shift(dim, disp + mesh.dims[dim])[1]


@PROPERTY
@given(meshes())
def test_mesh_neighbors_are_mpi_order(mesh: MeshTopo) -> None:
    for v in views(mesh):
        assert isinstance(v, MeshTopo)
        want = [r for dim in range(v.ndims) for r in v.shift(dim, 1) if r is not None]
        assert v.neighbors == tuple(want)
