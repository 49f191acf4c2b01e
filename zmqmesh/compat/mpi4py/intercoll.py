"""The collective calls of ``MPI.Intercomm``, with MPI's intercommunicator
semantics (MPI 4.1, section 6.2.2).

Rooted calls move data one way, between the root and the other group:
the root passes ``MPI.ROOT``, the rest of its group ``MPI.PROC_NULL``
(they take no part), and the other group the root's rank in it. The
``all`` calls exchange: each group gets what the other gave
(``Allgather``: the remote group's items in its rank order;
``Allreduce``: the reduction of the remote group's items; ``Barrier``:
a process leaves once every process of the remote group has entered).

Every call travels as point-to-point messages on the intercommunicator's
own collective context, each tagged with the call's number: every
process of both groups numbers its calls the same (they make the same
collectives in the same order, as MPI requires), the number is taken
when the call is made, and every receive names its source, so calls in
flight at once (the ``I`` forms) never take each other's messages,
whatever order they progress in. The messages go straight between the
processes concerned (a root sends to each remote process, each process
of an ``all`` call to each remote one); reductions fold the remote
items in rank order, so every process gets the same bits.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import runner
from zmqmesh.compat.mpi4py.collectives import (
    BUFFER_COLLECTIVES,
    CollectiveCalls,
    Plan,
    _bytes,
    _forms,
    _pack_block,
    _typed,
    _unpack_block,
    _w_blocks,
)
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.msgspec import parse, parse_vector
from zmqmesh.compat.mpi4py.ops import PREDEFINED_OPS, check_reduction, zop
from zmqmesh.runtime.comm import Comm as ZComm

__all__ = ["InterCollectiveCalls", "Links"]

_SUM = PREDEFINED_OPS["SUM"]
_ROOT, _NULL = C.ROOT, C.PROC_NULL


class Links:
    """An intercommunicator's collective context: a zmqmesh communicator
    over both groups, where the local group's rank ``i`` is union rank
    ``local + i`` and the remote group's ``j`` is ``remote + j``, and the
    number of the next call."""

    __slots__ = ("_calls", "_lock", "local", "rank", "remote", "rsize", "size", "z")

    def __init__(self, z: ZComm, local: int, remote: int, rank: int, size: int, rsize: int):
        self.z, self.local, self.remote = z, local, remote
        self.rank, self.size, self.rsize = rank, size, rsize
        self._calls = 0
        self._lock = threading.Lock()

    def call(self) -> int:
        """The next call's number (its messages' tag)."""
        with self._lock:
            self._calls += 1
            return self._calls

    def root(self, root: int) -> int:
        """``root`` checked: ``ROOT``, ``PROC_NULL`` or a remote rank."""
        r = int(root)
        if r in (_ROOT, _NULL) or 0 <= r < self.rsize:
            return r
        raise MPIException(
            C.ERR_ROOT, f"Invalid root {root} (the remote group has {self.rsize} processes)"
        )

    async def to_remote(self, items: Sequence[Any], tag: int) -> None:
        """Item ``j`` to remote rank ``j``."""
        for j, item in enumerate(items):
            await self.z.send(item, self.remote + j, tag)

    async def from_remote(self, tag: int) -> list[Any]:
        """One message from each remote rank, in rank order."""
        got = [self.z.recv(self.remote + j, tag) for j in range(self.rsize)]
        return list(await asyncio.gather(*got))

    async def local_allgather(self, obj: Any, tag: int) -> list[Any]:
        """Each local process's ``obj``, in rank order, on each."""
        for i in range(self.size):
            if i != self.rank:
                await self.z.send(obj, self.local + i, tag)
        got = [self.z.recv(self.local + i, tag) for i in range(self.size) if i != self.rank]
        out = list(await asyncio.gather(*got))
        out.insert(self.rank, obj)
        return out

    # -- the calls ----------------------------------------------------------------------------
    async def barrier(self, tag: int) -> None:
        await self.z.send(None, self.remote, tag)  # to the remote leader
        if self.rank == 0:
            await self.from_remote(tag)  # every remote process has entered
            for i in range(1, self.size):
                await self.z.send(None, self.local + i, tag)
        else:
            await self.z.recv(self.local, tag)

    async def bcast(self, obj: Any, root: int, tag: int) -> Any:
        if root == _ROOT:
            await self.to_remote([obj] * self.rsize, tag)
        elif root != _NULL:
            return await self.z.recv(self.remote + root, tag)
        return None

    async def gather(self, obj: Any, root: int, tag: int) -> list[Any] | None:
        if root == _ROOT:
            return await self.from_remote(tag)
        if root != _NULL:
            await self.z.send(obj, self.remote + root, tag)
        return None

    async def scatter(self, seq: Any, root: int, tag: int) -> Any:
        if root == _ROOT:
            await self.to_remote(seq, tag)
        elif root != _NULL:
            return await self.z.recv(self.remote + root, tag)
        return None

    async def allgather(self, obj: Any, tag: int) -> list[Any]:
        await self.to_remote([obj] * self.rsize, tag)
        return await self.from_remote(tag)

    async def alltoall(self, seq: Any, tag: int) -> list[Any]:
        await self.to_remote(seq, tag)
        return await self.from_remote(tag)

    async def reduce(self, obj: Any, op: Any, root: int, tag: int) -> Any:
        got = await self.gather(obj, root, tag)
        return None if got is None else _fold(got, op)

    async def allreduce(self, obj: Any, op: Any, tag: int) -> Any:
        return _fold(await self.allgather(obj, tag), op)


