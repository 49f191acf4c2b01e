"""Topology arithmetic: who talks to whom. Pure: no I/O, no asyncio.

* :mod:`.basic`: :class:`RingTopo`, :class:`TreeTopo`, :class:`FullTopo`;
* :mod:`.cart`: :class:`MeshTopo` (MPI_Cart_create / MPI_Cart_shift);
* :mod:`.dims`: :func:`dims_create` (MPI_Dims_create);
* :mod:`.graphs`: :func:`make_topology`, :func:`spanning_tree` over a
  topology's edges, and the connection counts :func:`sockets_per_rank` and
  :func:`connections`.

Every topology is a frozen value of its shape and one rank, with
``.neighbors`` (the ordered peers) and ``.at(rank)`` (another rank's view).
"""

from .basic import FullTopo, RingTopo, TreeTopo
from .cart import MeshTopo
from .dims import dims_create
from .graphs import KINDS, Topology, connections, make_topology, sockets_per_rank, spanning_tree

__all__ = [
    "KINDS",
    "FullTopo",
    "MeshTopo",
    "RingTopo",
    "Topology",
    "TreeTopo",
    "connections",
    "dims_create",
    "make_topology",
    "sockets_per_rank",
    "spanning_tree",
]
