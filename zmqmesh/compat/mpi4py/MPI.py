"""``MPI``: mpi4py's synchronous interface, on zmqmesh.

Theory of operation. The module owns one event loop (uvloop's when
installed). ``COMM_WORLD`` joins the job on first use (``zmqmesh.init``);
every blocking call runs that loop until its operation completes, with no
extra thread, and returns its result like mpi4py. Lower-case methods move
Python objects (zmqmesh's wire rules, pickle when the job allows it);
upper-case methods move NumPy buffers, in place, as mpi4py's buffer API
does (a ``[array, MPI.DOUBLE]`` buffer specification is accepted; the
datatype is the array's own). What is not covered raises
``NotImplementedError`` naming the call, never a silent difference.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import zmqmesh
from zmqmesh.runtime.comm import Comm as _ZComm
from zmqmesh.runtime.request import Request as _ZRequest
from zmqmesh.runtime.request import Status as _ZStatus

ANY_SOURCE = zmqmesh.ANY_SOURCE
ANY_TAG = zmqmesh.ANY_TAG
PROC_NULL = None
UNDEFINED = -32766
IN_PLACE = object()
SUM, PROD, MAX, MIN = zmqmesh.SUM, zmqmesh.PROD, zmqmesh.MAX, zmqmesh.MIN
LAND, LOR, LXOR = zmqmesh.LAND, zmqmesh.LOR, zmqmesh.LXOR
BAND, BOR, BXOR = zmqmesh.BAND, zmqmesh.BOR, zmqmesh.BXOR
MAXLOC, MINLOC = zmqmesh.MAXLOC, zmqmesh.MINLOC
# Datatypes: accepted in buffer specifications; the array's dtype decides.
BYTE, CHAR, INT, LONG, FLOAT, DOUBLE, BOOL = "b", "c", "i", "l", "f", "d", "?"
INT32_T, INT64_T, FLOAT32_T, FLOAT64_T = "i4", "i8", "f4", "f8"
COMPLEX, DOUBLE_COMPLEX = "F", "D"

_loop: asyncio.AbstractEventLoop | None = None


def _run(aw: Any) -> Any:
    """Run the module's loop until ``aw`` completes."""
    global _loop
    if _loop is None:
        try:
            import uvloop

            _loop = uvloop.new_event_loop()
        except ImportError:
            _loop = asyncio.new_event_loop()
    if _loop.is_running():
        raise RuntimeError("MPI calls are blocking: not from inside a running event loop")
    return _loop.run_until_complete(_as_coro(aw))


async def _as_coro(aw: Any) -> Any:
    return await aw


async def _call(fn: Callable[[], Any]) -> Any:
    return fn()


def _now(fn: Callable[[], Any]) -> Any:
    """Call ``fn`` inside the loop (it posts futures on it) and return at once."""
    return _run(_call(fn))


def _unsupported(name: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"MPI.{name} is not supported by zmqmesh's mpi4py layer")

    return call


def _array(buf: Any) -> np.ndarray:
    """The array of a buffer specification: ``arr``, ``[arr, type]`` or
    ``[arr, count, type]``."""
    if isinstance(buf, (list, tuple)) and buf and isinstance(buf[0], np.ndarray):
        return buf[0]
    if isinstance(buf, np.ndarray):
        return buf
    try:
        return np.frombuffer(buf, np.uint8)
    except TypeError:
        raise TypeError(f"not a buffer: {type(buf).__name__}") from None


def _into_parts(dst: np.ndarray, parts: Sequence[Any], what: str) -> None:
    """Each received part straight into its place in ``dst``, in order."""
    total = sum(np.asarray(p).size for p in parts)
    if total != dst.size:
        raise ValueError(f"{what}: the receive buffer holds {dst.size} items, not {total}")
    if not dst.flags.c_contiguous:  # a strided view: reshape(-1) would be a copy
        np.copyto(dst, np.concatenate([np.ravel(p) for p in parts]).reshape(dst.shape))
        return
    flat, at = dst.reshape(-1), 0
    for part in parts:
        part = np.asarray(part).reshape(-1)
        np.copyto(flat[at : at + part.size], part, casting="unsafe")
        at += part.size


def _into(dst: np.ndarray, src: Any, what: str) -> None:
    _into_parts(dst, [src], what)


class Status:
    def __init__(self) -> None:
        self._st = _ZStatus()

    @property
    def source(self) -> int:
        s = self._st.source
        return -1 if s is None else s

    @property
    def tag(self) -> int:
        return self._st.tag

    def Get_source(self) -> int:  # mpi4py's names throughout
        return self.source

    def Get_tag(self) -> int:
        return self.tag

    def Get_count(self, datatype: Any = None) -> int:
        return self._st.nbytes

    def Get_error(self) -> int:
        return 0


