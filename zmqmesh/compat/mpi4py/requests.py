"""``Request``: what nonblocking calls return (``Status``, what they
report, is ``status.py``'s).

A ``Request`` handle names an operation in flight (a zmqmesh request and
what to do with its result: unpack a received message into the caller's
buffer). Completing it through ``Wait``/``Test`` (or the array forms) runs
that step once, fills the status, and makes the handle ``REQUEST_NULL``, as
MPI does for nonpersistent requests. Waiting on ``REQUEST_NULL`` returns at
once with an empty status.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import runner
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.handles import Handle
from zmqmesh.compat.mpi4py.status import Status

__all__ = ["REQUEST_NULL", "Prequest", "Request", "Status"]


class _Op:
    """What a request handle names: an operation in flight (a zmqmesh
    request, a task of the layer, or None when done at once) and its last
    step."""

    __slots__ = ("cancellable", "claim", "done", "finish", "req", "status", "value")

    def __init__(
        self,
        req: Any,
        finish: Callable[[Any, Status], Any] | None,
        cancellable: bool = False,
        claim: Any = None,
    ) -> None:
        self.req = req
        self.finish = finish
        self.cancellable = cancellable
        self.claim = claim  # a large same-host send's claim slot (coop.py)
        self.done = False
        self.value: Any = None
        self.status = Status()

    def waiting(self, now: bool) -> None:
        """This rank waits (or stopped waiting) until the operation
        completes: a large same-host send's receiver may have it copy along."""
        if self.claim is not None and not self.done:
            self.claim[1] = int(now)

    def complete(self) -> None:
        """Wait for the operation, then run its last step (once)."""
        if self.done:
            return
        if self.claim is not None:
            self.claim[1] = 1
        if self.req is not None and _cancelled(self.req):
            self.status.cancelled = True
            self.done = True
            return
        req = self.req
        if req is None:
            raw = None
        elif isinstance(req, asyncio.Future) and req.done() and runner.no_steps_due():
            raw = req.result()  # (no turn of the loop for what is over)
        else:
            raw = runner.run(req)
        st = getattr(req, "status", None)
        if st is not None:
            self.status._fill(st.source, st.tag, max(st.nbytes, 0))
        self.value = self.finish(raw, self.status) if self.finish is not None else raw
        self.done = True

    def ready(self) -> bool:
        return self.done or self.req is None or bool(self.req.done())

    def cancel(self) -> None:
        """Withdraw the operation if it can still be withdrawn (a receive
        not matched yet); a send has been handed on and stays."""
        if self.done or self.req is None or not isinstance(self.req, asyncio.Task):
            return
        if self.cancellable:
            runner.run(_withdraw(self.req))


async def _withdraw(task: asyncio.Task[Any]) -> None:
    # Returns once the task has settled (withdrawn, or matched just before),
    # so that the request's status says which.
    task.cancel()
    await asyncio.wait([task])


def _cancelled(req: Any) -> bool:
    return isinstance(req, asyncio.Future) and req.cancelled()


