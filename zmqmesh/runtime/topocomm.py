"""``TopoComm``: what a topology communicator shows beyond a ``Comm``.

``Comm.create_topology`` builds one (collectively): a :class:`Comm` with
the same ranks as its parent, a message space of its own and a topology.
The topology's kind is what the collectives' ``plan`` goes by: a ``full``
topology has every edge and runs the general algorithms; a ring, tree or
mesh connects to its neighbors only (eagerly) and runs every collective
over its edges (``collectives/tree.py``; the ring also its ring algorithms).

This module is the face: ``.kind``, ``.neighbors``, each kind's
attributes and the neighborhood collectives. It knows nothing of
``Comm``, which builds on it (``runtime/comm.py``), so the two do not
import each other.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from zmqmesh.collectives.base import Channel
from zmqmesh.collectives.tree import tree_neighbor_exchange
from zmqmesh.topology import Topology
from zmqmesh.topology.edges import Key, edge_keys

__all__ = ["TopoComm"]

# The attributes API.md gives each kind, served from the topology value.
_ATTRS = {
    "ring": {"left", "right"},
    "tree": {"parent", "children", "arity", "root"},
    "mesh": {"dims", "periodic", "coords", "rank_of", "shift", "ndims", "coords_of"},
    "full": set(),
}


class TopoComm:
    """A communicator with a topology (see API.md, "Communicators and
    topologies"): ``.kind``, ``.neighbors``, the kind's attributes,
    ``neighbor_allgather`` and ``neighbor_alltoall``. Every ``TopoComm`` is
    also a :class:`~zmqmesh.Comm` (``create_topology`` makes them), with
    every collective running over the topology's edges."""

    _topo: Topology  # set by the communicator that shows this face
    _rank: int

    if TYPE_CHECKING:  # provided by Comm

        @property
        def size(self) -> int: ...

        def _channel(self, name: str, *parts: Any, say: str = "") -> Channel: ...

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

    @functools.cached_property
    def _keys(self) -> list[tuple[Key, Key]]:
        return edge_keys(self._topo)

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
