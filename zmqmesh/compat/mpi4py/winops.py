"""The one-sided operations of ``MPI.Win``: ``Put``, ``Get``,
``Accumulate``, ``Get_accumulate``, ``Fetch_and_op``, ``Compare_and_swap``
and their request-based forms, and the state of one window they check.

An operation is read as mpi4py reads it: ``origin`` (and ``result``,
``compare``) are buffer specifications; ``target`` is None (the origin's
count and datatype from displacement 0), an int displacement, or
``[disp]``, ``[disp, count]``, ``[disp, count, datatype]`` (a datatype
left out is the origin's). A displacement counts in the target's
``disp_unit`` bytes (for a dynamic window it is an address at the target).
It is checked where it can be at once: the rank (``ERR_RANK``), the epoch
(``ERR_RMA_SYNC``: no fence, lock or access epoch covers the target), the
range (``ERR_RMA_RANGE``; a dynamic window's range is checked at the
target and reported by the call that completes the operation).

Operations return at once: they complete (the data is at the target, a
get's data in the origin buffer) by the synchronisation that ends their
epoch, by ``Flush``, or by ``Wait``/``Test`` of the request an R-form
returns. An operation on this rank's own window is done in place.
"""

from __future__ import annotations

import asyncio
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import runner
from zmqmesh.compat.mpi4py import typemap as T
from zmqmesh.compat.mpi4py import winmem as M
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.msgspec import Message, as_datatype, parse
from zmqmesh.compat.mpi4py.ops import PREDEFINED_OPS
from zmqmesh.compat.mpi4py.requests import Request
from zmqmesh.compat.mpi4py.winserve import Port, settle

__all__ = ["RmaCalls", "Window"]

_SUM = PREDEFINED_OPS["SUM"]


def sync_error(what: str) -> MPIException:
    return MPIException(C.ERR_RMA_SYNC, f"Wrong synchronization of RMA calls: {what}")


class Window:
    """One window at one rank: its communicator, memory, the sizes and
    units of every rank's memory, and the epochs open at this rank."""

    __slots__ = (
        "access",
        "comm",
        "errhandler",
        "exposure",
        "fence",
        "flavor",
        "info",
        "lock_all",
        "locks",
        "members",
        "name",
        "port",
        "posted",
        "segment",
        "shared",
        "sizes",
        "units",
    )

    def __init__(self, comm: Any, port: Port, flavor: int, members: tuple[int, ...]) -> None:
        self.comm = comm  # the window's own duplicate (an Intracomm)
        self.port = port
        self.flavor = flavor
        self.members = members
        self.sizes: list[int] = []
        self.units: list[int] = []
        self.shared: list[Any] = []  # per rank, the memory of an Allocate_shared window
        self.segment: M.SharedSegment | None = None
        self.name = ""
        self.info: dict[str, str] = {}
        self.errhandler: Any = None
        self.fence = False
        self.locks: dict[int, int] = {}
        self.lock_all = False
        self.access: tuple[int, ...] | None = None  # Start's targets
        self.posted: set[int] = set()  # those of them known to have posted
        self.exposure: tuple[int, ...] | None = None  # Post's origins

    @property
    def rank(self) -> int:
        return self.port.rank

    @property
    def size(self) -> int:
        return len(self.members)

    def target(self, rank: Any) -> int | None:
        """Target ``rank`` as an int, None for ``PROC_NULL``; ``ERR_RANK`` else."""
        r = operator.index(rank)
        if r == C.PROC_NULL:
            return None
        if not 0 <= r < self.size:
            raise MPIException(
                C.ERR_RANK,
                f"Invalid rank has value {r} but must be nonnegative and less than {self.size}",
            )
        return r

    def check_access(self, t: int) -> None:
        """An operation on ``t`` is inside an epoch here; waits for ``t``'s
        ``Post`` the first time after ``Start``. Raises ``ERR_RMA_SYNC``."""
        if self.fence or self.lock_all or t in self.locks:
            return
        if self.access is not None and t in self.access:
            if t not in self.posted:
                runner.run(self.port.until_notes("post", [t]))
                self.posted.add(t)
            return
        raise sync_error(f"no epoch gives access to rank {t}")

    def check_range(self, t: int, disp: int, tm: T.Typemap, count: int) -> None:
        if self.flavor == C.WIN_FLAVOR_DYNAMIC or not count:
            return
        if disp < 0:
            raise MPIException(C.ERR_DISP, f"Invalid displacement argument: {disp}")
        p = T.plan(tm, count, disp * self.units[t])
        if p.nbytes and (p.low < 0 or p.high > self.sizes[t]):
            raise MPIException(
                C.ERR_RMA_RANGE,
                f"Target memory is not part of the window: bytes {p.low}..{p.high} "
                f"of rank {t}'s {self.sizes[t]}",
            )

    def send(self, t: int, kind: str, *args: Any, on_reply: Any = None) -> asyncio.Future[Any]:
        """Start one request to ``t``; its future."""
        fut: asyncio.Future[Any] = runner.now(
            lambda: self.port.request(t, kind, *args, on_reply=on_reply)
        )
        return fut

    def wait(self, futures: list[asyncio.Future[Any]]) -> None:
        """Block until every future is done; raise the first error. Each is
        awaited alone first: the runner can then sleep in the kernel until
        its answer is read (``Port.request`` made it a wait), where waiting
        for all at once would run the loop."""
        for fut in futures:
            if not fut.done():
                runner.run(_until(fut))
        if futures:
            runner.run(settle(futures))

    def flush(self, targets: Sequence[int] | None = None) -> None:
        self.wait(runner.now(lambda: self.port.outstanding(targets)))