def _status(status: Status | None) -> _ZStatus | None:
    return None if status is None else status._st


class Request:
    def __init__(self, req: _ZRequest, into: np.ndarray | None = None) -> None:
        self._req = req
        self._into = into
        self._done = False
        self._value: Any = None

    def _finish(self, value: Any) -> Any:
        self._done = True
        if self._into is not None and value is not None:
            _into(self._into, value, "Irecv")
            value = None
        self._value = value
        return value

    def wait(self, status: Status | None = None) -> Any:
        if not self._done:
            self._finish(_run(self._req))
        if status is not None and self._req.status is not None:
            status._st = self._req.status
        return self._value

    Wait = wait

    def test(self, status: Status | None = None) -> tuple[bool, Any]:
        if not self._done:
            _run(asyncio.sleep(0))  # let what has arrived be read
            if not self._req.test():
                return False, None
        return True, self.wait(status)

    def Test(self, status: Status | None = None) -> bool:
        return self.test(status)[0]

    def Free(self) -> None:
        pass

    def cancel(self) -> None:
        raise NotImplementedError("Request.cancel is not supported by zmqmesh's mpi4py layer")

    Cancel = cancel

    @staticmethod
    def waitall(requests: Sequence[Request], statuses: Any = None) -> list[Any]:
        return [r.wait() for r in requests]

    Waitall = waitall

    @staticmethod
    def testall(requests: Sequence[Request]) -> tuple[bool, list[Any] | None]:
        done = [r.test() for r in requests]
        if all(d for d, _ in done):
            return True, [v for _, v in done]
        return False, None

    @staticmethod
    def Testall(requests: Sequence[Request]) -> bool:
        return Request.testall(requests)[0]

    @staticmethod
    def waitany(requests: Sequence[Request], status: Status | None = None) -> tuple[int, Any]:
        while True:
            for i, r in enumerate(requests):
                ok, value = r.test(status)
                if ok:
                    return i, value
            _run(asyncio.sleep(0.0005))

    Waitany = waitany


class Op:
    def __init__(self, op: zmqmesh.Op) -> None:
        self._op = op

    @staticmethod
    def Create(function: Callable[..., Any], commute: bool = False) -> Op:
        def fn(a: Any, b: Any) -> Any:
            try:
                return function(a, b, None)
            except TypeError:
                return function(a, b)

        return Op(zmqmesh.Op(fn, commute=commute))

    def Free(self) -> None:
        pass


def _op(op: Any) -> zmqmesh.Op:
    return op._op if isinstance(op, Op) else op


