"""Partitioned point-to-point communication (MPI 4.0): ``Psend_init``,
``Precv_init``, and a partitioned request's ``Pready``, ``Pready_range``,
``Pready_list`` and ``Parrived``.

Theory of operation. MPI lets an implementation move a partitioned
message's partitions in any grouping, as long as a partition arrives only
after it was marked ready and the receive completes once all have. Here
the message travels whole: a partitioned send is a persistent request
whose round sends the buffer (as ``Isend`` would, large same-host ones by
descriptor) when its last partition is marked ready, and a partitioned
receive is a persistent receive of the whole buffer, whose partitions all
arrive when the message does. The buffer is given as mpi4py takes it: a
specification of one partition's elements repeated ``partitions`` times
(a count, when given, is per partition).

Errors are raised where MPI calls a program erroneous: a partition out of
range or marked twice in one round, ``Pready`` on a request that is not a
started partitioned send, ``Parrived`` on one that is not a partitioned
receive. Waiting for a send before all its partitions are ready would
never return; it raises ``MPI.Exception`` naming the partitions left.
``Parrived`` on the null or an inactive request is true, as MPI 4.1 says.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import runner
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.msgspec import Message, parse
from zmqmesh.compat.mpi4py.ranks import dest_in, source_in
from zmqmesh.compat.mpi4py.requests import Prequest, Request, _Op, _Persistent

__all__ = ["PartitionedCalls"]


def _count(partitions: Any) -> int:
    n = operator.index(partitions)
    if n < 0:
        raise ValueError(f"partitions: {n} (a non-negative number of partitions)")
    return n


def _whole(buf: Any, parts: int, writable: bool) -> Message:
    """The whole buffer of ``parts`` partitions of ``buf``'s elements."""
    msg = parse(buf, writable=writable, blocks=max(parts, 1))
    whole = Message(msg.mem, msg.datatype, msg.count * parts, msg.offset, msg.stand_in_for)
    p = whole.plan()
    if p.nbytes and (p.low < 0 or p.high > whole.mem.size):
        raise ValueError(
            f"message: {parts} partitions of {msg.count} elements reach bytes "
            f"{p.low}..{p.high} of a {whole.mem.size}-byte buffer"
        )
    return whole


def _check(partition: Any, parts: int) -> int:
    i = operator.index(partition)
    if not 0 <= i < parts:
        raise MPIException(C.ERR_ARG, f"Invalid partition {i} (the request has {parts} partitions)")
    return i


class _Unready(_Op):
    """A partitioned send's round before its last partition is ready."""

    __slots__ = ("left",)

    def __init__(self, left: Callable[[], list[int]]) -> None:
        super().__init__(None, None)
        self.left = left

    def ready(self) -> bool:
        return False

    def complete(self) -> None:
        raise MPIException(
            C.ERR_REQUEST,
            f"waiting for a partitioned send whose partitions {self.left()} are not marked "
            "ready (Pready): it would never complete",
        )


class _SendState(_Persistent):
    """A partitioned send: ``issue`` sends the whole buffer."""

    __slots__ = ("issue", "parts", "ready")

    def __init__(self, parts: int, issue: Callable[[], Request]) -> None:
        super().__init__(self._round)
        self.parts, self.issue = parts, issue
        self.ready: set[int] = set()

    def _left(self) -> list[int]:
        return [i for i in range(self.parts) if i not in self.ready]

    def _round(self) -> Request:
        self.ready = set()
        if not self.parts:
            return self.issue()  # no partition to wait for
        r = Request()
        r._h = _Unready(self._left)
        return r

    def pready(self, partitions: Sequence[int]) -> None:
        if not isinstance(self.active, _Unready):
            raise MPIException(
                C.ERR_REQUEST, "Invalid MPI_Request (the partitioned send is not started)"
            )
        marked = [_check(i, self.parts) for i in partitions]
        again = sorted({i for i in marked if i in self.ready})
        if again or len(set(marked)) != len(marked):
            twice = again or sorted({i for i in marked if marked.count(i) > 1})
            raise MPIException(C.ERR_ARG, f"partitions {twice} marked ready twice in one round")
        self.ready.update(marked)
        if len(self.ready) == self.parts:
            self.active = self.issue()._h


class _RecvState(_Persistent):
    """A partitioned receive: every partition arrives with the message."""

    __slots__ = ("parts",)

    def __init__(self, parts: int, starter: Callable[[], Request]) -> None:
        super().__init__(starter)
        self.parts = parts

    def parrived(self, partition: int) -> bool:
        _check(partition, self.parts)
        op = self.active
        if op is None:
            return True  # an inactive request (MPI 4.1)
        if not op.ready():
            runner.poll()  # take in what has arrived
        return op.ready()


class PartitionedCalls:
    """Mixed into ``Comm``: needs ``_isend`` and ``_irecv`` (``p2p.py``)."""

    __slots__ = ()

    def _isend(self, data: Any, d: int | None, tag: int) -> Request:
        raise NotImplementedError

    def _irecv(self, msg: Any, src: int | None, tag: int) -> Request:
        raise NotImplementedError

    def Psend_init(
        self, buf: Any, partitions: int, dest: int, tag: int = 0, info: Any = None
    ) -> Prequest:
        """Create request for a partitioned send operation."""
        parts, d = _count(partitions), dest_in(dest)
        whole = _whole(buf, parts, writable=False)

        def issue() -> Request:  # packed when the last partition is ready
            return self._isend(whole.pack() if d is not None else None, d, tag)

        r: Prequest = Prequest()
        r._h = _SendState(parts, issue)
        return r

    def Precv_init(
        self,
        buf: Any,
        partitions: int,
        source: int = C.ANY_SOURCE,
        tag: int = C.ANY_TAG,
        info: Any = None,
    ) -> Prequest:
        """Create request for a partitioned recv operation."""
        parts, src = _count(partitions), source_in(source)
        whole = _whole(buf, parts, writable=True)
        r: Prequest = Prequest()
        r._h = _RecvState(parts, lambda: self._irecv(whole if src is not None else None, src, tag))
        return r
