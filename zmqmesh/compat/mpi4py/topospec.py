"""Process topologies as mpi4py's calls describe them: their arguments
checked as MPI (and mpi4py) check them, the topology kept as a value, and
the pairing of neighborhood messages. Pure: no I/O.

Theory of operation. A topology communicator's box holds one of
:class:`Cart`, :class:`Graph` or :class:`DistGraph`. Each rank's neighbors
are two lists: ``sources`` (its receive blocks, in order) and
``destinations`` (its send blocks), ``PROC_NULL`` kept where MPI keeps it
(the edge of a non-periodic Cartesian dimension). A neighborhood
collective sends block ``j`` to ``destinations[j]`` labelled with a *key*,
and the receiver puts it in the block :func:`pairing` names for (sender,
key). MPI 4.1 (section 8.6) fixes the pairing where a peer fills several
blocks: on a Cartesian grid the block sent in the negative direction of a
dimension lands in the positive-direction block of the receiver and the
other way round (block ``s`` to block ``s ^ 1``, which matters for a
periodic dimension of 1 or 2 ranks: zmqmesh's mesh communicator, which
grids run on, labels its blocks so); on the graph kinds the ``k``-th edge
to a peer pairs with the ``k``-th edge from it (:func:`pairing`).

Invariants: keys are unique per (sender, key) at a receiver; a consistent
topology (every edge listed at both ends as often) gives every send a
block, and every non-null block a send.
"""

from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException

__all__ = [
    "Cart",
    "DistGraph",
    "Graph",
    "cart_args",
    "cart_map",
    "dist_adjacent_args",
    "dist_graph_edges",
    "fixed",
    "graph_args",
    "graph_map",
    "pairing",
]


@dataclass(frozen=True, slots=True)
class Cart:
    """A Cartesian grid: ``dims`` and ``periods`` of ``Create_cart``."""

    kind: ClassVar[int] = C.CART
    dims: tuple[int, ...]
    periods: tuple[bool, ...]


@dataclass(frozen=True, slots=True)
class Graph:
    """A general graph: ``index`` and ``edges`` of ``Create_graph``;
    ``symmetric``: every pair is joined as often both ways (what
    neighborhood collectives on it need)."""

    kind: ClassVar[int] = C.GRAPH
    index: tuple[int, ...]
    edges: tuple[int, ...]
    symmetric: bool

    def neighbors(self, rank: int) -> list[int]:
        """``rank``'s neighbors, in ``edges`` order; ``ERR_RANK`` off the graph."""
        rank = operator.index(rank)
        if not 0 <= rank < len(self.index):
            raise MPIException(C.ERR_RANK, f"Invalid rank {rank} (a graph of {len(self.index)})")
        start = self.index[rank - 1] if rank else 0
        return list(self.edges[start : self.index[rank]])


@dataclass(frozen=True, slots=True)
class DistGraph:
    """A distributed graph seen from one rank: its in- and out-edges, and
    their weights (None when unweighted); ``consistent``: every edge of the
    whole graph is listed as often at both of its ends (what neighborhood
    collectives on it need; every rank knows it, from ``Create_...``)."""

    kind: ClassVar[int] = C.DIST_GRAPH
    sources: tuple[int, ...]
    destinations: tuple[int, ...]
    sourceweights: tuple[int, ...] | None
    destweights: tuple[int, ...] | None
    consistent: bool = True


def ints(seq: Any) -> list[int]:
    """``seq`` as a list of ints (``TypeError`` for what is not one)."""
    return [operator.index(x) for x in seq]


def fixed(seq: Any, n: int) -> list[int]:
    """``seq`` as ``n`` ints; ``ValueError`` worded as mpi4py's otherwise."""
    out = ints(seq)
    if len(out) != n:
        raise ValueError(f"expecting {n} items, got {len(out)}")
    return out


def _periods(periods: Any, n: int) -> tuple[bool, ...]:
    if periods is None:
        periods = False
    if isinstance(periods, bool):
        return (periods,) * n
    return tuple(bool(p) for p in fixed(periods, n))


def cart_args(dims: Any, periods: Any, size: int) -> Cart:
    """``Create_cart``'s grid: a negative extent raises ``ERR_DIMS``, more
    ranks than ``size`` ``ERR_ARG`` (as MPICH)."""
    d = ints(dims)
    grid = Cart(tuple(d), _periods(periods, len(d)))
    if any(x < 0 for x in d):
        raise MPIException(C.ERR_DIMS, f"Invalid dimension argument: dims {d}")
    if math.prod(d) > size:
        raise MPIException(
            C.ERR_ARG, f"Invalid argument: dims {d} need {math.prod(d)} ranks, there are {size}"
        )
    return grid


def cart_map(dims: Any, periods: Any, size: int, rank: int) -> int:
    """``Cart_map`` without reordering: ``rank`` if the grid holds it, else
    ``UNDEFINED``; a grid larger than ``size`` raises ``ERR_DIMS`` (as MPICH)."""
    d = ints(dims)
    _periods(periods, len(d))
    if any(x < 0 for x in d) or math.prod(d) > size:
        raise MPIException(C.ERR_DIMS, f"Invalid dimension argument: dims {d} for {size} ranks")
    return rank if rank < math.prod(d) else C.UNDEFINED


def _graph(index: Any, edges: Any) -> tuple[list[int], list[int]]:
    ix, ed = ints(index), ints(edges)
    # mpi4py's extension: "standard" adjacency arrays start with a 0
    if len(ix) > 1 and ix[0] == 0 and ix[-1] == len(ed):
        ix = ix[1:]
    return ix, ed


