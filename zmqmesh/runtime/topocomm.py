"""Topology communicators: a ``Comm`` whose collectives use only its edges.

``Comm.create_topology`` builds one (collectively). It has the same ranks as
its parent and a message space of its own; it connects eagerly to its
neighbors and runs every collective over them: rooted ones over a spanning
tree of the edges, the rest as compositions of those, and on a ring the
ring algorithms for large arrays. A ``full`` topology has every edge, so it
uses the general algorithms.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from zmqmesh.collectives import allgather, allreduce
from zmqmesh.collectives.base import is_segmentable
from zmqmesh.collectives.ops import SUM, Op, op_id, working_copy
from zmqmesh.collectives.select import ALLREDUCE_LARGE
from zmqmesh.collectives.signature import payload_sig
from zmqmesh.collectives.tree import (
    Tree,
    tree_barrier,
    tree_bcast,
    tree_gather,
    tree_neighbor_exchange,
    tree_reduce,
    tree_scatter,
)
from zmqmesh.runtime.comm import Comm
from zmqmesh.runtime.engine import Engine
from zmqmesh.topology import Topology, spanning_tree
from zmqmesh.topology.edges import edge_keys

__all__ = ["EdgeComm", "TopoComm", "topo_comm"]

# The attributes API.md gives each kind, served from the topology value.
_ATTRS = {
    "ring": {"left", "right"},
    "tree": {"parent", "children", "arity", "root"},
    "mesh": {"dims", "periodic", "coords", "rank_of", "shift", "ndims", "coords_of"},
    "full": set(),
}


class TopoComm(Comm):
    """A communicator with a topology (see API.md, "Communicators and
    topologies"): ``.kind``, ``.neighbors``, the kind's attributes,
    ``neighbor_allgather``, ``neighbor_alltoall`` and ``connections``.
    Collectives use the general algorithms (a full topology has every edge);
    :class:`EdgeComm` restricts them to the edges."""

    def __init__(
        self, engine: Engine, ranks: tuple[int, ...], slot: int, topo: Topology, ident: int = 0
    ) -> None:
        super().__init__(engine, ranks, slot, ident)
        self._topo = topo
        self._keys = edge_keys(topo)
        self._trees: dict[int, Tree] = {}
        for q in set(topo.neighbors) - {self._rank}:
            self._use(q)
            engine.connect(ranks[q])

    @property
    def kind(self) -> str:
        return self._topo.kind

    @property
    def neighbors(self) -> tuple[int, ...]:
        return self._topo.neighbors

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in _ATTRS[self._topo.kind]:
            raise AttributeError(f"a {self._topo.kind} topology has no attribute {name!r}")
        return getattr(self._topo, name)

    def __repr__(self) -> str:
        return f"<TopoComm {self._topo.kind} rank={self._rank} size={self.size}>"

    def _tree(self, root: int) -> Tree:
        t = self._trees.get(root)
        if t is None:
            topo = self._topo
            parents, kids = spanning_tree(self.size, lambda r: topo.at(r).neighbors, root)
            t = self._trees[root] = Tree.build(self._rank, parents, kids)
        return t

    def _home(self) -> int:
        """The root of unrooted collectives: the tree's own root on a tree."""
        return int(self._topo.root) if self._topo.kind == "tree" else 0  # type: ignore[union-attr]

    # -- neighborhood collectives ------------------------------------------
    async def neighbor_alltoall(self, seq: Sequence[Any]) -> list[Any]:
        """Send ``seq[i]`` to ``neighbors[i]``; return, in ``neighbors``
        order, what each neighbor sent along that edge."""
        if isinstance(seq, (str, bytes)) or not isinstance(seq, Sequence):
            raise TypeError(f"neighbor_alltoall needs a sequence, not {type(seq).__name__}")
        if len(seq) != len(self.neighbors):
            raise ValueError(
                f"neighbor_alltoall needs one item per neighbor: got {len(seq)} for "
                f"{len(self.neighbors)} neighbors"
            )
        ch = self._channel("neighbor_alltoall")
        return await tree_neighbor_exchange(ch, seq, self.neighbors, self._keys)

    async def neighbor_allgather(self, obj: Any) -> list[Any]:
        """Every neighbor's ``obj``, in ``neighbors`` order."""
        ch = self._channel("neighbor_allgather")
        return await tree_neighbor_exchange(
            ch, [obj] * len(self.neighbors), self.neighbors, self._keys
        )


class EdgeComm(TopoComm):
    """A topology communicator whose collectives use its edges only
    (ring, tree, mesh)."""

    # -- collectives over the edges ------------------------------------------
    async def barrier(self) -> None:
        await tree_barrier(self._channel("barrier", "tree"), self._tree(self._home()))

    async def bcast(self, obj: Any, root: int = 0) -> Any:
        root = self._root(root)
        return await tree_bcast(self._channel("bcast", "tree", root), obj, self._tree(root))

    async def scatter(self, seq: Sequence[Any] | None, root: int = 0) -> Any:
        root = self._root(root)
        if self._rank == root:
            self._check_seq(seq, "scatter")
        return await tree_scatter(self._channel("scatter", "tree", root), seq, self._tree(root))

    async def gather(self, obj: Any, root: int = 0) -> list[Any] | None:
        root = self._root(root)
        ch = self._channel("gather", "tree", root)
        return await tree_gather(ch, obj, self._tree(root), self.size)

    async def allgather(self, obj: Any) -> list[Any]:
        if self._topo.kind == "ring":
            return await allgather.ring(self._channel("allgather", "ring"), obj)
        home = self._tree(self._home())
        ch = self._channel("allgather", "tree")
        everything: list[Any] = await tree_bcast(
            ch, await tree_gather(ch, obj, home, self.size), home
        )
        return everything

    async def reduce(self, obj: Any, op: Op = SUM, root: int = 0) -> Any:
        root, op = self._root(root), self._op(op)
        ch = self._channel("reduce", "tree", root, op_id(op), payload_sig(obj))
        t = self._tree(root)
        if op.commute:
            return await tree_reduce(ch, obj, op, t)
        items = await tree_gather(ch, obj, t, self.size)
        return None if items is None else _fold(op, items)

    async def allreduce(self, obj: Any, op: Op = SUM) -> Any:
        op = self._op(op)
        seg = is_segmentable(obj)
        if (
            self._topo.kind == "ring"
            and seg
            and op.commute
            and self.size > 1
            and obj.nbytes >= ALLREDUCE_LARGE
        ):
            ch = self._channel("allreduce", "ring", op_id(op), payload_sig(obj))
            return await allreduce.ring(ch, obj, op)
        ch = self._channel("allreduce", "tree", op_id(op), payload_sig(obj))
        home = self._tree(self._home())
        if op.commute:
            res = await tree_reduce(ch, obj, op, home)
        else:
            items = await tree_gather(ch, obj, home, self.size)
            res = None if items is None else _fold(op, items)
        return await tree_bcast(ch, res, home)

    async def alltoall(self, seq: Sequence[Any]) -> list[Any]:
        self._check_seq(seq, "alltoall")
        home = self._tree(self._home())
        ch = self._channel("alltoall", "tree")
        rows = await tree_gather(ch, list(seq), home, self.size)
        cols = None if rows is None else [[row[j] for row in rows] for j in range(self.size)]
        return list(await tree_scatter(ch, cols, home))

    async def reduce_scatter(self, seq: Sequence[Any], op: Op = SUM) -> Any:
        self._check_seq(seq, "reduce_scatter")
        op = self._op(op)
        home = self._tree(self._home())
        ch = self._channel("reduce_scatter", "tree", op_id(op), [payload_sig(x) for x in seq])
        rows = await tree_gather(ch, list(seq), home, self.size)
        cols = None
        if rows is not None:
            cols = [_fold(op, [row[j] for row in rows]) for j in range(self.size)]
        return await tree_scatter(ch, cols, home)

    async def scan(self, obj: Any, op: Op = SUM) -> Any:
        return await self._prefix("scan", obj, op, inclusive=True)

    async def exscan(self, obj: Any, op: Op = SUM) -> Any:
        return await self._prefix("exscan", obj, op, inclusive=False)

    async def _prefix(self, name: str, obj: Any, op: Op, *, inclusive: bool) -> Any:
        op = self._op(op)
        home = self._tree(self._home())
        ch = self._channel(name, "tree", op_id(op), payload_sig(obj))
        items = await tree_gather(ch, obj, home, self.size)
        out: list[Any] | None = None
        if items is not None:
            out, acc = [], None
            for i, x in enumerate(items):
                if not inclusive:
                    out.append(acc)
                acc = working_copy(x) if i == 0 else op(acc, x)
                if inclusive:
                    out.append(acc)
        return await tree_scatter(ch, out, home)


def topo_comm(
    engine: Engine, ranks: tuple[int, ...], slot: int, topo: Topology, ident: int = 0
) -> TopoComm:
    """The communicator for ``topo``: a full topology has every edge, so it
    keeps the general algorithms; the others run over their edges."""
    cls = TopoComm if topo.kind == "full" else EdgeComm
    return cls(engine, ranks, slot, topo, ident)


def _fold(op: Op, items: Sequence[Any]) -> Any:
    acc = working_copy(items[0])
    for x in items[1:]:
        acc = op.combine_into(acc, x, left=True)
    return acc
