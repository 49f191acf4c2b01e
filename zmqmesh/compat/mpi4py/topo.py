"""Process topologies: ``MPI.Topocomm``, ``Cartcomm``, ``Graphcomm`` and
``Distgraphcomm``, and the ``Intracomm`` calls that make them
(``Create_cart``, ``Create_graph``, ``Create_dist_graph_adjacent``,
``Create_dist_graph``, ``Cart_map``, ``Graph_map``).

A Cartesian communicator is zmqmesh's mesh topology communicator
(``create_topology("mesh")``): it connects to its grid neighbors only and
runs its collectives, the neighborhood ones too, over those edges. The
graph kinds are a plain communicator of the same ranks with the graph kept
in the handle's box; their neighborhood collectives move each block
straight to its neighbor on the communicator's collective channel. Ranks
are never reordered (``reorder`` is accepted and ignored, as MPI allows);
ranks beyond the topology's size get a null handle of the class.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Awaitable
from typing import Any, ClassVar, cast

import zmqmesh
from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import runner
from zmqmesh.compat.mpi4py.comm import Intracomm, Made, _paired
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.neighbor import NeighborCalls, edge_exchange
from zmqmesh.compat.mpi4py.ranks import rank_out
from zmqmesh.compat.mpi4py.topospec import (
    Cart,
    DistGraph,
    Graph,
    cart_args,
    cart_map,
    dist_adjacent_args,
    dist_graph_edges,
    fixed,
    graph_args,
    graph_map,
    pairing,
)
from zmqmesh.runtime.comm import Comm as ZComm

__all__ = ["Cartcomm", "Distgraphcomm", "Graphcomm", "Topocomm"]


def _made(cls: type[Topocomm], pair: Made | None, topo: Any) -> Any:
    """A handle of ``cls`` naming ``pair`` with topology ``topo``; the
    class's null handle where the rank is left out."""
    if pair is None:
        return cls()
    c = cls._of(pair)
    c._h.topo = topo
    return c


class Topocomm(Intracomm, NeighborCalls):
    """A communicator with a process topology."""

    __slots__ = ()
    _kind: ClassVar[int | None] = None
    _expecting: ClassVar[str] = "expecting a topology communicator"

    def __new__(cls, other: Any = None, *args: Any, **kwargs: Any) -> Any:
        # ``Cartcomm(comm)``, as mpi4py: only a communicator of the kind
        obj = super().__new__(cls, other, *args, **kwargs)
        if obj._h is not None:
            topo = obj._h.topo
            if topo is None or (cls._kind is not None and topo.kind != cls._kind):
                raise TypeError(cls._expecting)
        return obj

    def _topo(self) -> Any:
        self._comm  # noqa: B018 (ERR_COMM for the null communicator)
        return self._h.topo

    # -- neighbors ------------------------------------------------------------------------------
    @property
    def inoutedges(self) -> tuple[list[int], list[int]]:
        """Incoming and outgoing neighbors, in the blocks' order."""
        return self._edges()

    @property
    def inedges(self) -> list[int]:
        """Incoming neighbors."""
        return self._edges()[0]

    @property
    def outedges(self) -> list[int]:
        """Outgoing neighbors."""
        return self._edges()[1]

    @property
    def degrees(self) -> tuple[int, int]:
        """Number of incoming and outgoing neighbors."""
        src, dst = self._edges()
        return len(src), len(dst)

    @property
    def indegree(self) -> int:
        """Number of incoming neighbors."""
        return self.degrees[0]

    @property
    def outdegree(self) -> int:
        """Number of outgoing neighbors."""
        return self.degrees[1]

    def _edges(self) -> tuple[list[int], list[int]]:
        """Sources and destinations in the blocks' order: on a grid, per
        dimension the source then the dest of ``Shift(d, 1)``; on a graph
        ``Get_neighbors`` both ways; on a distributed graph its lists."""
        topo = self._topo()
        if isinstance(topo, Cart):
            mesh = cast(Any, self._comm)
            nbrs = [rank_out(r) for d in range(len(topo.dims)) for r in mesh.shift(d, 1)]
            return nbrs, list(nbrs)
        if isinstance(topo, Graph):
            nbrs = topo.neighbors(self._comm.rank)
            return nbrs, list(nbrs)
        return list(topo.sources), list(topo.destinations)

    def _exchange(self, name: str, items: list[Any]) -> Awaitable[list[Any]]:
        """One neighborhood call. On a grid over zmqmesh's mesh, whose
        ``neighbors`` are the non-null blocks in this order and where the
        block sent down a dimension lands in the neighbor's up block; on a
        graph over the collective channel, the ``k``-th edge to a peer
        pairing with the ``k``-th edge from it (both MPI 4.1, 8.6)."""
        topo = self._topo()
        src, dst = self._edges()
        if isinstance(topo, Cart):
            live = [j for j, q in enumerate(src) if q >= 0]
            return _over_mesh(self._comm, [items[j] for j in live], live, len(src))
        if isinstance(topo, Graph) and not topo.symmetric:
            # every rank knows the whole graph: all raise, none waits
            raise MPIException(
                C.ERR_TOPOLOGY,
                "Invalid topology: neighborhood collectives on a graph need every pair "
                "of nodes joined as often both ways",
            )
        if isinstance(topo, DistGraph) and not topo.consistent:
            raise MPIException(
                C.ERR_TOPOLOGY,
                "Invalid topology: neighborhood collectives on a distributed graph need "
                "every edge listed as often at its source as at its destination",
            )
        keys, slot = pairing(src, dst)
        return edge_exchange(self._comm, name, items, src, dst, keys, slot)

    # -- life -----------------------------------------------------------------------------------
    def _remake(self) -> Awaitable[ZComm]:
        """A new zmqmesh communicator for a duplicate (collective): a grid
        is a new mesh communicator, a graph a duplicate."""
        topo = self._topo()
        if isinstance(topo, Cart):
            return self._comm.create_topology("mesh", dims=topo.dims, periodic=topo.periods)
        return self._comm.dup()

    def Dup(self, info: Any = None) -> Any:
        """A duplicate with the same topology."""
        topo = self._topo()
        new = _made(type(self), runner.run(_paired(self._remake(), members=self._members())), topo)
        self._copy_attrs_to(new)
        return new

    Clone = Dup