class Request(Handle):
    """A nonblocking operation (``isend``, ``Irecv``, ``Iallreduce``, ...)."""

    __slots__ = ()

    # MPI 4.1's status peeks over arrays; the layer reports MPI 4.0
    Get_status_all = get_status_all = classmethod(
        runner.unsupported("Request.Get_status_all", "MPI 4.1")
    )
    Get_status_any = get_status_any = classmethod(
        runner.unsupported("Request.Get_status_any", "MPI 4.1")
    )
    Get_status_some = get_status_some = classmethod(
        runner.unsupported("Request.Get_status_some", "MPI 4.1")
    )

    @classmethod
    def _of(
        cls,
        req: Any,
        finish: Callable[[Any, Status], Any] | None = None,
        cancellable: bool = False,
        claim: Any = None,
    ) -> Request:
        r = cls()
        r._h = _Op(req, finish, cancellable, claim)
        return r

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"<mpi4py.MPI.{name} REQUEST_NULL>" if self._h is None else f"<mpi4py.MPI.{name}>"

    def _op(self) -> _Op | None:
        """The operation in flight; None for the null (or an inactive) request."""
        op: _Op | None = self._h
        return op

    def _retire(self) -> None:
        self._h = None  # a completed request becomes REQUEST_NULL

    def _ready(self) -> bool:
        op = self._op()
        return op is None or op.ready()

    def _complete(self, status: Status | None) -> Any:
        op = self._op()
        if op is None:
            if status is not None:
                status._copy(Status())
            return None
        op.complete()
        if status is not None:
            status._copy(op.status)
        self._retire()
        return op.value

    # -- one request --------------------------------------------------------------------------
    def Wait(self, status: Status | None = None) -> bool:
        """Block until the operation completes; True."""
        self._complete(status)
        return True

    def wait(self, status: Status | None = None) -> Any:
        """Block until the operation completes; the received object (or None)."""
        return self._complete(status)

    def Test(self, status: Status | None = None) -> bool:
        """True (and completes) when the operation has completed."""
        return Request.test(self, status)[0]  # (subclasses may override test)

    def test(self, status: Status | None = None) -> tuple[bool, Any]:
        """Test for the completion of the operation: ``(True, object)`` when
        done, else ``(False, None)``."""
        if not self._ready():
            runner.poll()
            if not self._ready():
                return False, None
        return True, self._complete(status)

    def Get_status(self, status: Status | None = None) -> bool:
        """Whether the operation has completed, without completing it."""
        if not self._ready():
            runner.poll()
        op = self._op()
        done = op is None or op.ready()
        if done and status is not None:
            if op is not None:
                op.complete()
            status._copy(op.status if op is not None else Status())
        return done

    get_status = Get_status

    def Free(self) -> None:
        """Free the request (it completes on its own; the handle becomes ``REQUEST_NULL``)."""
        if self._h is None:
            raise MPIException(C.ERR_REQUEST, "Invalid MPI_Request (the null request)")
        self._h = None

    def Cancel(self) -> None:
        """Ask to withdraw the operation: a receive not matched yet is
        withdrawn (its status then says ``Is_cancelled()``); anything
        else completes as it would have. Complete the request as usual."""
        if self._h is None:
            raise MPIException(C.ERR_REQUEST, "Invalid MPI_Request (the null request)")
        op = self._op()
        if op is not None:
            op.cancel()

    cancel = Cancel

    # -- arrays of requests ---------------------------------------------------------------------
    @classmethod
    def Waitall(cls, requests: Sequence[Request], statuses: list[Status] | None = None) -> bool:
        """Wait for all the requests to complete, filling ``statuses`` when given; True."""
        cls.waitall(requests, statuses)
        return True

    @classmethod
    def waitall(
        cls, requests: Sequence[Request], statuses: list[Status] | None = None
    ) -> list[Any]:
        """Wait for all the requests to complete; the received objects, in
        order (None for an operation that receives none)."""
        ops = [op for op in (r._op() for r in requests) if op is not None and op.claim is not None]
        for op in ops:  # this rank now waits for all of them (coop.py)
            op.waiting(True)
        out = []
        try:
            for i, r in enumerate(requests):
                st = Status()
                out.append(r._complete(st))
                _put(statuses, i, st)
        finally:
            for op in ops:
                op.waiting(False)
        return out

    @classmethod
    def Testall(cls, requests: Sequence[Request], statuses: list[Status] | None = None) -> bool:
        """Test for the completion of all the requests: True (and they
        complete) when all have completed, else False."""
        return cls.testall(requests, statuses)[0]

    @classmethod
    def testall(
        cls, requests: Sequence[Request], statuses: list[Status] | None = None
    ) -> tuple[bool, list[Any] | None]:
        """Test for the completion of all the requests: ``(True, objects)``
        (and they complete) when all have completed, else ``(False, None)``."""
        runner.poll()
        if not all(r._ready() for r in requests):
            return False, None
        return True, cls.waitall(requests, statuses)

    @classmethod
    def Waitany(cls, requests: Sequence[Request], status: Status | None = None) -> int:
        """Wait for any one of the requests to complete; its index
        (``UNDEFINED`` when none is active)."""
        return cls.waitany(requests, status)[0]

    @classmethod
    def waitany(cls, requests: Sequence[Request], status: Status | None = None) -> tuple[int, Any]:
        """Wait for any one of the requests to complete; ``(index, object)``
        (``(UNDEFINED, None)`` when none is active)."""
        while True:
            index, flag, value = cls._testany(requests, status)
            if flag:
                return index, value
            runner.poll(0.0002)

    @classmethod
    def Testany(cls, requests: Sequence[Request], status: Status | None = None) -> tuple[int, bool]:
        """Test for the completion of any one of the requests: ``(index, True)``
        for one that completed, ``(UNDEFINED, True)`` when none is active,
        else ``(UNDEFINED, False)``."""
        index, flag, _ = cls._testany(requests, status)
        return index, flag

    @classmethod
    def testany(
        cls, requests: Sequence[Request], status: Status | None = None
    ) -> tuple[int, bool, Any]:
        """Test for the completion of any one of the requests: as ``Testany``,
        with the received object (or None) as a third item."""
        return cls._testany(requests, status)

    @classmethod
    def _testany(cls, requests: Sequence[Request], status: Status | None) -> tuple[int, bool, Any]:
        if all(r._op() is None for r in requests):
            if status is not None:
                status._copy(Status())
            return C.UNDEFINED, True, None
        runner.poll()
        for i, r in enumerate(requests):
            if r._op() is not None and r._ready():
                return i, True, r._complete(status)
        return C.UNDEFINED, False, None

    @classmethod
    def Waitsome(
        cls, requests: Sequence[Request], statuses: list[Status] | None = None
    ) -> list[int] | None:
        """Wait for some of the requests to complete; the indices of those
        that completed (None when none is active)."""
        return cls.waitsome(requests, statuses)[0]

    @classmethod
    def waitsome(
        cls, requests: Sequence[Request], statuses: list[Status] | None = None
    ) -> tuple[list[int] | None, list[Any] | None]:
        """Wait for some of the requests to complete; ``(indices, objects)``
        of those that completed (``(None, None)`` when none is active)."""
        while True:
            idx, vals = cls.testsome(requests, statuses)
            if idx is None or idx:
                return idx, vals
            runner.poll(0.0002)

    @classmethod
    def Testsome(
        cls, requests: Sequence[Request], statuses: list[Status] | None = None
    ) -> list[int] | None:
        """Test for the completion of some of the requests; the indices of
        those that completed, maybe none (None when none is active)."""
        return cls.testsome(requests, statuses)[0]

    @classmethod
    def testsome(
        cls, requests: Sequence[Request], statuses: list[Status] | None = None
    ) -> tuple[list[int] | None, list[Any] | None]:
        """Test for the completion of some of the requests; ``(indices,
        objects)`` of those that completed, maybe none (``(None, None)``
        when none is active)."""
        if all(r._op() is None for r in requests):
            return None, None
        runner.poll()
        idx, vals = [], []
        for i, r in enumerate(requests):
            if r._op() is not None and r._ready():
                st = Status()
                vals.append(r._complete(st))
                idx.append(i)
                _put(statuses, len(idx) - 1, st)
        return idx, vals


