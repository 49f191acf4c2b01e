"""Collectives over a spanning tree of a topology's edges.

A topology communicator may only talk along its edges, so its rooted
collectives run over a tree made of those edges (``topology.spanning_tree``,
the same on every rank): data flows down from the root (bcast, scatter) or
up to it (reduce, gather), one message per edge. The rest are compositions
of these. Non-commutative reductions gather the operands and fold them in
rank order at the root, since a BFS tree's subtrees are not rank ranges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from zmqmesh.collectives.base import Channel
from zmqmesh.collectives.ops import Op, working_copy

__all__ = [
    "Tree",
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