class Cartcomm(Topocomm):
    """A Cartesian grid (``Create_cart``), over zmqmesh's mesh topology."""

    __slots__ = ()
    _kind = C.CART
    _expecting = "expecting a Cartesian communicator"

    def _mesh(self) -> Any:
        return cast(Any, self._comm)  # a mesh TopoComm: dims, coords, shift...

    def Get_dim(self) -> int:
        """Number of dimensions."""
        return len(self._topo().dims)

    dim = ndim = property(Get_dim)

    def Get_topo(self) -> tuple[list[int], list[int], list[int]]:
        """Return ``(dims, periods, coords)``, periods as 0 and 1 (as mpi4py)."""
        topo: Cart = self._topo()
        return list(topo.dims), [int(p) for p in topo.periods], list(self._mesh().coords)

    topo = property(Get_topo)

    @property
    def dims(self) -> list[int]:
        """Dimensions."""
        return self.Get_topo()[0]

    @property
    def periods(self) -> list[int]:
        """Periodicity."""
        return self.Get_topo()[1]

    @property
    def coords(self) -> list[int]:
        """Coordinates."""
        return self.Get_topo()[2]

    def Get_cart_rank(self, coords: Any) -> int:
        """The rank at ``coords`` (wrapping on periodic dimensions);
        ``ERR_ARG`` off a non-periodic one."""
        at = fixed(coords, self.Get_dim())
        try:
            return int(self._mesh().rank_of(tuple(at)))
        except ValueError as exc:
            raise MPIException(C.ERR_ARG, f"Invalid argument: {exc}") from None

    def Get_coords(self, rank: int) -> list[int]:
        """The coordinates of ``rank``; ``ERR_RANK`` for no rank of the grid."""
        r = int(rank)
        if not 0 <= r < self.Get_size():
            raise MPIException(C.ERR_RANK, f"Invalid rank {r}")
        return list(self._mesh().coords_of(r))

    def Shift(self, direction: int, disp: int) -> tuple[int, int]:
        """Return the ranks ``(source, dest)`` ``disp`` steps down and up
        ``direction``; ``PROC_NULL`` off a non-periodic edge; ``ERR_ARG`` for
        no dimension."""
        d = int(direction)
        if not 0 <= d < self.Get_dim():
            raise MPIException(C.ERR_ARG, f"Invalid argument: direction {d}")
        src, dst = self._mesh().shift(d, int(disp))
        return rank_out(src), rank_out(dst)

    def Sub(self, remain_dims: Any) -> Cartcomm:
        """The grid of the dimensions kept, through this rank (``Cart_sub``):
        ranks that agree in the dropped coordinates, in row-major order."""
        topo: Cart = self._topo()
        keep = [bool(k) for k in fixed(remain_dims, len(topo.dims))]
        mesh, members = self._mesh(), self._members()

        def dropped(r: int) -> tuple[int, ...]:
            return tuple(c for c, k in zip(mesh.coords_of(r), keep, strict=True) if not k)

        mine = dropped(mesh.rank)
        color = 0
        for c, d, k in zip(mesh.coords, topo.dims, keep, strict=True):
            color = color if k else color * d + c
        sub = Cart(
            tuple(d for d, k in zip(topo.dims, keep, strict=True) if k),
            tuple(p for p, k in zip(topo.periods, keep, strict=True) if k),
        )
        ranks = [members[r] for r in range(mesh.size) if dropped(r) == mine]
        made = _grid(mesh, sub, color, ranks)
        sub_comm: Cartcomm = _made(Cartcomm, runner.run(made), sub)
        return sub_comm