def _put(statuses: list[Status] | None, i: int, st: Status) -> None:
    if statuses is None:
        return
    if i < len(statuses):
        statuses[i]._copy(st)
    elif isinstance(statuses, list):  # a tuple keeps its length, as in mpi4py
        statuses.append(st)


class _Persistent:
    """What a persistent request names: how to start one round, and the
    round in flight (None while inactive)."""

    __slots__ = ("active", "starter")

    def __init__(self, starter: Callable[[], Request]) -> None:
        self.starter = starter
        self.active: _Op | None = None

    def pready(self, partitions: Sequence[int]) -> None:
        """Mark ``partitions`` of a partitioned send ready (``partition.py``)."""
        raise MPIException(C.ERR_REQUEST, "Invalid MPI_Request (not a partitioned send)")

    def parrived(self, partition: int) -> bool:
        """Whether ``partition`` of a partitioned receive has arrived."""
        raise MPIException(C.ERR_REQUEST, "Invalid MPI_Request (not a partitioned receive)")


class Prequest(Request):
    """A persistent request (``Send_init``, ``Recv_init``, ``Bcast_init``, ...).

    ``Start`` begins a round, completing it (``Wait``, ``Test``...) leaves
    the request inactive, not null, ready for the next ``Start``.
    Completing an inactive request returns at once with an empty status."""

    __slots__ = ()

    def __new__(cls, other: Request | None = None) -> Any:
        if other is not None and not isinstance(other, Prequest) and other:
            raise TypeError(f"expected Prequest, got {type(other).__name__}")
        return super().__new__(cls, other)

    @classmethod
    def _persistent(cls, starter: Callable[[], Request]) -> Prequest:
        r: Prequest = cls()
        r._h = _Persistent(starter)
        return r

    def _op(self) -> _Op | None:
        p: _Persistent | None = self._h
        return None if p is None else p.active

    def _retire(self) -> None:
        self._h.active = None

    def Start(self) -> None:
        """Begin a round. Raises ``MPI.Exception(ERR_REQUEST)`` on the null
        request or one whose round is still active."""
        p: _Persistent | None = self._h
        if p is None or p.active is not None:
            raise MPIException(C.ERR_REQUEST, "Invalid MPI_Request (null or still active)")
        p.active = p.starter()._h

    start = Start

    @staticmethod
    def Startall(requests: Sequence[Prequest]) -> None:
        """Start each request (``Start``), in order."""
        for r in requests:
            r.Start()

    startall = Startall

    # -- partitioned communication (MPI 4.0; ``partition.py``) --------------------------------
    def _state(self) -> _Persistent:
        p: _Persistent | None = self._h
        if p is None:
            raise MPIException(C.ERR_REQUEST, "Invalid MPI_Request (the null request)")
        return p

    def Pready(self, partition: int) -> None:
        """Mark a given partition as ready."""
        self._state().pready([partition])

    def Pready_range(self, partition_low: int, partition_high: int) -> None:
        """Mark a range of partitions as ready."""
        self._state().pready(range(int(partition_low), int(partition_high) + 1))

    def Pready_list(self, partitions: Sequence[int]) -> None:
        """Mark a sequence of partitions as ready."""
        self._state().pready(list(partitions))

    def Parrived(self, partition: int) -> bool:
        """Test partial completion of a partitioned receive operation."""
        p: _Persistent | None = self._h
        return True if p is None else p.parrived(partition)


REQUEST_NULL = Request()