async def _until(fut: asyncio.Future[Any]) -> None:
    """Until ``fut`` is done, whatever its outcome (``settle`` reports it)."""
    try:
        await fut
    except BaseException:
        if not fut.done():
            raise


def _target(spec: Any, origin: Message) -> tuple[int, int, T.Typemap]:
    """``(disp, count, typemap)`` of a target specification."""
    disp, count, datatype = 0, origin.count, origin.datatype
    if spec is None:
        pass
    elif isinstance(spec, int | np.integer):
        disp = operator.index(spec)
    elif isinstance(spec, list | tuple):
        if not 1 <= len(spec) <= 3:
            raise ValueError(f"target: expecting 1 to 3 items, got {len(spec)}")
        disp = operator.index(spec[0])
        if len(spec) > 1:
            count = operator.index(spec[1])
        if len(spec) > 2:
            datatype = as_datatype(spec[2])
    else:
        raise ValueError(f"target: expecting an int or a list, not {type(spec).__name__}")
    if count < 0:
        raise ValueError(f"target: negative count {count}")
    return disp, count, datatype.typemap


def _op_name(op: Any) -> str:
    for name, known in PREDEFINED_OPS.items():
        if known._h is getattr(op, "_h", None) and name in M.ACCUMULATE_OPS:
            return name
    raise MPIException(C.ERR_OP, "Invalid MPI_Op: one-sided accumulates take predefined ops only")


def _check_sizes(origin: Message, count: int, tm: T.Typemap) -> None:
    if origin.nbytes != count * tm.size:
        raise MPIException(
            C.ERR_TYPE,
            f"Invalid datatype: origin of {origin.nbytes} bytes, target of {count * tm.size}",
        )


def _single(msg: Message, result: Message) -> None:
    """Fetch-and-op and compare-and-swap take one element of one datatype
    in every buffer; ``ValueError`` else, as mpi4py."""
    for m in (msg, result):
        if m.count != 1:
            raise ValueError(f"message: expecting a single element, got {m.count}")
    if msg.datatype != result.datatype:
        raise ValueError("mismatch in origin and result MPI datatypes")