async def _over_mesh(mesh: Any, items: list[Any], live: list[int], n: int) -> list[Any]:
    got = await mesh.neighbor_alltoall(items)
    out: list[Any] = [None] * n
    for j, item in zip(live, got, strict=True):
        out[j] = item
    return out


async def _grid(z: Any, cart: Cart, color: int | None, members: list[int]) -> Made | None:
    """The mesh communicator of ``cart`` over the ranks of colour ``color``
    (None: left out; ``-1``: all of ``z``, as they are)."""
    base = z
    if color != -1:
        base = await z.split(color, z.rank)
        if base is None:
            return None
    made = base.create_topology("mesh", dims=cart.dims, periodic=cart.periods)
    return await _paired(made, members=members)


async def _first(z: ZComm, n: int, members: tuple[int, ...]) -> Made | None:
    """A new communicator of the first ``n`` ranks of ``z`` (None beyond)."""
    made = z.dup() if n == z.size else z.split(0 if z.rank < n else None, z.rank)
    return await _paired(made, members=members[:n])


class Graphcomm(Topocomm):
    """A general graph (``Create_graph``)."""

    __slots__ = ()
    _kind = C.GRAPH
    _expecting = "expecting a general graph communicator"

    def Get_dims(self) -> tuple[int, int]:
        """Return ``(nnodes, nedges)``."""
        g: Graph = self._topo()
        return len(g.index), len(g.edges)

    dims = property(Get_dims)

    @property
    def nnodes(self) -> int:
        """Number of nodes."""
        return self.Get_dims()[0]

    @property
    def nedges(self) -> int:
        """Number of edges."""
        return self.Get_dims()[1]

    def Get_topo(self) -> tuple[list[int], list[int]]:
        """Return ``(index, edges)``."""
        g: Graph = self._topo()
        return list(g.index), list(g.edges)

    topo = property(Get_topo)

    @property
    def index(self) -> list[int]:
        """Index."""
        return self.Get_topo()[0]

    @property
    def edges(self) -> list[int]:
        """Edges."""
        return self.Get_topo()[1]

    def Get_neighbors_count(self, rank: int) -> int:
        """The number of neighbors of ``rank`` in the graph."""
        return len(self.Get_neighbors(rank))

    def Get_neighbors(self, rank: int) -> list[int]:
        """Return ``rank``'s neighbors in ``edges`` order; ``ERR_RANK`` off the graph."""
        g: Graph = self._topo()
        return g.neighbors(rank)

    @property
    def nneighbors(self) -> int:
        """Number of neighbors."""
        return self.Get_neighbors_count(self.Get_rank())

    @property
    def neighbors(self) -> list[int]:
        """Neighbors."""
        return self.Get_neighbors(self.Get_rank())


class Distgraphcomm(Topocomm):
    """A distributed graph (``Create_dist_graph_adjacent``, ``Create_dist_graph``)."""

    __slots__ = ()
    _kind = C.DIST_GRAPH
    _expecting = "expecting a distributed graph communicator"

    def Get_dist_neighbors_count(self) -> tuple[int, int, bool]:
        """Return ``(indegree, outdegree, weighted)``."""
        g: DistGraph = self._topo()
        return len(g.sources), len(g.destinations), g.sourceweights is not None

    def Get_dist_neighbors(
        self,
    ) -> tuple[list[int], list[int], tuple[list[int], list[int]] | None]:
        """Return ``(sources, destinations, (sourceweights, destweights) or None)``."""
        g: DistGraph = self._topo()
        weights = None
        if g.sourceweights is not None and g.destweights is not None:
            weights = (list(g.sourceweights), list(g.destweights))
        return list(g.sources), list(g.destinations), weights


# -- constructors on Intracomm --------------------------------------------------------------------


def _create_cart(
    self: Intracomm, dims: Any, periods: Any = None, reorder: bool = False
) -> Cartcomm:
    """A Cartesian grid of the first ``prod(dims)`` ranks (row-major, as
    MPI; ``COMM_NULL`` beyond); ``ERR_ARG`` for a grid larger than this
    communicator, ``ERR_DIMS`` for a negative extent."""
    z = self._comm
    cart = cart_args(dims, periods, z.size)
    n = math.prod(cart.dims)
    color = -1 if n == z.size else (0 if z.rank < n else None)
    got = runner.run(_grid(z, cart, color, list(self._members()[:n])))
    made: Cartcomm = _made(Cartcomm, got, cart)
    return made


