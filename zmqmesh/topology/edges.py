"""Neighborhood slots: which slot of a neighbor a message lands in.

``neighbor_alltoall`` sends ``seq[i]`` to ``neighbors[i]`` and must place each
received item in the slot of the neighbor it came from. A neighbor can fill
two slots (a periodic dimension of length 1 or 2, a ring of 1 or 2 ranks),
so the sender labels each item with the *key* that the receiver uses for the
edge it arrives on: the reverse of the sender's own edge.

``edge_keys(topo)`` returns, per slot ``i``, ``(local_key, remote_key)``:
``local_key`` names slot ``i`` here, ``remote_key`` names the same edge at
``neighbors[i]``. Keys are small tuples of ints, unique per (peer, key).
Mesh and ring keys are ``(dim, direction)``; tree keys are ``(0,)`` for the
parent edge and ``(1, child)`` for a child edge; full keys are ``(2, peer)``.
"""

from __future__ import annotations

from .basic import FullTopo, RingTopo, TreeTopo
from .cart import MeshTopo
from .graphs import Topology

__all__ = ["edge_keys"]

Key = tuple[int, ...]


def edge_keys(topo: Topology) -> list[tuple[Key, Key]]:
    """``(local_key, remote_key)`` for every slot of ``topo.neighbors``."""
    if isinstance(topo, RingTopo):
        return [((0, -1), (0, 1)), ((0, 1), (0, -1))]
    if isinstance(topo, MeshTopo):
        out: list[tuple[Key, Key]] = []
        for dim in range(topo.ndims):
            source, dest = topo.shift(dim, 1)
            if source is not None:
                out.append(((dim, -1), (dim, 1)))
            if dest is not None:
                out.append(((dim, 1), (dim, -1)))
        return out
    if isinstance(topo, TreeTopo):
        out = []
        if topo.parent is not None:
            out.append(((0,), (1, topo.rank)))
        out.extend(((1, c), (0,)) for c in topo.children)
        return out
    if isinstance(topo, FullTopo):
        return [((2, q), (2, topo.rank)) for q in topo.neighbors]
    raise TypeError(f"not a topology: {type(topo).__name__}")
