"""The neighborhood collectives of ``MPI.Topocomm``: ``neighbor_allgather``
and ``neighbor_alltoall`` on objects, and ``Neighbor_allgather(v)`` and
``Neighbor_alltoall(v/w)`` on buffers, each also as ``I...`` (a request
that progresses while the program computes) and ``..._init`` (persistent).

Every one is a list of blocks, one per send neighbor, moved by the
topology's ``_exchange`` (the Cartesian one over zmqmesh's mesh
communicator, the graph ones over the communicator's collective channel,
see :func:`edge_exchange`) and a step that unpacks what came, one block
per receive neighbor. A block of a ``PROC_NULL`` neighbor is neither sent
nor written: the receive buffer keeps what it held there, and the object
forms give None for it (as mpi4py does). A contiguous send block travels
as a view of the caller's buffer, which MPI leaves untouched until the
call completes; a derived type's block is packed once.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Awaitable, Sequence
from typing import Any

from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import runner
from zmqmesh.compat.mpi4py.collectives import (
    Plan,
    _bytes,
    _forms,
    _pack_block,
    _unpack_block,
    _w_blocks,
)
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.handles import is_in_place
from zmqmesh.compat.mpi4py.msgspec import parse, parse_vector
from zmqmesh.runtime.comm import Comm as ZComm

__all__ = ["NeighborCalls", "edge_exchange"]


async def edge_exchange(
    z: ZComm,
    name: str,
    items: Sequence[Any],
    sources: Sequence[int],
    destinations: Sequence[int],
    keys: Sequence[int],
    slot: dict[tuple[int, int], int],
) -> list[Any]:
    """Send ``items[j]`` to ``destinations[j]`` labelled ``keys[j]``; return,
    per receive block, what arrived for it (None for a null neighbor).
    One collective call of ``z``: its channel is taken before the first
    wait, so calls start in program order (nonblocking ones too)."""
    ch = z._channel(name)
    for q, key, item in zip(destinations, keys, items, strict=True):
        if q >= 0:
            await ch.send(q, (key, item))
    out: list[Any] = [None] * len(sources)
    for p, n in Counter(p for p in sources if p >= 0).items():
        for _ in range(n):  # as many messages from p as blocks it fills
            key, item = await ch.recv(p)
            out[slot[(p, int(key))]] = item
    return out


def _sending(sendbuf: Any) -> Any:
    """``sendbuf``; ``IN_PLACE`` raises ``ERR_BUFFER`` (MPI has none here)."""
    if is_in_place(sendbuf):
        raise MPIException(C.ERR_BUFFER, "Invalid buffer pointer: no IN_PLACE for neighbors")
    return sendbuf


def _one_block(sendbuf: Any) -> Any:
    return parse(_sending(sendbuf), writable=False).pack()


class NeighborCalls:
    """Mixed into ``Topocomm``: needs ``_edges()`` (sources and destinations,
    ``PROC_NULL`` kept), ``_exchange(name, items)`` and ``_lock``."""

    __slots__ = ()

    def _edges(self) -> tuple[list[int], list[int]]:
        raise NotImplementedError

    def _exchange(self, name: str, items: list[Any]) -> Awaitable[list[Any]]:
        raise NotImplementedError

    def _lock(self, key: Any) -> threading.Lock:
        raise NotImplementedError

    # -- objects --------------------------------------------------------------------------------
    def neighbor_allgather(self, sendobj: Any) -> list[Any]:
        """Every source neighbor's ``sendobj``, in ``inedges`` order."""
        _, dst = self._edges()
        with self._lock("neighbor_allgather"):
            got: list[Any] = runner.run(self._exchange("neighbor_allgather", [sendobj] * len(dst)))
            return got

    def neighbor_alltoall(self, sendobj: Any) -> list[Any]:
        """Send ``sendobj[j]`` to ``outedges[j]``; what each source neighbor
        sent this rank, in ``inedges`` order."""
        _, dst = self._edges()
        items = list(sendobj)
        if len(items) != len(dst):
            raise ValueError(f"expecting {len(dst)} items, got {len(items)}")
        with self._lock("neighbor_alltoall"):
            got: list[Any] = runner.run(self._exchange("neighbor_alltoall", items))
            return got

    # -- buffers -------------------------------------------------------------------------------
    def _neighbor_allgather(self, sendbuf: Any, recvbuf: Any) -> Plan:
        src, dst = self._edges()
        recv = parse(recvbuf, writable=True, blocks=len(src))
        data = _one_block(sendbuf)

        def finish(parts: Any) -> None:
            for i, part in enumerate(parts):
                if src[i] >= 0:
                    _unpack_block(recv, i, part)

        return self._exchange("neighbor_allgather", [data] * len(dst)), finish

    def _neighbor_allgatherv(self, sendbuf: Any, recvbuf: Any) -> Plan:
        src, dst = self._edges()
        recv = parse_vector(recvbuf, writable=True, blocks=len(src))
        data = _one_block(sendbuf)

        def finish(parts: Any) -> None:
            for i, part in enumerate(parts):
                if src[i] >= 0:
                    recv.unpack(i, _bytes(part))
            recv.write_back()

        return self._exchange("neighbor_allgatherv", [data] * len(dst)), finish

    def _neighbor_alltoall(self, sendbuf: Any, recvbuf: Any) -> Plan:
        src, dst = self._edges()
        recv = parse(recvbuf, writable=True, blocks=len(src))
        send = parse(_sending(sendbuf), writable=False, blocks=len(dst))
        chunks = [_pack_block(send, j) for j in range(len(dst))]

        def finish(parts: Any) -> None:
            for i, part in enumerate(parts):
                if src[i] >= 0:
                    _unpack_block(recv, i, part)

        return self._exchange("neighbor_alltoall", chunks), finish

    def _neighbor_alltoallv(self, sendbuf: Any, recvbuf: Any) -> Plan:
        src, dst = self._edges()
        recv = parse_vector(recvbuf, writable=True, blocks=len(src))
        send = parse_vector(_sending(sendbuf), writable=False, blocks=len(dst))
        chunks = [send.pack(j) for j in range(len(dst))]

        def finish(parts: Any) -> None:
            for i, part in enumerate(parts):
                if src[i] >= 0:
                    recv.unpack(i, _bytes(part))
            recv.write_back()

        return self._exchange("neighbor_alltoallv", chunks), finish

    def _neighbor_alltoallw(self, sendbuf: Any, recvbuf: Any) -> Plan:
        """Block ``j`` of each side is ``counts[j]`` items of
        ``datatypes[j]`` from byte ``displs[j]`` (MPI's byte displacements)."""
        src, dst = self._edges()
        recv = _w_blocks(recvbuf, len(src), writable=True)
        send = _w_blocks(_sending(sendbuf), len(dst), writable=False)
        chunks = [m.pack() for m in send]

        def finish(parts: Any) -> None:
            for i, (m, part) in enumerate(zip(recv, parts, strict=True)):
                if src[i] >= 0:
                    m.unpack(_bytes(part))

        return self._exchange("neighbor_alltoallw", chunks), finish


for _name in (
    "Neighbor_allgather",
    "Neighbor_allgatherv",
    "Neighbor_alltoall",
    "Neighbor_alltoallv",
    "Neighbor_alltoallw",
):
    _forms(_name, "_" + _name.lower(), NeighborCalls)