def _create_graph(self: Intracomm, index: Any, edges: Any, reorder: bool = False) -> Graphcomm:
    """A graph of the first ``len(index)`` ranks (``COMM_NULL`` beyond);
    ``index`` may start with a 0 (mpi4py's extension); ``ERR_ARG`` for a
    graph larger than this communicator or edges to no node."""
    z = self._comm
    g = graph_args(index, edges, z.size)
    made: Graphcomm = _made(Graphcomm, runner.run(_first(z, len(g.index), self._members())), g)
    return made


def _agreed(z: ZComm, items: list[Any] | None, problem: BaseException | None) -> list[Any]:
    """``alltoall`` of ``items`` (None where this rank's arguments were
    wrong); raises ``problem`` here and ``ERR_ARG`` on every other rank
    when a rank's arguments were wrong, so that none is left waiting."""
    sent = [None] * z.size if items is None else items
    got: list[Any] = runner.run(z.alltoall(sent))
    if problem is not None:
        raise problem
    if any(item is None for item in got):
        raise MPIException(C.ERR_ARG, "Invalid argument: another rank's graph is invalid")
    return got


def _create_dist_graph_adjacent(
    self: Intracomm,
    sources: Any,
    destinations: Any,
    sourceweights: Any = None,
    destweights: Any = None,
    info: Any = None,
    reorder: bool = False,
) -> Distgraphcomm:
    """A distributed graph of this rank's in- and out-edges (duplicates
    allowed). A graph whose edges are not listed as often at both ends is
    made (as MPI implementations make it), but a neighborhood collective on
    it raises ``ERR_TOPOLOGY`` on every rank, never waits."""
    z = self._comm
    topo, items, problem = None, None, None
    try:
        topo = dist_adjacent_args(sources, destinations, sourceweights, destweights, z.size)
        items = [0] * z.size
        for q in topo.destinations:
            if q >= 0:
                items[q] += 1
    except (MPIException, ValueError, TypeError) as exc:
        problem = exc
    got = _agreed(z, items, problem)
    assert topo is not None
    heard = [0] * z.size
    for p in topo.sources:
        if p >= 0:
            heard[p] += 1
    bad = runner.run(z.allreduce(int(heard != got), zmqmesh.MAX))
    topo = dataclasses.replace(topo, consistent=not bad)
    made: Distgraphcomm = _made(
        Distgraphcomm, runner.run(_paired(z.dup(), members=self._members())), topo
    )
    return made


def _create_dist_graph(
    self: Intracomm,
    sources: Any,
    degrees: Any,
    destinations: Any,
    weights: Any = None,
    info: Any = None,
    reorder: bool = False,
) -> Distgraphcomm:
    """A distributed graph whose edges any rank may give: ``degrees[i]``
    edges from ``sources[i]`` to the next entries of ``destinations``. Each
    rank's in- and out-edges are ordered by the rank that gave them, then in
    the order given (MPI leaves the order to the implementation).
    ``weighted`` is this rank's ``weights`` not None or ``UNWEIGHTED``."""
    z = self._comm
    weighted = not (weights is None or weights is C.UNWEIGHTED)
    items: list[Any] | None = None
    problem = None
    try:
        edges = dist_graph_edges(sources, degrees, destinations, weights, z.size)
        items = [([], []) for _ in range(z.size)]  # to each rank: (its out-edges, in-edges)
        for s, d, w in edges:
            items[s][0].append((d, w))
            items[d][1].append((s, w))
    except (MPIException, ValueError, TypeError) as exc:
        problem = exc
    got = _agreed(z, items, problem)
    outs = [e for part in got for e in part[0]]
    ins = [e for part in got for e in part[1]]
    topo = DistGraph(
        tuple(s for s, _ in ins),
        tuple(d for d, _ in outs),
        tuple(w for _, w in ins) if weighted else None,
        tuple(w for _, w in outs) if weighted else None,
    )
    made: Distgraphcomm = _made(
        Distgraphcomm, runner.run(_paired(z.dup(), members=self._members())), topo
    )
    return made


def _cart_map(self: Intracomm, dims: Any, periods: Any = None) -> int:
    """This rank in a grid of ``dims`` (``UNDEFINED`` beyond it); no reordering."""
    return cart_map(dims, periods, self.Get_size(), self.Get_rank())


def _graph_map(self: Intracomm, index: Any, edges: Any) -> int:
    """This rank in a graph (``UNDEFINED`` beyond it); no reordering."""
    return graph_map(index, edges, self.Get_size(), self.Get_rank())


for _fn in (
    _create_cart,
    _create_graph,
    _create_dist_graph_adjacent,
    _create_dist_graph,
    _cart_map,
    _graph_map,
):
    _fn.__name__ = _fn.__name__[1:].capitalize()  # Create_cart, ..., Graph_map
    _fn.__qualname__ = f"Intracomm.{_fn.__name__}"
    setattr(Intracomm, _fn.__name__, _fn)
