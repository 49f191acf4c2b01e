"""Collectives over a spanning tree of a topology's edges.

A topology communicator may only talk along its edges, so its rooted
collectives run over a tree made of those edges (``topology.spanning_tree``,
the same on every rank): data flows down from the root (bcast, scatter) or
up to it (reduce, gather), one message per edge. The rest are compositions
of these, meeting at the communicator's *home* (a tree topology's root,
else rank 0). Non-commutative reductions gather the operands and fold them
in rank order at the root, since a BFS tree's subtrees are not rank ranges.

The ``tree_*`` coroutines take the tree; the ones named for a collective
(``bcast``, ``allreduce``, ...) are the registered ``tree`` algorithms
(``registry.py``), with the arguments of that collective's other
algorithms, and take their trees from an :class:`EdgeChannel`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from zmqmesh.collectives.base import Channel
from zmqmesh.collectives.ops import Op, working_copy
from zmqmesh.topology import Topology, TreeTopo, spanning_tree

__all__ = [
    "EdgeChannel",
    "Edges",
    "Tree",
    "allgather",
    "allreduce",
    "alltoall",
    "barrier",
    "bcast",
    "exscan",
    "gather",
    "reduce",
    "reduce_scatter",
    "scan",
    "scatter",
    "tree_barrier",
    "tree_bcast",
    "tree_gather",
    "tree_neighbor_exchange",
    "tree_reduce",
    "tree_scatter",
]


@dataclass(frozen=True, slots=True)
class Tree:
    """One rank's view of a spanning tree: its parent, its children, and
    the ranks below each child (for scatter)."""

    parent: int | None
    children: tuple[int, ...]
    below: tuple[tuple[int, ...], ...]  # ranks in each child's subtree

    @classmethod
    def build(
        cls, rank: int, parents: Sequence[int | None], kids: Sequence[tuple[int, ...]]
    ) -> Tree:
        def subtree(r: int) -> list[int]:
            out, todo = [], [r]
            while todo:
                u = todo.pop()
                out.append(u)
                todo.extend(kids[u])
            return sorted(out)

        return cls(parents[rank], tuple(kids[rank]), tuple(tuple(subtree(c)) for c in kids[rank]))


async def tree_bcast(ch: Channel, obj: Any, t: Tree) -> Any:
    """The root's ``obj`` down every edge. Source: MPI broadcast over a
    spanning tree (e.g. MPICH's topology-aware trees)."""
    if t.parent is not None:
        obj = await ch.recv(t.parent)
    for c in t.children:
        await ch.send(c, obj)
    return obj


async def tree_reduce(ch: Channel, obj: Any, op: Op, t: Tree) -> Any:
    """Commutative reduction up the tree; the result at the root, None
    elsewhere."""
    acc, owned = obj, False
    for c in t.children:
        got = await ch.recv(c)
        if not owned:
            acc, owned = working_copy(acc), True
        acc = op.combine_into(acc, got, left=True)
    if t.parent is not None:
        await ch.send(t.parent, acc)
        return None
    return acc if owned else working_copy(acc)


async def tree_gather(ch: Channel, obj: Any, t: Tree, size: int) -> list[Any] | None:
    """Every rank's ``obj`` up the tree: a list in rank order at the root."""
    pairs: list[tuple[int, Any]] = [(ch.rank, obj)]
    for c in t.children:
        pairs.extend(await ch.recv(c))
    if t.parent is not None:
        await ch.send(t.parent, pairs)
        return None
    out: list[Any] = [None] * size
    for r, item in pairs:
        out[r] = item
    return out


async def tree_scatter(ch: Channel, seq: Sequence[Any] | None, t: Tree) -> Any:
    """Item ``r`` of the root's ``seq`` to rank ``r``, down the tree: each
    child gets the items of its subtree."""
    if t.parent is None:
        assert seq is not None
        mine: dict[int, Any] = dict(enumerate(seq))
    else:
        mine = dict(await ch.recv(t.parent))
    for c, below in zip(t.children, t.below, strict=True):
        await ch.send(c, [(r, mine[r]) for r in below])
    return mine[ch.rank]


async def tree_barrier(ch: Channel, t: Tree) -> None:
    """Fan in to the root, fan out from it."""
    for c in t.children:
        await ch.recv(c)
    if t.parent is not None:
        await ch.send(t.parent, None)
        await ch.recv(t.parent)
    for c in t.children:
        await ch.send(c, None)


async def tree_neighbor_exchange(
    ch: Channel, items: Sequence[Any], neighbors: Sequence[int], keys: Sequence[tuple[Any, Any]]
) -> list[Any]:
    """Send ``items[i]`` to ``neighbors[i]`` labelled with the receiver's key
    for that edge; return, per slot, what the neighbor in that slot sent
    along it (``neighbor_alltoall`` on any topology)."""
    slot = {(q, k[0]): i for i, (q, k) in enumerate(zip(neighbors, keys, strict=True))}
    for q, item, (_, remote) in zip(neighbors, items, keys, strict=True):
        await ch.send(q, (remote, item))
    out: list[Any] = [None] * len(neighbors)
    for q in neighbors:  # as many messages from q as slots it fills
        key, item = await ch.recv(q)
        out[slot[(q, tuple(key))]] = item
    return out


# -- a topology's trees ---------------------------------------------------------


class Edges:
    """One rank's spanning trees of a topology's edges, each built on first
    use and kept (every rank builds the same ones)."""

    __slots__ = ("_topo", "_trees", "home")

    def __init__(self, topo: Topology) -> None:
        self._topo = topo
        self._trees: dict[int, Tree] = {}
        # Where unrooted collectives meet: a tree topology's own root.
        self.home = topo.root if isinstance(topo, TreeTopo) else 0

    def tree(self, root: int | None = None) -> Tree:
        """The spanning tree rooted at ``root`` (None: at ``home``)."""
        r = self.home if root is None else root
        t = self._trees.get(r)
        if t is None:
            topo = self._topo
            parents, kids = spanning_tree(topo.size, lambda q: topo.at(q).neighbors, r)
            t = self._trees[r] = Tree.build(topo.rank, parents, kids)
        return t


class EdgeChannel(Channel, Protocol):
    """The channel of a communicator that may talk along its edges only."""

    def tree(self, root: int | None = None) -> Tree:
        """The communicator's spanning tree rooted at ``root`` (None: at its
        home, where unrooted collectives meet); see :class:`Edges`."""


# -- the registered tree algorithms ----------------------------------------------


async def barrier(ch: EdgeChannel) -> None:
    """Barrier: fan in to the home, fan out from it."""
    await tree_barrier(ch, ch.tree())


async def bcast(ch: EdgeChannel, obj: Any, root: int) -> Any:
    return await tree_bcast(ch, obj, ch.tree(root))


async def scatter(ch: EdgeChannel, seq: Sequence[Any] | None, root: int) -> Any:
    return await tree_scatter(ch, seq, ch.tree(root))


async def gather(ch: EdgeChannel, obj: Any, root: int) -> list[Any] | None:
    return await tree_gather(ch, obj, ch.tree(root), ch.size)


async def allgather(ch: EdgeChannel, obj: Any) -> list[Any]:
    """Gather to the home, then bcast the list."""
    home = ch.tree()
    everything: list[Any] = await tree_bcast(ch, await tree_gather(ch, obj, home, ch.size), home)
    return everything


async def reduce(ch: EdgeChannel, obj: Any, op: Op, root: int) -> Any:
    """Commutative ops combine up the tree; others are gathered and folded
    in rank order at the root."""
    t = ch.tree(root)
    if op.commute:
        return await tree_reduce(ch, obj, op, t)
    items = await tree_gather(ch, obj, t, ch.size)
    return None if items is None else _fold(op, items)


async def allreduce(ch: EdgeChannel, obj: Any, op: Op) -> Any:
    """Reduce to the home (as :func:`reduce`), then bcast the result."""
    home = ch.tree()
    if op.commute:
        res = await tree_reduce(ch, obj, op, home)
    else:
        items = await tree_gather(ch, obj, home, ch.size)
        res = None if items is None else _fold(op, items)
    return await tree_bcast(ch, res, home)


async def alltoall(ch: EdgeChannel, seq: Sequence[Any]) -> list[Any]:
    """Gather every rank's row to the home, scatter the columns."""
    home = ch.tree()
    rows = await tree_gather(ch, list(seq), home, ch.size)
    cols = None if rows is None else [[row[j] for row in rows] for j in range(ch.size)]
    return list(await tree_scatter(ch, cols, home))


async def reduce_scatter(ch: EdgeChannel, seq: Sequence[Any], op: Op) -> Any:
    """Gather every rank's row to the home, fold each column there in rank
    order, scatter the results."""
    home = ch.tree()
    rows = await tree_gather(ch, list(seq), home, ch.size)
    cols = None
    if rows is not None:
        cols = [_fold(op, [row[j] for row in rows]) for j in range(ch.size)]
    return await tree_scatter(ch, cols, home)


async def scan(ch: EdgeChannel, obj: Any, op: Op) -> Any:
    """Inclusive prefix: gathered to the home, computed there, scattered."""
    return await _prefix(ch, obj, op, inclusive=True)


async def exscan(ch: EdgeChannel, obj: Any, op: Op) -> Any:
    """Exclusive prefix: gathered to the home, computed there, scattered."""
    return await _prefix(ch, obj, op, inclusive=False)


async def _prefix(ch: EdgeChannel, obj: Any, op: Op, *, inclusive: bool) -> Any:
    home = ch.tree()
    items = await tree_gather(ch, obj, home, ch.size)
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


def _fold(op: Op, items: Sequence[Any]) -> Any:
    acc = working_copy(items[0])
    for x in items[1:]:
        acc = op.combine_into(acc, x, left=True)
    return acc