class Comm:
    """A communicator with mpi4py's methods."""

    def __init__(self, comm: _ZComm | None) -> None:
        self._c = comm

    @property
    def _comm(self) -> _ZComm:
        if self._c is None:
            raise RuntimeError("this communicator has been freed")
        return self._c

    # -- who ------------------------------------------------------------------
    def Get_rank(self) -> int:
        return self._comm.rank

    def Get_size(self) -> int:
        return self._comm.size

    rank = property(Get_rank)
    size = property(Get_size)

    def Dup(self) -> Comm:
        return type(self)(_run(self._comm.dup()))

    Clone = Dup

    def Split(self, color: int = 0, key: int = 0) -> Comm | None:
        got = _run(self._comm.split(None if color == UNDEFINED else color, key))
        return None if got is None else Comm(got)

    def Free(self) -> None:
        self._c = None

    def Abort(self, errorcode: int = 1) -> None:
        print(f"MPI.Abort({errorcode}) on rank {self._comm.rank}", file=sys.stderr, flush=True)
        os._exit(errorcode or 1)

    # -- point to point, objects -------------------------------------------------
    def send(self, obj: Any, dest: int | None, tag: int = 0) -> None:
        _run(self._comm.send(obj, dest, tag))

    ssend = send

    def recv(
        self,
        buf: Any = None,
        source: int = ANY_SOURCE,
        tag: int = ANY_TAG,
        status: Status | None = None,
    ) -> Any:
        return _run(self._comm.recv(source, tag, _status(status)))

    def mprobe(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("Comm.mprobe is not supported by zmqmesh's mpi4py layer")

    def sendrecv(
        self,
        sendobj: Any,
        dest: int | None,
        sendtag: int = 0,
        recvbuf: Any = None,
        source: int = ANY_SOURCE,
        recvtag: int = ANY_TAG,
        status: Status | None = None,
    ) -> Any:
        return _run(
            self._comm.sendrecv(
                sendobj,
                dest,
                sendtag=sendtag,
                source=source,
                recvtag=recvtag,
                status=_status(status),
                copy=False,
            )
        )

    def isend(self, obj: Any, dest: int | None, tag: int = 0) -> Request:
        return Request(_now(lambda: self._comm.isend(obj, dest, tag)))

    issend = isend

    def irecv(self, buf: Any = None, source: int = ANY_SOURCE, tag: int = ANY_TAG) -> Request:
        return Request(_now(lambda: self._comm.irecv(source, tag)))

    def probe(
        self, source: int = ANY_SOURCE, tag: int = ANY_TAG, status: Status | None = None
    ) -> bool:
        st = _run(self._comm.probe(source, tag))
        if status is not None:
            status._st = st
        return True

    def iprobe(
        self, source: int = ANY_SOURCE, tag: int = ANY_TAG, status: Status | None = None
    ) -> bool:
        _run(asyncio.sleep(0))  # take in what has arrived
        st = _now(lambda: self._comm.iprobe(source, tag))
        if st is not None and status is not None:
            status._st = st
        return st is not None

    Probe, Iprobe = probe, iprobe

    # -- collectives, objects ---------------------------------------------------------
    def barrier(self) -> None:
        _run(self._comm.barrier())

    Barrier = barrier

    def bcast(self, obj: Any, root: int = 0) -> Any:
        return _run(self._comm.bcast(obj, root))

    def scatter(self, sendobj: Any, root: int = 0) -> Any:
        return _run(self._comm.scatter(sendobj, root))

    def gather(self, sendobj: Any, root: int = 0) -> Any:
        return _run(self._comm.gather(sendobj, root))

    def allgather(self, sendobj: Any) -> Any:
        return _run(self._comm.allgather(sendobj))

    def alltoall(self, sendobj: Any) -> Any:
        return _run(self._comm.alltoall(sendobj))

    def reduce(self, sendobj: Any, op: Any = SUM, root: int = 0) -> Any:
        return _run(self._comm.reduce(sendobj, _op(op), root))

    def allreduce(self, sendobj: Any, op: Any = SUM) -> Any:
        return _run(self._comm.allreduce(sendobj, _op(op)))

    def scan(self, sendobj: Any, op: Any = SUM) -> Any:
        return _run(self._comm.scan(sendobj, _op(op)))

    def exscan(self, sendobj: Any, op: Any = SUM) -> Any:
        return _run(self._comm.exscan(sendobj, _op(op)))

    # -- buffers ---------------------------------------------------------------------
    def Send(self, buf: Any, dest: int | None, tag: int = 0) -> None:
        _run(self._comm.send(_array(buf), dest, tag))

    Ssend = Send

    def Recv(
        self, buf: Any, source: int = ANY_SOURCE, tag: int = ANY_TAG, status: Status | None = None
    ) -> None:
        got = _run(self._comm.recv(source, tag, _status(status)))
        if got is not None:
            _into(_array(buf), got, "Recv")

    def Isend(self, buf: Any, dest: int | None, tag: int = 0) -> Request:
        data = _array(buf)  # as in MPI, the buffer must not change before wait()
        return Request(_now(lambda: self._comm.isend(data, dest, tag)))

    def Irecv(self, buf: Any, source: int = ANY_SOURCE, tag: int = ANY_TAG) -> Request:
        return Request(_now(lambda: self._comm.irecv(source, tag)), into=_array(buf))

    def Sendrecv(
        self,
        sendbuf: Any,
        dest: int | None,
        sendtag: int = 0,
        recvbuf: Any = None,
        source: int = ANY_SOURCE,
        recvtag: int = ANY_TAG,
        status: Status | None = None,
    ) -> None:
        got = self.sendrecv(_array(sendbuf), dest, sendtag, None, source, recvtag, status)
        if got is not None and recvbuf is not None:
            _into(_array(recvbuf), got, "Sendrecv")

    def Bcast(self, buf: Any, root: int = 0) -> None:
        arr = _array(buf)
        got = _run(self._comm.bcast(arr if self._comm.rank == root else None, root))
        if self._comm.rank != root:
            _into(arr, got, "Bcast")

    def _send_part(self, sendbuf: Any, recvbuf: Any) -> np.ndarray:
        return _array(recvbuf) if sendbuf is IN_PLACE else _array(sendbuf)

    def Reduce(self, sendbuf: Any, recvbuf: Any, op: Any = SUM, root: int = 0) -> None:
        got = _run(self._comm.reduce(self._send_part(sendbuf, recvbuf), _op(op), root))
        if self._comm.rank == root:
            _into(_array(recvbuf), got, "Reduce")

    def Allreduce(self, sendbuf: Any, recvbuf: Any, op: Any = SUM) -> None:
        got = _run(self._comm.allreduce(self._send_part(sendbuf, recvbuf), _op(op)))
        _into(_array(recvbuf), got, "Allreduce")

    def Gather(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> None:
        parts = _run(self._comm.gather(_array(sendbuf), root))
        if self._comm.rank == root:
            _into_parts(_array(recvbuf), parts, "Gather")

    def Allgather(self, sendbuf: Any, recvbuf: Any) -> None:
        parts = _run(self._comm.allgather(_array(sendbuf)))
        _into_parts(_array(recvbuf), parts, "Allgather")

    def Scatter(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> None:
        chunks = None
        if self._comm.rank == root:
            chunks = np.array_split(np.ravel(_array(sendbuf)), self._comm.size)
        _into(_array(recvbuf), _run(self._comm.scatter(chunks, root)), "Scatter")

    def Alltoall(self, sendbuf: Any, recvbuf: Any) -> None:
        chunks = np.array_split(np.ravel(_array(sendbuf)), self._comm.size)
        parts = _run(self._comm.alltoall(chunks))
        _into_parts(_array(recvbuf), parts, "Alltoall")

    # -- topologies -------------------------------------------------------------------------
    def Create_cart(
        self, dims: Sequence[int], periods: Sequence[bool] | None = None, reorder: bool = False
    ) -> Cartcomm:
        periodic = tuple(bool(p) for p in (periods or [False] * len(dims)))
        topo = _run(self._comm.create_topology("mesh", dims=tuple(dims), periodic=periodic))
        return Cartcomm(topo)

    Gatherv = Scatterv = Allgatherv = Alltoallv = _unsupported("Comm.*v (vector collectives)")
    Ibarrier = Ibcast = Iallreduce = _unsupported("Comm nonblocking collectives")
    Create_graph = Spawn = Connect = Accept = _unsupported("Comm process management")


class Cartcomm(Comm):
    @property
    def _topo(self) -> Any:
        return self._comm

    @property
    def dims(self) -> list[int]:
        return list(self._topo.dims)

    @property
    def periods(self) -> list[bool]:
        return list(self._topo.periodic)

    @property
    def coords(self) -> list[int]:
        return list(self._topo.coords)

    def Get_coords(self, rank: int) -> list[int]:
        if rank == self._topo.rank:
            return list(self._topo.coords)
        coords, dims = [], list(self._topo.dims)
        for d in reversed(dims):  # row-major, as MPI_Cart_create
            coords.append(rank % d)
            rank //= d
        return coords[::-1]

    def Get_cart_rank(self, coords: Sequence[int]) -> int:
        return int(self._topo.rank_of(tuple(coords)))

    def Shift(self, direction: int, disp: int) -> tuple[int | None, int | None]:
        return tuple(self._topo.shift(direction, disp))


class _World(Comm):
    """``COMM_WORLD``: joins the job on first use."""

    @property
    def _comm(self) -> _ZComm:
        if self._c is None:
            self._c = _run(zmqmesh.init())
        return self._c


COMM_WORLD = _World(None)
Intracomm = Comm


class _Self(Comm):
    @property
    def _comm(self) -> _ZComm:
        if self._c is None:
            world = COMM_WORLD._comm
            self._c = _run(world.split(world.rank, 0))
        return self._c


COMM_SELF = _Self(None)


def Wtime() -> float:
    return time.perf_counter()


def Wtick() -> float:
    return time.get_clock_info("perf_counter").resolution


def Get_processor_name() -> str:
    return socket.gethostname()


def Is_initialized() -> bool:
    return True


def Is_finalized() -> bool:
    return _finalized


def Init() -> None:
    COMM_WORLD._comm  # noqa: B018 (joins the job)


def Finalize() -> None:
    global _finalized
    if not _finalized and COMM_WORLD._c is not None:
        _finalized = True
        _run(zmqmesh.finalize())


def Compute_dims(nnodes: int, dims: int | Sequence[int]) -> list[int]:
    if isinstance(dims, int):
        return list(zmqmesh.dims_create(nnodes, dims))
    return list(zmqmesh.dims_create(nnodes, len(dims), list(dims)))


Get_version = lambda: (3, 1)  # noqa: E731
Win = File = Info = Group = Datatype = _unsupported("Win/File/Info/Group/Datatype objects")

_finalized = False
# At interpreter exit, before concurrent.futures stops its threads (which
# finalize needs): threading's exit hooks run first, in reverse order.
try:
    threading._register_atexit(Finalize)  # type: ignore[attr-defined]
except (AttributeError, RuntimeError):
    atexit.register(Finalize)
