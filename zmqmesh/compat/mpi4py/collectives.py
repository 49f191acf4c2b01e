"""The collective calls of ``MPI.Comm``, lower- and upper-case.

Lower-case calls are zmqmesh's collectives on Python objects. Upper-case
calls read their buffer specifications (``msgspec``) and run zmqmesh's
collectives on the packed bytes: each rank's block travels as one
``uint8`` array and is unpacked into the receiver's layout. Reductions
travel as arrays of the datatype's base dtype, so that zmqmesh's ops see
numbers; ``MPI.IN_PLACE`` takes the input from the receive buffer as MPI
says for each call.

Each upper-case collective is written once, as a *plan*: the zmqmesh
collective to run (its send buffers read at the call) and the step that
unpacks its result. ``Name`` runs the plan to completion; ``IName``
starts it as a task that the progress thread advances while the program
computes (``runner``) and returns a request whose completion unpacks;
``Name_init`` is a persistent request that starts ``IName`` on each
``Start``. Collectives start in call order on every rank (a task takes
its first step, claiming its collective's sequence number, before the
call returns), so blocking and nonblocking ones mix as MPI allows.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import runner
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.handles import is_bottom, is_in_place
from zmqmesh.compat.mpi4py.msgspec import (
    Message,
    absolute,
    as_bytes,
    as_datatype,
    parse,
    parse_vector,
)
from zmqmesh.compat.mpi4py.ops import PREDEFINED_OPS, check_reduction, reduce_local, zop
from zmqmesh.compat.mpi4py.requests import Prequest, Request
from zmqmesh.runtime.comm import Comm as ZComm

__all__ = ["CollectiveCalls"]

Plan = tuple[Awaitable[Any], Callable[[Any], None] | None]

Bytes = npt.NDArray[np.uint8]
_SUM = PREDEFINED_OPS["SUM"]


def _root(z: ZComm, root: int) -> int:
    """``root`` when it is a rank of ``z``; else ``MPI.Exception(ERR_ROOT)``."""
    if not 0 <= int(root) < z.size:
        raise MPIException(C.ERR_ROOT, f"Invalid root {root} (communicator of size {z.size})")
    return int(root)


def _items(sendobj: Any, size: int, rows: bool = False) -> Any:
    """A scatter's or alltoall's objects as mpi4py takes them: None for
    None to every rank, any iterable (an iterator, an array's rows; with
    ``rows`` an array stays one, for zmqmesh's alltoall of its rows)."""
    if sendobj is None:
        return [None] * size
    if type(sendobj) in (list, tuple) or (rows and type(sendobj) is np.ndarray):
        return sendobj
    if not hasattr(sendobj, "__iter__"):
        return sendobj  # (what is not iterable is refused, naming it)
    return list(sendobj)


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

    def _lock(self, key: Any) -> threading.Lock:
        raise NotImplementedError

    # -- objects --------------------------------------------------------------------------------
    def barrier(self) -> None:
        runner.run(self._z().barrier())

    def bcast(self, obj: Any, root: int = 0) -> Any:
        with self._lock("bcast"):
            return runner.run(self._z().bcast(obj, _root(self._z(), root)))

    def scatter(self, sendobj: Any, root: int = 0) -> Any:
        z = self._z()
        at = _root(z, root)
        if z.rank == at:
            sendobj = _items(sendobj, z.size)
        with self._lock("scatter"):
            return runner.run(z.scatter(sendobj, at))

    def gather(self, sendobj: Any, root: int = 0) -> Any:
        with self._lock("gather"):
            return runner.run(self._z().gather(sendobj, _root(self._z(), root)))

    def allgather(self, sendobj: Any) -> Any:
        with self._lock("allgather"):
            return runner.run(self._z().allgather(sendobj))

    def alltoall(self, sendobj: Any) -> Any:
        z = self._z()
        sendobj = _items(sendobj, z.size, rows=True)
        with self._lock("alltoall"):
            return runner.run(z.alltoall(sendobj))

    def reduce(self, sendobj: Any, op: Any = _SUM, root: int = 0) -> Any:
        return runner.run(self._z().reduce(sendobj, zop(op), _root(self._z(), root)))

    def allreduce(self, sendobj: Any, op: Any = _SUM) -> Any:
        return runner.run(self._z().allreduce(sendobj, zop(op)))

    def scan(self, sendobj: Any, op: Any = _SUM) -> Any:
        return runner.run(self._z().scan(sendobj, zop(op)))

    def exscan(self, sendobj: Any, op: Any = _SUM) -> Any:
        return runner.run(self._z().exscan(sendobj, zop(op)))

    # -- buffers: moving data --------------------------------------------------------------------
    def _barrier(self) -> Plan:
        return self._z().barrier(), None

    def _bcast(self, buf: Any, root: int = 0) -> Plan:
        z = self._z()
        _root(z, root)
        msg = parse(buf, writable=z.rank != root)

        def finish(got: Any) -> None:
            if z.rank != root:
                msg.unpack(_bytes(got))

        return z.bcast(msg.pack() if z.rank == root else None, root), finish

    def _gather(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> Plan:
        z = self._z()
        _root(z, root)
        at_root = z.rank == root
        recv = parse(recvbuf, writable=True, blocks=z.size) if at_root else None
        skip = at_root and is_in_place(sendbuf)
        data = np.zeros(0, np.uint8) if skip else parse(sendbuf, writable=False).pack()

        def finish(parts: Any) -> None:
            if recv is not None:
                for i, part in enumerate(parts):
                    if not (i == root and skip):
                        _unpack_block(recv, i, part)

        return z.gather(data, root), finish

    def _allgather(self, sendbuf: Any, recvbuf: Any) -> Plan:
        z = self._z()
        recv = parse(recvbuf, writable=True, blocks=z.size)
        if is_in_place(sendbuf):
            data = np.array(_pack_block(recv, z.rank), copy=True)
        else:
            data = parse(sendbuf, writable=False).pack()

        def finish(parts: Any) -> None:
            for i, part in enumerate(parts):
                _unpack_block(recv, i, part)

        return z.allgather(data), finish

    def _scatter(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> Plan:
        z = self._z()
        _root(z, root)
        chunks = None
        if z.rank == root:
            send = parse(sendbuf, writable=False, blocks=z.size)
            chunks = [_pack_block(send, i) for i in range(z.size)]
        return _scattered(z, chunks, recvbuf, root)

    def _alltoall(self, sendbuf: Any, recvbuf: Any) -> Plan:
        z = self._z()
        recv = parse(recvbuf, writable=True, blocks=z.size)
        send = recv if is_in_place(sendbuf) else parse(sendbuf, writable=False, blocks=z.size)
        chunks = [np.array(_pack_block(send, i), copy=True) for i in range(z.size)]

        def finish(parts: Any) -> None:
            for i, part in enumerate(parts):
                _unpack_block(recv, i, part)

        return z.alltoall(chunks), finish

    # -- buffers: vector variants ------------------------------------------------------
    def _gatherv(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> Plan:
        z = self._z()
        _root(z, root)
        at_root = z.rank == root
        recv = parse_vector(recvbuf, writable=True, blocks=z.size) if at_root else None
        skip = at_root and is_in_place(sendbuf)
        data = np.zeros(0, np.uint8) if skip else parse(sendbuf, writable=False).pack()

        def finish(parts: Any) -> None:
            if recv is not None:
                for i, part in enumerate(parts):
                    if not (i == root and skip):
                        recv.unpack(i, _bytes(part))
                recv.write_back()

        return z.gather(data, root), finish

    def _scatterv(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> Plan:
        z = self._z()
        _root(z, root)
        chunks = None
        if z.rank == root:
            send = parse_vector(sendbuf, writable=False, blocks=z.size)
            chunks = [send.pack(i) for i in range(z.size)]
        return _scattered(z, chunks, recvbuf, root)

    def _allgatherv(self, sendbuf: Any, recvbuf: Any) -> Plan:
        z = self._z()
        recv = parse_vector(recvbuf, writable=True, blocks=z.size)
        if is_in_place(sendbuf):
            data = np.array(recv.pack(z.rank), copy=True)
        else:
            data = parse(sendbuf, writable=False).pack()

        def finish(parts: Any) -> None:
            for i, part in enumerate(parts):
                recv.unpack(i, _bytes(part))
            recv.write_back()

        return z.allgather(data), finish

    def _alltoallv(self, sendbuf: Any, recvbuf: Any) -> Plan:
        z = self._z()
        recv = parse_vector(recvbuf, writable=True, blocks=z.size)
        send = (
            recv if is_in_place(sendbuf) else parse_vector(sendbuf, writable=False, blocks=z.size)
        )
        chunks = [np.array(send.pack(i), copy=True) for i in range(z.size)]

        def finish(parts: Any) -> None:
            for i, part in enumerate(parts):
                recv.unpack(i, _bytes(part))
            recv.write_back()

        return z.alltoall(chunks), finish

    def _alltoallw(self, sendbuf: Any, recvbuf: Any) -> Plan:
        """Block ``j`` of each side is ``counts[j]`` items of
        ``datatypes[j]`` from byte ``displs[j]`` (MPI's byte displacements)."""
        z = self._z()
        recv = _w_blocks(recvbuf, z.size, writable=True)
        send = recv if is_in_place(sendbuf) else _w_blocks(sendbuf, z.size, writable=False)
        chunks = [np.array(m.pack(), copy=True) for m in send]

        def finish(parts: Any) -> None:
            for m, part in zip(recv, parts, strict=True):
                m.unpack(_bytes(part))

        return z.alltoall(chunks), finish

    # -- buffers: reductions --------------------------------------------------------------
    def _reduce_input(self, sendbuf: Any, recvbuf: Any, check: bool = True) -> npt.NDArray[Any]:
        """The reduction's input; ``check``: the receive buffer must hold as
        many elements of the same datatype (``ValueError``, as mpi4py)."""
        if is_in_place(sendbuf):
            return _typed(parse(recvbuf, writable=False))
        send = parse(sendbuf, writable=False)
        if check:
            recv = parse(recvbuf, writable=False)
            check_reduction(send, recv)
        return _typed(send)

    def _into(self, recvbuf: Any, dtype: Any, when: bool = True) -> Callable[[Any], None]:
        recv = parse(recvbuf, writable=True) if when else None

        def finish(got: Any) -> None:
            if recv is not None and got is not None:
                recv.unpack(_bytes(np.asarray(got, dtype)))

        return finish

    def _reduce(self, sendbuf: Any, recvbuf: Any, op: Any = _SUM, root: int = 0) -> Plan:
        z = self._z()
        _root(z, root)
        data = self._reduce_input(sendbuf, recvbuf, check=z.rank == root)
        return z.reduce(data, zop(op), root), self._into(recvbuf, data.dtype, z.rank == root)

    def _allreduce(self, sendbuf: Any, recvbuf: Any, op: Any = _SUM) -> Plan:
        data = self._reduce_input(sendbuf, recvbuf)
        return self._z().allreduce(data, zop(op)), self._into(recvbuf, data.dtype)

    def _scan(self, sendbuf: Any, recvbuf: Any, op: Any = _SUM) -> Plan:
        data = self._reduce_input(sendbuf, recvbuf)
        return self._z().scan(data, zop(op)), self._into(recvbuf, data.dtype)

    def _exscan(self, sendbuf: Any, recvbuf: Any, op: Any = _SUM) -> Plan:
        """(``recvbuf`` is left as it is on rank 0, as MPI leaves it undefined.)"""
        data = self._reduce_input(sendbuf, recvbuf)
        return self._z().exscan(data, zop(op)), self._into(recvbuf, data.dtype)

    def _reduce_scatter_block(self, sendbuf: Any, recvbuf: Any, op: Any = _SUM) -> Plan:
        z = self._z()
        data = self._reduce_input(sendbuf, recvbuf, check=False)
        if data.size % z.size:
            raise ValueError(f"Reduce_scatter_block: {data.size} items for {z.size} ranks")
        recv = parse(recvbuf, writable=True, blocks=z.size if is_in_place(sendbuf) else 1)

        def finish(got: Any) -> None:
            recv.unpack(_bytes(np.asarray(got, data.dtype)))

        return z.reduce_scatter(np.split(data, z.size), zop(op)), finish

    def _reduce_scatter(
        self, sendbuf: Any, recvbuf: Any, recvcounts: Any = None, op: Any = _SUM
    ) -> Plan:
        """Split by ``recvcounts``; without them (and not in place) each
        rank's share is the size of its receive buffer, which the ranks
        exchange first, as mpi4py does."""
        z = self._z()
        data = self._reduce_input(sendbuf, recvbuf, check=False)
        recv = parse(recvbuf, writable=True)
        in_place = is_in_place(sendbuf)
        if not in_place:
            check_reduction(parse(sendbuf, writable=False), recv, counts=False)
        if recvcounts is None and not in_place:
            counts = [int(c) for c in runner.run(z.allgather(recv.count))]
        elif recvcounts is None:
            counts = [data.size // z.size + (data.size % z.size > i) for i in range(z.size)]
        else:
            counts = [int(c) for c in recvcounts]
        if len(counts) != z.size or sum(counts) != data.size:
            raise ValueError(f"Reduce_scatter: recvcounts {counts} for {data.size} items")
        if not in_place and recv.count != counts[z.rank]:
            raise ValueError(
                f"mismatch in receive count {recv.count} and counts[{z.rank}] {counts[z.rank]}"
            )
        parts = np.split(data, np.cumsum(counts)[:-1])
        count = counts[z.rank] if in_place else None

        def finish(got: Any) -> None:
            recv.unpack(_bytes(np.asarray(got, data.dtype)), count=count)

        return z.reduce_scatter(parts, zop(op)), finish

    def Reduce_local(self, inbuf: Any, inoutbuf: Any, op: Any = _SUM) -> None:
        reduce_local(inbuf, inoutbuf, op)

    # -- running a plan ---------------------------------------------------------------------------
    def _run(self, plan: Plan) -> None:
        got = runner.run(plan[0])
        if plan[1] is not None:
            plan[1](got)

    def _start(self, plan: Plan) -> Request:
        """The plan as a request: its collective advances on its own; the
        request's completion unpacks the result."""
        aw, step = plan
        task = runner.start(_as_coro(aw), progress=True)

        def finish(got: Any, status: Any) -> None:
            if step is not None:
                step(got)

        return Request._of(task, finish)


async def _as_coro(aw: Awaitable[Any]) -> Any:
    return await aw


def _w_blocks(spec: Any, size: int, *, writable: bool) -> list[Message]:
    """The ``size`` blocks of an ``Alltoallw`` specification
    ``[buf, counts, displs, datatypes]``, ``[buf, (counts, displs), types]``
    or ``[buf, types]`` (one element of each type at displacement 0);
    displacements in bytes, absolute addresses with ``BOTTOM``."""
    if len(spec) == 2:
        buf, types = spec
        counts = displs = None
    elif len(spec) == 3:
        buf, (counts, displs), types = spec
    elif len(spec) == 4:
        buf, counts, displs, types = spec
    else:
        raise ValueError("message: expecting 2 to 4 items")
    bottom = is_bottom(buf)
    if bottom and counts is None:
        raise ValueError("message: BOTTOM requires counts")
    if bottom and displs is None:
        raise ValueError("message: BOTTOM requires displs")
    mem = np.zeros(0, np.uint8) if bottom else as_bytes(buf, writable)[0]
    if counts is None and displs is None:
        counts, displs = [1] * size, [0] * size
    if counts is None:
        raise ValueError("message: Alltoallw needs counts with displacements")
    counts = [int(c) for c in counts]
    displs = [0] * size if displs is None else [int(d) for d in displs]
    if isinstance(types, (str,)) or not hasattr(types, "__len__"):
        types = [types] * size
    if not len(counts) == len(displs) == len(types) == size:
        raise ValueError(f"Alltoallw needs {size} counts, displacements and datatypes")
    if bottom:
        return [
            absolute(as_datatype(t), c, d, writable)
            for c, d, t in zip(counts, displs, types, strict=True)
        ]
    return [
        Message(mem, as_datatype(t), c, d) for c, d, t in zip(counts, displs, types, strict=True)
    ]


def _forms(name: str, plan: str, cls: type[Any] | None = None) -> None:
    """Give ``cls`` (``CollectiveCalls``; a mixin of ``Comm``'s subclasses
    for their own collectives) the blocking, nonblocking and persistent
    forms of the collective planned by its method ``plan``. The persistent
    form takes mpi4py's ``info`` keyword and keeps it as hints (unread)."""
    owner = CollectiveCalls if cls is None else cls
    plan_of = getattr(owner, plan)

    def blocking(self: Any, *args: Any, **kwargs: Any) -> None:
        self._run(plan_of(self, *args, **kwargs))

    def nonblocking(self: Any, *args: Any, **kwargs: Any) -> Request:
        req: Request = self._start(plan_of(self, *args, **kwargs))
        return req

    def persistent(self: Any, *args: Any, info: Any = None, **kwargs: Any) -> Prequest:
        return Prequest._persistent(lambda: nonblocking(self, *args, **kwargs))

    for form, fn in ((name, blocking), ("I" + name.lower(), nonblocking)):
        fn.__name__ = form
        fn.__doc__ = plan_of.__doc__
        setattr(owner, form, fn)
    persistent.__name__ = f"{name}_init"
    setattr(owner, f"{name}_init", persistent)


# The buffer collectives, each with its ``I...`` and ``..._init`` forms.
BUFFER_COLLECTIVES = (
    "Barrier",
    "Bcast",
    "Gather",
    "Gatherv",
    "Scatter",
    "Scatterv",
    "Allgather",
    "Allgatherv",
    "Alltoall",
    "Alltoallv",
    "Alltoallw",
    "Reduce",
    "Allreduce",
    "Scan",
    "Exscan",
    "Reduce_scatter_block",
    "Reduce_scatter",
)
for _name in BUFFER_COLLECTIVES:
    _forms(_name, "_" + _name.lower())


def _scattered(z: Any, chunks: list[Any] | None, recvbuf: Any, root: int) -> Plan:
    """Scatter ``chunks`` (the root's packed blocks) into ``recvbuf``, which
    the root may leave as it is (``IN_PLACE``)."""
    keep = z.rank == root and is_in_place(recvbuf)
    recv = None if keep else parse(recvbuf, writable=True)

    def finish(got: Any) -> None:
        if recv is not None:
            recv.unpack(_bytes(got))

    return z.scatter(chunks, root), finish
