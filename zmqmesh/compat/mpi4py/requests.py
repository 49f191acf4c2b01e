"""``Status`` and ``Request``: what point-to-point calls report and return.

A ``Request`` handle names an operation in flight (a zmqmesh request and
what to do with its result: unpack a received message into the caller's
buffer). Completing it through ``Wait``/``Test`` (or the array forms) runs
that step once, fills the status, and makes the handle ``REQUEST_NULL``, as
MPI does for nonpersistent requests. Waiting on ``REQUEST_NULL`` returns at
once with an empty status.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import runner
from zmqmesh.compat.mpi4py import typemap as T
from zmqmesh.compat.mpi4py.datatypes import PREDEFINED, Datatype
from zmqmesh.compat.mpi4py.handles import Handle
from zmqmesh.compat.mpi4py.msgspec import as_datatype

__all__ = ["REQUEST_NULL", "Grequest", "Prequest", "Request", "Status"]

_BYTE = PREDEFINED["BYTE"]


class Status:
    """Where a message came from and how big it is (``count`` in bytes)."""

    __slots__ = ("cancelled", "count", "error", "source", "tag")
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, status: Status | None = None) -> None:
        self.source = C.ANY_SOURCE
        self.tag = C.ANY_TAG
        self.error = C.SUCCESS
        self.count = 0
        self.cancelled = False
        if status is not None:
            self._copy(status)

    def _copy(self, other: Status) -> None:
        self.source, self.tag, self.error = other.source, other.tag, other.error
        self.count, self.cancelled = other.count, other.cancelled

    def _fill(self, source: int | None, tag: int, nbytes: int) -> None:
        self.source = C.PROC_NULL if source is None else source
        self.tag = tag
        self.count = nbytes
        self.error = C.SUCCESS

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Status):
            return NotImplemented
        mine = (self.source, self.tag, self.error, self.count, self.cancelled)
        return mine == (other.source, other.tag, other.error, other.count, other.cancelled)

    def __repr__(self) -> str:
        return f"Status(source={self.source}, tag={self.tag}, count={self.count})"

    def Get_source(self) -> int:
        return self.source

    def Set_source(self, source: int) -> None:
        self.source = int(source)

    def Get_tag(self) -> int:
        return self.tag

    def Set_tag(self, tag: int) -> None:
        self.tag = int(tag)

    def Get_error(self) -> int:
        return self.error

    def Set_error(self, error: int) -> None:
        self.error = int(error)

    def Get_count(self, datatype: Datatype | str = _BYTE) -> int:
        """Whole elements of ``datatype`` received; ``UNDEFINED`` when the
        bytes are not a whole number of them."""
        size = as_datatype(datatype).Get_size()
        if size == 0:
            return 0
        n, rest = divmod(self.count, size)
        return C.UNDEFINED if rest else n

    def Get_elements(self, datatype: Datatype | str) -> int:
        """Basic elements of ``datatype``'s typemap received (``UNDEFINED``
        when the bytes end inside one)."""
        got = T.elements_in(as_datatype(datatype).typemap, self.count)
        return C.UNDEFINED if got is None else got

    def Set_elements(self, datatype: Datatype | str, count: int) -> None:
        """Make the status say ``count`` basic elements of ``datatype``."""
        tm = as_datatype(datatype).typemap
        per = tm.kinds.size
        if per == 0:
            self.count = 0
            return
        whole, part = divmod(int(count), per)
        sizes = [T.BASES[int(k)].itemsize for k in tm.kinds[:part]]
        self.count = whole * tm.size + sum(sizes)

    def Is_cancelled(self) -> bool:
        return self.cancelled

    def Set_cancelled(self, flag: bool) -> None:
        self.cancelled = bool(flag)

    def py2f(self) -> list[int]:
        raise NotImplementedError("Status.py2f: zmqmesh's mpi4py layer has no Fortran handles")


class _Op:
    """What a request handle names: a zmqmesh request and its last step."""

    __slots__ = ("done", "finish", "req", "status", "value")

    def __init__(self, req: Any, finish: Callable[[Any, Status], Any] | None) -> None:
        self.req = req
        self.finish = finish
        self.done = False
        self.value: Any = None
        self.status = Status()

    def complete(self) -> None:
        """Wait for the operation, then run its last step (once)."""
        if self.done:
            return
        raw = runner.run(self.req) if self.req is not None else None
        st = getattr(self.req, "status", None)
        if st is not None:
            self.status._fill(st.source, st.tag, max(st.nbytes, 0))
        self.value = self.finish(raw, self.status) if self.finish is not None else raw
        self.done = True

    def ready(self) -> bool:
        return self.done or self.req is None or bool(self.req.done())


class Request(Handle):
    """A nonblocking operation (``isend``, ``Irecv``, ...)."""

    __slots__ = ()

    @classmethod
    def _of(cls, req: Any, finish: Callable[[Any, Status], Any] | None = None) -> Request:
        r = cls()
        r._h = _Op(req, finish)
        return r

    def __repr__(self) -> str:
        return "<mpi4py.MPI.Request REQUEST_NULL>" if self._h is None else "<mpi4py.MPI.Request>"

    def _complete(self, status: Status | None) -> Any:
        op: _Op | None = self._h
        if op is None:
            if status is not None:
                status._copy(Status())
            return None
        op.complete()
        if status is not None:
            status._copy(op.status)
        self._h = None
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
        return self.test(status)[0]

    def test(self, status: Status | None = None) -> tuple[bool, Any]:
        """``(True, object)`` when done, else ``(False, None)``."""
        op: _Op | None = self._h
        if op is not None and not op.ready():
            runner.poll()
            if not op.ready():
                return False, None
        return True, self._complete(status)

    def Get_status(self, status: Status | None = None) -> bool:
        """Whether the operation has completed, without completing it."""
        op: _Op | None = self._h
        if op is not None and not op.ready():
            runner.poll()
        done = op is None or op.ready()
        if done and status is not None:
            if op is not None:
                op.complete()
            status._copy(op.status if op is not None else Status())
        return done

    def Free(self) -> None:
        self._h = None

    def Cancel(self) -> None:
        op: _Op | None = self._h
        if op is not None and op.req is not None and hasattr(op.req, "cancel"):
            op.req.cancel()
            op.status.cancelled = True

    cancel = Cancel

    # -- arrays of requests ---------------------------------------------------------------------
    @classmethod
    def Waitall(cls, requests: Sequence[Request], statuses: list[Status] | None = None) -> bool:
        cls.waitall(requests, statuses)
        return True

    @classmethod
    def waitall(
        cls, requests: Sequence[Request], statuses: list[Status] | None = None
    ) -> list[Any]:
        out = []
        for i, r in enumerate(requests):
            st = Status()
            out.append(r._complete(st))
            _put(statuses, i, st)
        return out

    @classmethod
    def Testall(cls, requests: Sequence[Request], statuses: list[Status] | None = None) -> bool:
        return cls.testall(requests, statuses)[0]

    @classmethod
    def testall(
        cls, requests: Sequence[Request], statuses: list[Status] | None = None
    ) -> tuple[bool, list[Any] | None]:
        runner.poll()
        if not all(r._h is None or r._h.ready() for r in requests):
            return False, None
        return True, cls.waitall(requests, statuses)

    @classmethod
    def Waitany(cls, requests: Sequence[Request], status: Status | None = None) -> int:
        return cls.waitany(requests, status)[0]

    @classmethod
    def waitany(cls, requests: Sequence[Request], status: Status | None = None) -> tuple[int, Any]:
        while True:
            index, flag, value = cls._testany(requests, status)
            if flag:
                return index, value
            runner.poll(0.0002)

    @classmethod
    def Testany(cls, requests: Sequence[Request], status: Status | None = None) -> tuple[int, bool]:
        index, flag, _ = cls._testany(requests, status)
        return index, flag

    @classmethod
    def testany(
        cls, requests: Sequence[Request], status: Status | None = None
    ) -> tuple[int, bool, Any]:
        return cls._testany(requests, status)

    @classmethod
    def _testany(cls, requests: Sequence[Request], status: Status | None) -> tuple[int, bool, Any]:
        if all(r._h is None for r in requests):
            if status is not None:
                status._copy(Status())
            return C.UNDEFINED, True, None
        runner.poll()
        for i, r in enumerate(requests):
            if r._h is not None and r._h.ready():
                return i, True, r._complete(status)
        return C.UNDEFINED, False, None

    @classmethod
    def Waitsome(
        cls, requests: Sequence[Request], statuses: list[Status] | None = None
    ) -> list[int] | None:
        return cls.waitsome(requests, statuses)[0]

    @classmethod
    def waitsome(
        cls, requests: Sequence[Request], statuses: list[Status] | None = None
    ) -> tuple[list[int] | None, list[Any] | None]:
        while True:
            idx, vals = cls.testsome(requests, statuses)
            if idx is None or idx:
                return idx, vals
            runner.poll(0.0002)

    @classmethod
    def Testsome(
        cls, requests: Sequence[Request], statuses: list[Status] | None = None
    ) -> list[int] | None:
        return cls.testsome(requests, statuses)[0]

    @classmethod
    def testsome(
        cls, requests: Sequence[Request], statuses: list[Status] | None = None
    ) -> tuple[list[int] | None, list[Any] | None]:
        if all(r._h is None for r in requests):
            return None, None
        runner.poll()
        idx, vals = [], []
        for i, r in enumerate(requests):
            if r._h is not None and r._h.ready():
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
    else:
        statuses.append(st)


class Prequest(Request):
    """A persistent request (``Send_init``...): not supported yet."""

    __slots__ = ()
    Start = runner.unsupported("Prequest.Start", "persistent requests")
    Startall = staticmethod(runner.unsupported("Prequest.Startall", "persistent requests"))


class Grequest(Request):
    """A generalized request: not supported."""

    __slots__ = ()
    Start = classmethod(runner.unsupported("Grequest.Start", "generalized requests"))


REQUEST_NULL = Request()
