"""The collective calls of ``MPI.Comm``, lower- and upper-case.

Lower-case calls are zmqmesh's collectives on Python objects. Upper-case
calls read their buffer specifications (``msgspec``) and run zmqmesh's
collectives on the packed bytes: each rank's block travels as one
``uint8`` array and is unpacked into the receiver's layout. Reductions
travel as arrays of the datatype's base dtype, so that zmqmesh's ops see
numbers; ``MPI.IN_PLACE`` takes the input from the receive buffer as MPI
says for each call.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from zmqmesh.compat.mpi4py import runner
from zmqmesh.compat.mpi4py.handles import is_in_place
from zmqmesh.compat.mpi4py.msgspec import Message, parse, parse_vector
from zmqmesh.compat.mpi4py.ops import PREDEFINED_OPS, reduce_local, zop
from zmqmesh.runtime.comm import Comm as ZComm

__all__ = ["CollectiveCalls"]

Bytes = npt.NDArray[np.uint8]
_SUM = PREDEFINED_OPS["SUM"]


def _bytes(got: Any) -> Bytes:
    if got is None:
        return np.zeros(0, np.uint8)
    return np.ascontiguousarray(got).reshape(-1).view(np.uint8)


def _block(msg: Message, i: int) -> int:
    """Byte offset of block ``i`` (of ``msg.count`` elements) in ``msg``."""
    return msg.offset + i * msg.count * msg.datatype.Get_extent()[1]


def _pack_block(msg: Message, i: int) -> Bytes:
    return Message(msg.mem, msg.datatype, msg.count, _block(msg, i)).pack()


def _unpack_block(msg: Message, i: int, data: Any) -> None:
    msg.unpack(_bytes(data), offset=_block(msg, i))


def _typed(msg: Message) -> npt.NDArray[Any]:
    return np.array(msg.typed(), copy=True) if msg.stand_in_for is None else msg.typed()


class CollectiveCalls:
    """Mixed into ``Comm``: needs ``_z()``, the zmqmesh communicator."""

    __slots__ = ()

    def _z(self) -> ZComm:
        raise NotImplementedError

    # -- objects --------------------------------------------------------------------------------
    def barrier(self) -> None:
        runner.run(self._z().barrier())

    Barrier = barrier

    def bcast(self, obj: Any, root: int = 0) -> Any:
        return runner.run(self._z().bcast(obj, root))

    def scatter(self, sendobj: Any, root: int = 0) -> Any:
        return runner.run(self._z().scatter(sendobj, root))

    def gather(self, sendobj: Any, root: int = 0) -> Any:
        return runner.run(self._z().gather(sendobj, root))

    def allgather(self, sendobj: Any) -> Any:
        return runner.run(self._z().allgather(sendobj))

    def alltoall(self, sendobj: Any) -> Any:
        return runner.run(self._z().alltoall(sendobj))

    def reduce(self, sendobj: Any, op: Any = _SUM, root: int = 0) -> Any:
        return runner.run(self._z().reduce(sendobj, zop(op), root))

    def allreduce(self, sendobj: Any, op: Any = _SUM) -> Any:
        return runner.run(self._z().allreduce(sendobj, zop(op)))

    def scan(self, sendobj: Any, op: Any = _SUM) -> Any:
        return runner.run(self._z().scan(sendobj, zop(op)))

    def exscan(self, sendobj: Any, op: Any = _SUM) -> Any:
        return runner.run(self._z().exscan(sendobj, zop(op)))

    # -- buffers: moving data --------------------------------------------------------------------
    def Bcast(self, buf: Any, root: int = 0) -> None:
        """The root's ``buf`` into every rank's ``buf``."""
        z = self._z()
        msg = parse(buf, writable=z.rank != root)
        got = runner.run(z.bcast(msg.pack() if z.rank == root else None, root))
        if z.rank != root:
            msg.unpack(_bytes(got))

    def Gather(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> None:
        """Every rank's ``sendbuf`` into block ``rank`` of the root's
        ``recvbuf`` (``IN_PLACE`` at the root: its block is already there)."""
        z = self._z()
        at_root = z.rank == root
        recv = parse(recvbuf, writable=True, blocks=z.size) if at_root else None
        if at_root and is_in_place(sendbuf):
            data = np.zeros(0, np.uint8)
        else:
            data = parse(sendbuf, writable=False).pack()
        parts = runner.run(z.gather(data, root))
        if recv is not None:
            for i, part in enumerate(parts):
                if not (i == root and is_in_place(sendbuf)):
                    _unpack_block(recv, i, part)

    def Allgather(self, sendbuf: Any, recvbuf: Any) -> None:
        """Every rank's ``sendbuf`` into block ``rank`` of every ``recvbuf``."""
        z = self._z()
        recv = parse(recvbuf, writable=True, blocks=z.size)
        if is_in_place(sendbuf):
            data = np.array(_pack_block(recv, z.rank), copy=True)
        else:
            data = parse(sendbuf, writable=False).pack()
        parts = runner.run(z.allgather(data))
        for i, part in enumerate(parts):
            _unpack_block(recv, i, part)

    def Scatter(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> None:
        """Block ``i`` of the root's ``sendbuf`` into rank ``i``'s ``recvbuf``."""
        z = self._z()
        chunks = None
        if z.rank == root:
            send = parse(sendbuf, writable=False, blocks=z.size)
            chunks = [_pack_block(send, i) for i in range(z.size)]
        got = runner.run(z.scatter(chunks, root))
        if not (z.rank == root and is_in_place(recvbuf)):
            parse(recvbuf, writable=True).unpack(_bytes(got))

    def Alltoall(self, sendbuf: Any, recvbuf: Any) -> None:
        """Block ``j`` of rank ``i``'s ``sendbuf`` into block ``i`` of rank
        ``j``'s ``recvbuf``."""
        z = self._z()
        recv = parse(recvbuf, writable=True, blocks=z.size)
        send = recv if is_in_place(sendbuf) else parse(sendbuf, writable=False, blocks=z.size)
        chunks = [np.array(_pack_block(send, i), copy=True) for i in range(z.size)]
        parts = runner.run(z.alltoall(chunks))
        for i, part in enumerate(parts):
            _unpack_block(recv, i, part)

    # -- buffers: vector variants ------------------------------------------------------
    def Gatherv(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> None:
        """As ``Gather``, with the root's ``recvbuf`` a v-specification
        ``[buf, counts, displs, datatype]``."""
        z = self._z()
        at_root = z.rank == root
        recv = parse_vector(recvbuf, writable=True, blocks=z.size) if at_root else None
        skip = at_root and is_in_place(sendbuf)
        data = np.zeros(0, np.uint8) if skip else parse(sendbuf, writable=False).pack()
        parts = runner.run(z.gather(data, root))
        if recv is not None:
            for i, part in enumerate(parts):
                if not (i == root and skip):
                    recv.unpack(i, _bytes(part))
            recv.write_back()

    def Scatterv(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> None:
        """As ``Scatter``, with the root's ``sendbuf`` a v-specification."""
        z = self._z()
        chunks = None
        if z.rank == root:
            send = parse_vector(sendbuf, writable=False, blocks=z.size)
            chunks = [send.pack(i) for i in range(z.size)]
        got = runner.run(z.scatter(chunks, root))
        if not (z.rank == root and is_in_place(recvbuf)):
            parse(recvbuf, writable=True).unpack(_bytes(got))

    def Allgatherv(self, sendbuf: Any, recvbuf: Any) -> None:
        """As ``Allgather``, with ``recvbuf`` a v-specification."""
        z = self._z()
        recv = parse_vector(recvbuf, writable=True, blocks=z.size)
        if is_in_place(sendbuf):
            data = np.array(recv.pack(z.rank), copy=True)
        else:
            data = parse(sendbuf, writable=False).pack()
        parts = runner.run(z.allgather(data))
        for i, part in enumerate(parts):
            recv.unpack(i, _bytes(part))
        recv.write_back()

    def Alltoallv(self, sendbuf: Any, recvbuf: Any) -> None:
        """As ``Alltoall``, with both buffers v-specifications."""
        z = self._z()
        recv = parse_vector(recvbuf, writable=True, blocks=z.size)
        send = (
            recv if is_in_place(sendbuf) else parse_vector(sendbuf, writable=False, blocks=z.size)
        )
        chunks = [np.array(send.pack(i), copy=True) for i in range(z.size)]
        parts = runner.run(z.alltoall(chunks))
        for i, part in enumerate(parts):
            recv.unpack(i, _bytes(part))
        recv.write_back()

    # -- buffers: reductions --------------------------------------------------------------
    def _reduce_input(self, sendbuf: Any, recvbuf: Any) -> npt.NDArray[Any]:
        source = recvbuf if is_in_place(sendbuf) else sendbuf
        return _typed(parse(source, writable=False))

    def Reduce(self, sendbuf: Any, recvbuf: Any, op: Any = _SUM, root: int = 0) -> None:
        """``op`` over every rank's ``sendbuf``, element-wise, into the root's
        ``recvbuf`` (``IN_PLACE`` at the root: its input is ``recvbuf``)."""
        z = self._z()
        at_root = z.rank == root
        data = self._reduce_input(sendbuf, recvbuf)
        got = runner.run(z.reduce(data, zop(op), root))
        if at_root:
            parse(recvbuf, writable=True).unpack(_bytes(np.asarray(got, data.dtype)))

    def Allreduce(self, sendbuf: Any, recvbuf: Any, op: Any = _SUM) -> None:
        """``op`` over every rank's ``sendbuf`` into every ``recvbuf``."""
        z = self._z()
        data = self._reduce_input(sendbuf, recvbuf)
        got = runner.run(z.allreduce(data, zop(op)))
        parse(recvbuf, writable=True).unpack(_bytes(np.asarray(got, data.dtype)))

    def Scan(self, sendbuf: Any, recvbuf: Any, op: Any = _SUM) -> None:
        """``op`` over the ``sendbuf`` of ranks ``0..rank`` into ``recvbuf``."""
        z = self._z()
        data = self._reduce_input(sendbuf, recvbuf)
        got = runner.run(z.scan(data, zop(op)))
        parse(recvbuf, writable=True).unpack(_bytes(np.asarray(got, data.dtype)))

    def Exscan(self, sendbuf: Any, recvbuf: Any, op: Any = _SUM) -> None:
        """``op`` over the ``sendbuf`` of ranks ``0..rank-1`` into ``recvbuf``
        (left as it is on rank 0, as MPI leaves it undefined)."""
        z = self._z()
        data = self._reduce_input(sendbuf, recvbuf)
        got = runner.run(z.exscan(data, zop(op)))
        if got is not None:
            parse(recvbuf, writable=True).unpack(_bytes(np.asarray(got, data.dtype)))

    def Reduce_scatter_block(self, sendbuf: Any, recvbuf: Any, op: Any = _SUM) -> None:
        """Block ``i`` of the element-wise ``op`` over every ``sendbuf`` into
        rank ``i``'s ``recvbuf``."""
        z = self._z()
        if is_in_place(sendbuf):
            data = _typed(parse(recvbuf, writable=False))
        else:
            data = _typed(parse(sendbuf, writable=False))
        if data.size % z.size:
            raise ValueError(f"Reduce_scatter_block: {data.size} items for {z.size} ranks")
        got = runner.run(z.reduce_scatter(np.split(data, z.size), zop(op)))
        recv = parse(recvbuf, writable=True, blocks=z.size if is_in_place(sendbuf) else 1)
        recv.unpack(_bytes(np.asarray(got, data.dtype)))

    def Reduce_scatter(
        self, sendbuf: Any, recvbuf: Any, recvcounts: Any = None, op: Any = _SUM
    ) -> None:
        """The element-wise ``op`` over every ``sendbuf``, split by
        ``recvcounts`` (default: as even as possible), part ``i`` to rank ``i``."""
        z = self._z()
        source = recvbuf if is_in_place(sendbuf) else sendbuf
        data = _typed(parse(source, writable=False))
        if recvcounts is None:
            counts = [data.size // z.size + (data.size % z.size > i) for i in range(z.size)]
        else:
            counts = [int(c) for c in recvcounts]
        if len(counts) != z.size or sum(counts) != data.size:
            raise ValueError(f"Reduce_scatter: recvcounts {counts} for {data.size} items")
        parts = np.split(data, np.cumsum(counts)[:-1])
        got = runner.run(z.reduce_scatter(parts, zop(op)))
        recv = parse(recvbuf, writable=True)
        out = _bytes(np.asarray(got, data.dtype))
        recv.unpack(out, count=counts[z.rank] if is_in_place(sendbuf) else None)

    def Reduce_local(self, inbuf: Any, inoutbuf: Any, op: Any = _SUM) -> None:
        reduce_local(inbuf, inoutbuf, op)

    # -- not yet --------------------------------------------------------------------------------
    Alltoallw = runner.unsupported("Comm.Alltoallw", "not yet")
    Ibarrier = Ibcast = Igather = Igatherv = Iscatter = Iscatterv = runner.unsupported(
        "Comm nonblocking collectives", "not yet"
    )
    Iallgather = Iallgatherv = Ialltoall = Ialltoallv = Ialltoallw = Ibarrier
    Ireduce = Iallreduce = Ireduce_scatter = Ireduce_scatter_block = Iscan = Iexscan = Ibarrier