def graph_args(index: Any, edges: Any, size: int) -> Graph:
    """``Create_graph``'s graph; ``ERR_ARG`` for more nodes than ``size``,
    an ``index`` that decreases or overruns ``edges``, or an edge to no node
    (as MPICH)."""
    ix, ed = _graph(index, edges)
    nnodes = len(ix)
    if nnodes > size:
        raise MPIException(C.ERR_ARG, f"Invalid argument: {nnodes} nodes for {size} ranks")
    last = 0
    for i, x in enumerate(ix):
        if x < last:
            raise MPIException(C.ERR_ARG, f"Invalid argument: index[{i}] = {x} < {last}")
        last = x
    if last > len(ed):
        raise MPIException(C.ERR_ARG, f"Invalid argument: index needs {last} edges, got {len(ed)}")
    ed = ed[:last]
    for i, e in enumerate(ed):
        if not 0 <= e < nnodes:
            raise MPIException(
                C.ERR_ARG, f"Invalid argument: edges[{i}] = {e} is not a node of {nnodes}"
            )
    pairs: Counter[tuple[int, int]] = Counter()
    start = 0
    for node, stop in enumerate(ix):
        pairs.update((node, e) for e in ed[start:stop])
        start = stop
    symmetric = all(pairs[(b, a)] == n for (a, b), n in pairs.items())
    return Graph(tuple(ix), tuple(ed), symmetric)


def graph_map(index: Any, edges: Any, size: int, rank: int) -> int:
    """``Graph_map`` without reordering: ``rank`` if the graph holds it,
    else ``UNDEFINED``; checked as ``Create_graph``."""
    g = graph_args(index, edges, size)
    return rank if rank < len(g.index) else C.UNDEFINED


def _is(obj: Any, const: int) -> bool:
    return obj is const or (type(obj) is int and obj == const)


def weights_of(weights: Any, n: int) -> tuple[int, ...] | None:
    """Edge weights as mpi4py reads them: None or ``UNWEIGHTED`` gives None,
    ``WEIGHTS_EMPTY`` no weights (``ValueError`` for a nonzero degree), a
    sequence ``n`` non-negative ints (``ERR_ARG`` for a negative one)."""
    if weights is None or _is(weights, C.UNWEIGHTED):
        return None
    if _is(weights, C.WEIGHTS_EMPTY):
        if n > 0:
            raise ValueError("empty weights but nonzero degree")
        return ()
    out = fixed(weights, n)
    if any(w < 0 for w in out):
        raise MPIException(C.ERR_ARG, f"Invalid argument: negative weight in {out}")
    return tuple(out)


def _ranks(seq: list[int], size: int, what: str, proc_null: bool) -> None:
    for i, r in enumerate(seq):
        if not (0 <= r < size or (proc_null and r == C.PROC_NULL)):
            raise MPIException(
                C.ERR_ARG, f"Invalid argument: {what}[{i}] = {r} is not a rank of {size}"
            )


def dist_adjacent_args(
    sources: Any, destinations: Any, sourceweights: Any, destweights: Any, size: int
) -> DistGraph:
    """``Create_dist_graph_adjacent``'s edges of this rank. ``PROC_NULL``
    may stand for a neighbor (as MPICH allows); another rank outside the
    communicator raises ``ERR_ARG``; weights on one side only (with a
    nonzero degree there) too."""
    src = [] if sources is None else ints(sources)
    dst = [] if destinations is None else ints(destinations)
    sw, dw = weights_of(sourceweights, len(src)), weights_of(destweights, len(dst))
    _ranks(src, size, "sources", True)
    _ranks(dst, size, "destinations", True)
    if (sw is None) != (dw is None):
        bare, n = ("sourceweights", len(src)) if sw is None else ("destweights", len(dst))
        if n:
            raise MPIException(C.ERR_ARG, f"Invalid argument: {bare} missing in a weighted graph")
        sw, dw = sw or (), dw or ()
    return DistGraph(tuple(src), tuple(dst), sw, dw)


def dist_graph_edges(
    sources: Any, degrees: Any, destinations: Any, weights: Any, size: int
) -> list[tuple[int, int, int]]:
    """The edges ``(source, destination, weight)`` one rank gives
    ``Create_dist_graph``, in its order (weight 1 when unweighted).
    ``ERR_ARG`` for a negative degree or weight or a rank outside the
    communicator; ``ValueError`` for lists of the wrong lengths."""
    src = ints(sources)
    deg = fixed(degrees, len(src))
    if any(d < 0 for d in deg):
        raise MPIException(C.ERR_ARG, f"Invalid argument: negative degree in {deg}")
    dst = fixed(destinations, sum(deg))
    w = weights_of(weights, len(dst))
    _ranks(src, size, "sources", False)
    _ranks(dst, size, "destinations", False)
    out, k = [], 0
    for s, d in zip(src, deg, strict=True):
        for _ in range(d):
            out.append((s, dst[k], 1 if not w else w[k]))
            k += 1
    return out


def pairing(
    sources: Sequence[int], destinations: Sequence[int]
) -> tuple[list[int], dict[tuple[int, int], int]]:
    """``(keys, slot)`` of a graph's blocks: ``keys[j]`` labels send block
    ``j`` (how many earlier blocks go to the same rank); ``slot[(peer,
    key)]`` is the receive block a message from ``peer`` labelled ``key``
    lands in, so that the ``k``-th edge to a rank meets the ``k``-th edge
    from it. Null neighbors (negative ranks) take no slot. (A grid's blocks
    cross instead: zmqmesh's mesh communicator labels them so.)"""
    seen: Counter[int] = Counter()
    keys = []
    for q in destinations:
        keys.append(seen[q])
        seen[q] += 1
    seen.clear()
    slot = {}
    for i, p in enumerate(sources):
        if p >= 0:
            slot[(p, seen[p])] = i
            seen[p] += 1
    return keys, slot
