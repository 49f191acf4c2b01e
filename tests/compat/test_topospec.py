"""The topologies' pure part: arguments checked as MPI and mpi4py check
them, and the pairing of neighborhood blocks of MPI 4.1 section 8.6."""

from __future__ import annotations

from collections import Counter

import pytest

from zmqmesh.compat.mpi4py import MPI
from zmqmesh.compat.mpi4py.topospec import (
    Cart,
    Graph,
    cart_args,
    cart_map,
    dist_adjacent_args,
    dist_graph_edges,
    graph_args,
    graph_map,
    pairing,
    weights_of,
)


def error_class(fn: object, *args: object) -> int:
    with pytest.raises(MPI.Exception) as info:
        fn(*args)  # type: ignore[operator]
    return int(info.value.Get_error_class())


def deliver(
    srcs: dict[int, list[int]], dsts: dict[int, list[int]]
) -> dict[int, list[tuple[int, int] | None]]:
    """Run the pairing of every rank: what lands in each receive block, as
    (sender, sender's block)."""
    out: dict[int, list[tuple[int, int] | None]] = {r: [None] * len(s) for r, s in srcs.items()}
    for r, d in dsts.items():
        keys, _ = pairing(srcs[r], d)
        for j, (q, key) in enumerate(zip(d, keys, strict=True)):
            if q >= 0:
                slot = pairing(srcs[q], dsts[q])[1][(r, key)]
                assert out[q][slot] is None, "two messages for one block"
                out[q][slot] = (r, j)
    return out


def test_proc_null_blocks_take_nothing_and_give_nothing() -> None:
    srcs = {0: [-1, 1], 1: [0, -1]}
    dsts = {0: [1, -1], 1: [-1, 0]}
    assert deliver(srcs, dsts) == {0: [None, (1, 1)], 1: [(0, 0), None]}


def test_duplicate_graph_edges_pair_in_order() -> None:
    srcs = {0: [1, 2, 1], 1: [0, 0], 2: [0]}
    dsts = {0: [1, 1, 2], 1: [0, 0], 2: [0]}
    got = deliver(srcs, dsts)
    assert got == {0: [(1, 0), (2, 0), (1, 1)], 1: [(0, 0), (0, 1)], 2: [(0, 2)]}


def test_cart_arguments() -> None:
    assert cart_args([2, 3], None, 6) == Cart((2, 3), (False, False))
    assert cart_args([2, 3], True, 8).periods == (True, True)
    assert cart_args([], None, 1) == Cart((), ())
    assert error_class(cart_args, [3, 3], None, 8) == MPI.ERR_ARG
    assert error_class(cart_args, [-1, 3], None, 8) == MPI.ERR_DIMS
    with pytest.raises(ValueError, match="expecting 2 items, got 1"):
        cart_args([2, 3], [True], 6)
    assert cart_map([2, 2], None, 5, 3) == 3
    assert cart_map([2, 2], None, 5, 4) == MPI.UNDEFINED
    assert error_class(cart_map, [3, 2], None, 5, 0) == MPI.ERR_DIMS


def test_graph_arguments() -> None:
    g = graph_args([2, 3, 4], [1, 2, 0, 0], 4)
    assert g == Graph((2, 3, 4), (1, 2, 0, 0), True)
    assert g.neighbors(0) == [1, 2]
    assert g.neighbors(2) == [0]
    assert graph_args([0, 2, 3, 4], [1, 2, 0, 0], 4) == g  # mpi4py's adjacency form
    assert not graph_args([1, 2], [1, 1], 2).symmetric  # 0 -> 1 -> 1
    assert graph_args([1, 1], [0], 2).index == (1, 1)
    assert graph_map([1, 2], [1, 0], 4, 1) == 1
    assert graph_map([1, 2], [1, 0], 4, 2) == MPI.UNDEFINED
    assert error_class(g.neighbors, 3) == MPI.ERR_RANK
    for index, edges in (([1] * 5, [0] * 5), ([2, 1], [1, 0]), ([1, 2], [0, 4]), ([3], [0])):
        assert error_class(graph_args, index, edges, 4) == MPI.ERR_ARG


def test_weights() -> None:
    assert weights_of(None, 3) is None
    assert weights_of(MPI.UNWEIGHTED, 3) is None
    assert weights_of(MPI.WEIGHTS_EMPTY, 0) == ()
    with pytest.raises(ValueError, match="empty weights but nonzero degree"):
        weights_of(MPI.WEIGHTS_EMPTY, 1)
    assert weights_of([1, 2], 2) == (1, 2)
    assert error_class(weights_of, [1, -2], 2) == MPI.ERR_ARG


def test_distributed_graph_arguments() -> None:
    g = dist_adjacent_args([1, 1], [2, -1], [5, 6], [7, 8], 3)
    assert (g.sources, g.destinations, g.sourceweights, g.destweights) == (
        (1, 1),
        (2, -1),
        (5, 6),
        (7, 8),
    )
    assert dist_adjacent_args(None, [0], None, None, 1).sources == ()
    assert error_class(dist_adjacent_args, [3], [], None, None, 3) == MPI.ERR_ARG
    assert error_class(dist_adjacent_args, [0], [0], [1], None, 3) == MPI.ERR_ARG
    edges = dist_graph_edges([0, 2], [2, 1], [1, 2, 0], [9, 8, 7], 3)
    assert edges == [(0, 1, 9), (0, 2, 8), (2, 0, 7)]
    assert dist_graph_edges([1], [2], [0, 0], None, 3) == [(1, 0, 1), (1, 0, 1)]
    assert error_class(dist_graph_edges, [0], [-1], [], None, 3) == MPI.ERR_ARG
    assert error_class(dist_graph_edges, [0], [1], [3], None, 3) == MPI.ERR_ARG
    assert error_class(dist_graph_edges, [0], [1], [-1], None, 3) == MPI.ERR_ARG  # no PROC_NULL
    with pytest.raises(ValueError, match="expecting 2 items, got 1"):
        dist_graph_edges([0], [2], [1], None, 3)


@pytest.mark.parametrize(
    ("nnodes", "dims", "want"),
    [(6, 2, [3, 2]), (12, [0, 3, 0], [2, 3, 2]), (0, [0, 3], [0, 3]), (7, 2, [7, 1])],
)
def test_compute_dims(nnodes: int, dims: object, want: list[int]) -> None:
    assert MPI.Compute_dims(nnodes, dims) == want


def test_compute_dims_errors_are_mpichs() -> None:
    assert error_class(MPI.Compute_dims, 6, [4, 0]) == MPI.ERR_DIMS
    assert error_class(MPI.Compute_dims, 6, [-1, 0]) == MPI.ERR_DIMS
    assert error_class(MPI.Compute_dims, -1, 2) == MPI.ERR_ARG
    with pytest.raises(ValueError, match="expecting -1 items"):
        MPI.Compute_dims(6, -1)


def test_every_block_of_a_consistent_multigraph_is_filled_once() -> None:
    # a random-looking multigraph with self loops: each edge listed at both ends
    edges = [(0, 1), (0, 1), (1, 0), (2, 2), (2, 2), (1, 2), (2, 0), (0, 0)]
    dsts = {r: [b for a, b in edges if a == r] for r in range(3)}
    srcs = {r: [a for a, b in edges if b == r] for r in range(3)}
    got = deliver(srcs, dsts)
    assert all(x is not None for blocks in got.values() for x in blocks)
    assert Counter(x for blocks in got.values() for x in blocks) == Counter(
        (r, j) for r, d in dsts.items() for j in range(len(d))
    )