def _items(seq: Any, n: int, what: str) -> list[Any]:
    """One item per remote process, as mpi4py reads them: None stands for
    ``n`` Nones, any iterable is read; ``ValueError`` for another count
    (raised before the call takes its number, so the groups stay in step)."""
    items = [None] * n if seq is None else list(seq)
    if len(items) != n:
        raise ValueError(f"{what}: {len(items)} items for {n} remote processes")
    return items


def _fold(items: list[Any], op: Any) -> Any:
    acc = items[0]
    for item in items[1:]:
        acc = op(acc, item)
    return acc


def _no_intercomm(name: str) -> Callable[..., Any]:
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise MPIException(C.ERR_COMM, f"{name} is not defined on an intercommunicator")

    call.__name__ = name
    return call


async def _nothing() -> None:
    return None


class InterCollectiveCalls(CollectiveCalls):
    """Mixed into ``Intercomm`` before ``Comm``: needs ``_links()``."""

    __slots__ = ()

    def _links(self) -> Links:
        raise NotImplementedError

    # -- objects --------------------------------------------------------------------------------
    def barrier(self) -> None:
        x = self._links()
        runner.run(x.barrier(x.call()))

    def bcast(self, obj: Any, root: int = 0) -> Any:
        x = self._links()
        return runner.run(x.bcast(obj, x.root(root), x.call()))

    def scatter(self, sendobj: Any, root: int = 0) -> Any:
        x = self._links()
        r = x.root(root)
        items = _items(sendobj, x.rsize, "scatter") if r == _ROOT else None
        return runner.run(x.scatter(items, r, x.call()))

    def gather(self, sendobj: Any, root: int = 0) -> Any:
        x = self._links()
        return runner.run(x.gather(sendobj, x.root(root), x.call()))

    def allgather(self, sendobj: Any) -> Any:
        x = self._links()
        return runner.run(x.allgather(sendobj, x.call()))

    def alltoall(self, sendobj: Any) -> Any:
        x = self._links()
        return runner.run(x.alltoall(_items(sendobj, x.rsize, "alltoall"), x.call()))

    def reduce(self, sendobj: Any, op: Any = _SUM, root: int = 0) -> Any:
        x = self._links()
        return runner.run(x.reduce(sendobj, zop(op), x.root(root), x.call()))

    def allreduce(self, sendobj: Any, op: Any = _SUM) -> Any:
        x = self._links()
        return runner.run(x.allreduce(sendobj, zop(op), x.call()))

    scan = exscan = _no_intercomm("scan")

    # -- buffers ---------------------------------------------------------------------------------
    def _barrier(self) -> Plan:
        x = self._links()
        return x.barrier(x.call()), None

    def _bcast(self, buf: Any, root: int = 0) -> Plan:
        x = self._links()
        r, tag = x.root(root), x.call()
        if r == _NULL:
            return _nothing(), None
        msg = parse(buf, writable=r != _ROOT)

        def finish(got: Any) -> None:
            if r != _ROOT:
                msg.unpack(_bytes(got))

        return x.bcast(msg.pack() if r == _ROOT else None, r, tag), finish

    def _gathered(self, sendbuf: Any, recvbuf: Any, root: int, vector: bool) -> Plan:
        x = self._links()
        r, tag = x.root(root), x.call()
        if r == _NULL:
            return _nothing(), None
        if r != _ROOT:
            return x.gather(parse(sendbuf, writable=False).pack(), r, tag), None
        if vector:
            recv = parse_vector(recvbuf, writable=True, blocks=x.rsize)

            def finish(parts: Any) -> None:
                for i, part in enumerate(parts):
                    recv.unpack(i, _bytes(part))
                recv.write_back()

            return x.gather(None, r, tag), finish
        msg = parse(recvbuf, writable=True, blocks=x.rsize)

        def unpack(parts: Any) -> None:
            for i, part in enumerate(parts):
                _unpack_block(msg, i, part)

        return x.gather(None, r, tag), unpack

    def _gather(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> Plan:
        return self._gathered(sendbuf, recvbuf, root, False)

    def _gatherv(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> Plan:
        return self._gathered(sendbuf, recvbuf, root, True)

    def _scattered(self, sendbuf: Any, recvbuf: Any, root: int, vector: bool) -> Plan:
        x = self._links()
        r, tag = x.root(root), x.call()
        if r == _NULL:
            return _nothing(), None
        if r == _ROOT:
            if vector:
                v = parse_vector(sendbuf, writable=False, blocks=x.rsize)
                chunks = [v.pack(i) for i in range(x.rsize)]
            else:
                m = parse(sendbuf, writable=False, blocks=x.rsize)
                chunks = [_pack_block(m, i) for i in range(x.rsize)]
            return x.scatter(chunks, r, tag), None
        recv = parse(recvbuf, writable=True)
        return x.scatter(None, r, tag), lambda got: recv.unpack(_bytes(got))

    def _scatter(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> Plan:
        return self._scattered(sendbuf, recvbuf, root, False)

    def _scatterv(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> Plan:
        return self._scattered(sendbuf, recvbuf, root, True)

    def _allgather(self, sendbuf: Any, recvbuf: Any) -> Plan:
        x = self._links()
        recv = parse(recvbuf, writable=True, blocks=x.rsize)
        data = parse(sendbuf, writable=False).pack()

        def finish(parts: Any) -> None:
            for i, part in enumerate(parts):
                _unpack_block(recv, i, part)

        return x.allgather(data, x.call()), finish

    def _allgatherv(self, sendbuf: Any, recvbuf: Any) -> Plan:
        x = self._links()
        recv = parse_vector(recvbuf, writable=True, blocks=x.rsize)
        data = parse(sendbuf, writable=False).pack()

        def finish(parts: Any) -> None:
            for i, part in enumerate(parts):
                recv.unpack(i, _bytes(part))
            recv.write_back()

        return x.allgather(data, x.call()), finish

    def _alltoall(self, sendbuf: Any, recvbuf: Any) -> Plan:
        x = self._links()
        recv = parse(recvbuf, writable=True, blocks=x.rsize)
        send = parse(sendbuf, writable=False, blocks=x.rsize)
        chunks = [np.array(_pack_block(send, i), copy=True) for i in range(x.rsize)]

        def finish(parts: Any) -> None:
            for i, part in enumerate(parts):
                _unpack_block(recv, i, part)

        return x.alltoall(chunks, x.call()), finish

    def _alltoallv(self, sendbuf: Any, recvbuf: Any) -> Plan:
        x = self._links()
        recv = parse_vector(recvbuf, writable=True, blocks=x.rsize)
        send = parse_vector(sendbuf, writable=False, blocks=x.rsize)
        chunks = [np.array(send.pack(i), copy=True) for i in range(x.rsize)]

        def finish(parts: Any) -> None:
            for i, part in enumerate(parts):
                recv.unpack(i, _bytes(part))
            recv.write_back()

        return x.alltoall(chunks, x.call()), finish

    def _alltoallw(self, sendbuf: Any, recvbuf: Any) -> Plan:
        x = self._links()
        recv = _w_blocks(recvbuf, x.rsize, writable=True)
        send = _w_blocks(sendbuf, x.rsize, writable=False)
        chunks = [np.array(m.pack(), copy=True) for m in send]

        def finish(parts: Any) -> None:
            for m, part in zip(recv, parts, strict=True):
                m.unpack(_bytes(part))

        return x.alltoall(chunks, x.call()), finish

    def _reduce(self, sendbuf: Any, recvbuf: Any, op: Any = _SUM, root: int = 0) -> Plan:
        x = self._links()
        r, tag = x.root(root), x.call()
        if r == _NULL:
            return _nothing(), None
        if r != _ROOT:
            return x.reduce(_typed(parse(sendbuf, writable=False)), zop(op), r, tag), None
        recv = parse(recvbuf, writable=True)
        return x.reduce(None, zop(op), r, tag), self._into(recvbuf, recv.typed().dtype)

    def _allreduce(self, sendbuf: Any, recvbuf: Any, op: Any = _SUM) -> Plan:
        x = self._links()
        send = parse(sendbuf, writable=False)
        check_reduction(send, parse(recvbuf, writable=False))
        data = _typed(send)
        return x.allreduce(data, zop(op), x.call()), self._into(recvbuf, data.dtype)

    def _reduce_scatter_block(self, sendbuf: Any, recvbuf: Any, op: Any = _SUM) -> Plan:
        """The remote group's send buffers reduced; local process ``i``
        gets block ``i`` (each as long as its receive buffer)."""
        recv = parse(recvbuf, writable=True)
        return self._scattered_sum(sendbuf, recv, [recv.count] * self._links().size, op)

    def _reduce_scatter(
        self, sendbuf: Any, recvbuf: Any, recvcounts: Any = None, op: Any = _SUM
    ) -> Plan:
        """The remote group's send buffers reduced; local process ``i``
        gets ``recvcounts[i]`` items of it (without them, as many as its
        receive buffer holds, the counts swapped first as mpi4py does)."""
        x = self._links()
        recv = parse(recvbuf, writable=True)
        tag = x.call()  # taken either way: both groups number their calls alike
        if recvcounts is None:
            counts = [int(c) for c in runner.run(x.local_allgather(recv.count, tag))]
        else:
            counts = [int(c) for c in recvcounts]
        if len(counts) != x.size:
            raise ValueError(f"Reduce_scatter: {len(counts)} recvcounts for {x.size} processes")
        return self._scattered_sum(sendbuf, recv, counts, op)

    def _scattered_sum(self, sendbuf: Any, recv: Any, counts: list[int], op: Any) -> Plan:
        """Every remote send buffer reaches every local process, which
        reduces them and keeps its ``counts`` share."""
        x = self._links()
        data = _typed(parse(sendbuf, writable=False))
        start = sum(counts[: x.rank])

        def finish(got: Any) -> None:
            mine = np.asarray(got, data.dtype).reshape(-1)[start : start + counts[x.rank]]
            recv.unpack(_bytes(np.ascontiguousarray(mine)))

        return x.allreduce(data, zop(op), x.call()), finish

    _scan = _exscan = _no_intercomm("Scan")


for _name in BUFFER_COLLECTIVES:
    _forms(_name, "_" + _name.lower(), InterCollectiveCalls)
