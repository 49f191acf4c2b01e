"""Graph arithmetic over topologies: building one, spanning trees over its
edges, and how many connections it costs.

Theory of operation. A topology's edges are its neighbor relation:
``neighbors_of(r)`` for each rank ``r``. Collectives on a topology
communicator run over those edges only, so a rooted operation (bcast,
reduce, gather, scatter) needs a tree made of them: :func:`spanning_tree`
does a breadth-first search from the root, visiting each rank's neighbors in
their listed order, so every rank computes the same tree without talking.
On a tree topology rooted where asked, it is that tree itself.

:func:`sockets_per_rank` and :func:`connections` count the ZeroMQ
connections a topology costs (one outbound DEALER per distinct peer, see
ARCHITECTURE.md), in closed form so they work for p = 100,000 without
enumerating anything; the tests check them against enumeration for small p.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

from ._check import as_int, check_size_rank
from .basic import FullTopo, RingTopo, TreeTopo
from .cart import MeshTopo
from .dims import dims_create

__all__ = [
    "KINDS",
    "Topology",
    "connections",
    "make_topology",
    "sockets_per_rank",
    "spanning_tree",
]

Topology: TypeAlias = RingTopo | TreeTopo | MeshTopo | FullTopo

KINDS = ("ring", "tree", "mesh", "full")
"""The topology kinds, as ``create_topology`` names them."""


def make_topology(kind: str, size: int, rank: int, **params: Any) -> Topology:
    """The topology ``kind`` over ``size`` ranks, seen from ``rank``.

    Parameters, as ``Comm.create_topology`` takes them: ``"ring"`` and
    ``"full"`` none; ``"tree"`` ``arity=2, root=0``; ``"mesh"`` ``dims``
    (required; zeros are filled by :func:`dims_create`, so ``dims=(0, 0)``
    is the most square 2-d grid) and ``periodic`` (a bool for every
    dimension or one per dimension; default ``False``, as mpi4py's
    ``Create_cart``). The mesh must hold exactly ``size`` ranks.

    Raises ``ValueError`` for an unknown kind or bad values, ``TypeError``
    for unknown parameters or wrong types.
    """
    size, rank = check_size_rank(size, rank)
    _check_params(kind, params)
    if kind == "ring":
        return RingTopo(size, rank)
    if kind == "full":
        return FullTopo(size, rank)
    if kind == "tree":
        return TreeTopo(size, rank, params.get("arity", 2), params.get("root", 0))
    dims, periodic = _mesh_shape(size, params)
    return MeshTopo(dims, periodic, rank)


_PARAMS = {
    "ring": frozenset(),
    "full": frozenset(),
    "tree": frozenset({"arity", "root"}),
    "mesh": frozenset({"dims", "periodic"}),
}


def _check_params(kind: str, params: dict[str, Any], extra: frozenset[str] = frozenset()) -> None:
    if kind not in _PARAMS:
        raise ValueError(f"unknown topology kind {kind!r}; expected one of {', '.join(KINDS)}")
    unknown = set(params) - _PARAMS[kind] - extra
    if unknown:
        allowed = sorted(_PARAMS[kind] | extra)
        raise TypeError(
            f"{kind} topology takes no parameter {', '.join(sorted(unknown))}"
            + (f" (it takes {', '.join(allowed)})" if allowed else "")
        )


def _mesh_shape(size: int, params: dict[str, Any]) -> tuple[tuple[int, ...], tuple[bool, ...]]:
    if "dims" in params:
        raw = params["dims"]
        if isinstance(raw, (str, bytes)) or not isinstance(raw, Sequence):
            raise TypeError(f"dims must be a sequence of ints, got {type(raw).__name__}")
        dims = dims_create(size, len(raw), raw) if 0 in raw else tuple(raw)
    elif "ndims" in params:
        dims = dims_create(size, params["ndims"])
    else:
        raise TypeError("a mesh topology needs dims=(...)")
    periodic = params.get("periodic", False)
    if isinstance(periodic, bool):
        periodic = (periodic,) * len(dims)
    elif isinstance(periodic, (str, bytes)) or not isinstance(periodic, Sequence):
        raise TypeError(f"periodic must be a bool or a sequence, got {type(periodic).__name__}")
    mesh = MeshTopo(tuple(dims), tuple(periodic), 0)  # validates every entry
    if mesh.size != size:
        raise ValueError(f"mesh dims {mesh.dims} hold {mesh.size} ranks, not {size}")
    return mesh.dims, mesh.periodic


def spanning_tree(
    size: int, neighbors_of: Callable[[int], Sequence[int]], root: int
) -> tuple[list[int | None], list[tuple[int, ...]]]:
    """A breadth-first spanning tree of the graph ``r -> neighbors_of(r)``.

    Returns ``(parent, children)``: ``parent[r]`` is ``r``'s parent (``None``
    for ``root``) and ``children[r]`` its children in discovery order. Every
    edge used is ``parent -> child`` with ``child in neighbors_of(parent)``;
    self-loops and repeated neighbors are ignored. Deterministic: the same
    graph and root give the same tree on every rank.

    Raises ``ValueError`` if ``size < 1``, ``root`` is out of range, a
    neighbor is out of range, or some rank cannot be reached from ``root``.
    """
    size, root = check_size_rank(size, root)
    parent: list[int | None] = [None] * size
    kids: list[list[int]] = [[] for _ in range(size)]
    seen = [False] * size
    seen[root] = True
    reached = 1
    queue = deque([root])
    while queue:
        u = queue.popleft()
        for v in neighbors_of(u):
            v = as_int("neighbor", v)
            if not 0 <= v < size:
                raise ValueError(f"rank {u} lists neighbor {v}, outside [0, {size})")
            if not seen[v]:
                seen[v] = True
                reached += 1
                parent[v] = u
                kids[u].append(v)
                queue.append(v)
    if reached != size:
        missing = [r for r in range(size) if not seen[r]]
        shown = ", ".join(map(str, missing[:8])) + (", ..." if len(missing) > 8 else "")
        raise ValueError(
            f"the topology is disconnected: {len(missing)} of {size} ranks "
            f"cannot be reached from root {root} ({shown})"
        )
    return parent, [tuple(k) for k in kids]


def sockets_per_rank(kind: str, p: int, **params: Any) -> int:
    """The most outbound connections (distinct peers other than itself) any
    one rank opens under topology ``kind`` with ``p`` ranks.

    ``"ring"``: ``min(2, p - 1)``; ``"tree"`` (``arity=2``): ``arity + 1`` for
    an inner rank of a large enough tree; ``"mesh"`` (``dims=`` or ``ndims=``,
    the latter through :func:`dims_create`; ``periodic`` accepted, it does
    not change the maximum): ``sum(min(2, d - 1) for d in dims)``; ``"full"``:
    ``p - 1``. Raises as :func:`make_topology`.
    """
    p = _check_p(p)
    _check_params(kind, params, extra=frozenset({"ndims"}) if kind == "mesh" else frozenset())
    if kind == "ring":
        return min(2, p - 1)
    if kind == "full":
        return p - 1
    if kind == "tree":
        tree = TreeTopo(p, 0, params.get("arity", 2), params.get("root", 0))
        # Children counts fall with the relative rank: the root (relative 0)
        # or relative rank 1 (a parent plus the most children) is the busiest.
        return max(len(tree.at((v + tree.root) % p).neighbors) for v in range(min(p, 2)))
    dims, _ = _mesh_shape(p, params)
    # Peers along different dimensions differ in different coordinates, so
    # they never coincide: an inner rank has min(2, d - 1) distinct peers per dim.
    return sum(min(2, d - 1) for d in dims)


def connections(kind: str, p: int, **params: Any) -> int:
    """Outbound connections summed over all ``p`` ranks: twice the number of
    edges between distinct ranks, as each end opens its own DEALER.

    Same parameters as :func:`sockets_per_rank`; a mesh is non-periodic
    unless ``periodic`` says otherwise.
    """
    p = _check_p(p)
    _check_params(kind, params, extra=frozenset({"ndims"}) if kind == "mesh" else frozenset())
    if kind == "ring":
        return p * min(2, p - 1)
    if kind == "full":
        return p * (p - 1)
    if kind == "tree":
        TreeTopo(p, 0, params.get("arity", 2), params.get("root", 0))  # validates
        return 2 * (p - 1)
    dims, periodic = _mesh_shape(p, params)
    edges = 0
    for d, wrap in zip(dims, periodic, strict=True):
        # Edges along one line of extent d; wrapping adds one unless d <= 2,
        # where the wrap edge joins ranks already joined (or a rank to itself).
        per_line = d if wrap and d > 2 else d - 1
        edges += (p // d) * per_line
    return 2 * edges


def _check_p(value: Any) -> int:
    p = as_int("p", value)
    if p < 1:
        raise ValueError(f"p must be >= 1, got {p}")
    return p