class RmaCalls:
    """Mixed into ``Win``: the operations (see the module's notes)."""

    __slots__ = ()

    def _w(self) -> Window:
        raise NotImplementedError

    # -- put and get -------------------------------------------------------------------------------
    def _put(self, origin: Any, target_rank: int, target: Any) -> asyncio.Future[Any] | None:
        got = self._checked(origin, False, target_rank, target)
        if got is None:
            return None
        w, t, msg, disp, count, tm = got
        data = np.array(msg.pack(), copy=True)
        return w.send(t, "put", disp, count, M.describe(tm), data)

    def _get(self, origin: Any, target_rank: int, target: Any) -> asyncio.Future[Any] | None:
        got = self._checked(origin, True, target_rank, target)
        if got is None:
            return None
        w, t, msg, disp, count, tm = got
        return w.send(t, "get", disp, count, M.describe(tm), on_reply=msg.unpack)

    def _checked(
        self, origin: Any, writable: bool, target_rank: int, target: Any
    ) -> tuple[Window, Any, Any, int, int, Any] | None:
        """A put's or get's ``(window, target, origin message, disp, count,
        typemap)``, checked (None for ``PROC_NULL``): raises as MPICH would."""
        w = self._w()
        t = w.target(target_rank)
        msg = parse(origin, writable=writable)
        if t is None:
            return None
        disp, count, tm = _target(target, msg)
        _check_sizes(msg, count, tm)
        w.check_range(t, disp, tm, count)
        w.check_access(t)
        return w, t, msg, disp, count, tm

    def _acc(
        self, origin: Any, result: Any, target_rank: int, target: Any, op: Any, fetch: bool
    ) -> asyncio.Future[Any] | None:
        w = self._w()
        t = w.target(target_rank)
        name = _op_name(op)
        res = parse(result, writable=True) if fetch else None
        org = parse(origin, writable=False) if origin is not None or res is None else None
        if t is None:
            return None
        disp, count, tm = _target(target, res if res is not None else org)  # type: ignore[arg-type]
        if org is not None and name != "NO_OP":
            _check_sizes(org, count, tm)
        if res is not None:
            _check_sizes(res, count, tm)
        if count and tm.base is None:
            raise MPIException(C.ERR_TYPE, "Invalid datatype: accumulates need one base type")
        for m in (None if name == "NO_OP" else org, res):
            base = None if m is None or not m.count else m.datatype.typemap.base
            if base is not None and count and base != tm.base:
                raise MPIException(C.ERR_TYPE, "Invalid datatype: origin and target types differ")
        w.check_range(t, disp, tm, count)
        w.check_access(t)
        data = None if org is None or name == "NO_OP" else np.array(org.pack(), copy=True)
        on_reply = res.unpack if res is not None else None
        return w.send(t, "acc", disp, count, M.describe(tm), data, name, fetch, on_reply=on_reply)

    def Put(self, origin: Any, target_rank: int, target: Any = None) -> None:
        """Write ``origin`` into ``target_rank``'s window at ``target``."""
        self._put(origin, target_rank, target)

    def Get(self, origin: Any, target_rank: int, target: Any = None) -> None:
        """Read ``target_rank``'s window at ``target`` into ``origin``."""
        self._get(origin, target_rank, target)

    def Accumulate(self, origin: Any, target_rank: int, target: Any = None, op: Any = _SUM) -> None:
        """Combine ``origin`` into ``target_rank``'s window with ``op``, element-wise atomically."""
        self._acc(origin, None, target_rank, target, op, False)

    def Get_accumulate(
        self, origin: Any, result: Any, target_rank: int, target: Any = None, op: Any = _SUM
    ) -> None:
        """``Accumulate``, and the target's elements before it into ``result``."""
        self._acc(origin, result, target_rank, target, op, True)

    def Fetch_and_op(
        self, origin: Any, result: Any, target_rank: int, target_disp: int = 0, op: Any = _SUM
    ) -> None:
        """``Get_accumulate`` of one element at ``target_disp``."""
        res = parse(result, writable=True)
        _single(parse(origin, writable=False), res)
        self._acc(origin, result, target_rank, [target_disp, 1, res.datatype], op, True)

    def Compare_and_swap(
        self, origin: Any, compare: Any, result: Any, target_rank: int, target_disp: int = 0
    ) -> None:
        """Store ``origin``'s element at ``target_disp`` if the target's
        equals ``compare``'s; the target's element before into ``result``."""
        w = self._w()
        t = w.target(target_rank)
        org = parse(origin, writable=False)
        cmp = parse(compare, writable=False)
        res = parse(result, writable=True)
        _single(org, res)
        _single(cmp, res)
        if t is None:
            return
        tm = res.datatype.typemap
        disp = operator.index(target_disp)
        w.check_range(t, disp, tm, 1)
        w.check_access(t)
        origin_data = np.array(T.pack(org.mem, org.plan(1)), copy=True)
        compare_data = np.array(T.pack(cmp.mem, cmp.plan(1)), copy=True)

        def on_reply(payload: Any) -> None:
            res.unpack(payload, count=1)

        w.send(t, "cas", disp, M.describe(tm), origin_data, compare_data, on_reply=on_reply)

    # -- request-based ---------------------------------------------------------------------------
    def Rput(self, origin: Any, target_rank: int, target: Any = None) -> Request:
        """``Put``, completed by the request's ``Wait`` (or the epoch's end)."""
        return Request._of(self._put(origin, target_rank, target))

    def Rget(self, origin: Any, target_rank: int, target: Any = None) -> Request:
        """``Get``; ``origin`` holds the data once the request completes."""
        return Request._of(self._get(origin, target_rank, target))

    def Raccumulate(
        self, origin: Any, target_rank: int, target: Any = None, op: Any = _SUM
    ) -> Request:
        """``Accumulate``, as a request."""
        return Request._of(self._acc(origin, None, target_rank, target, op, False))

    def Rget_accumulate(
        self, origin: Any, result: Any, target_rank: int, target: Any = None, op: Any = _SUM
    ) -> Request:
        """``Get_accumulate``, as a request."""
        return Request._of(self._acc(origin, result, target_rank, target, op, True))
