"""``Comm``: a group of ranks with its own message space.

A communicator maps its ranks to world ranks and owns two context ids: one
for point-to-point traffic and one for collectives, so a user's
``recv(ANY_SOURCE, ANY_TAG)`` can never take a collective's message (MPI
keeps the same two contexts per communicator).
"""

from __future__ import annotations

import asyncio
import operator
from typing import Any

from zmqmesh.matching import ANY_SOURCE, ANY_TAG, Selector
from zmqmesh.runtime.engine import Engine, Received
from zmqmesh.runtime.request import Request, Status
from zmqmesh.wire import Envelope, Kind, decode, encode, payload_nbytes

__all__ = ["Comm"]

TAG_UB = 2**63 - 1  # the largest valid tag


def _as_int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{what} must be an int, not bool")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an int, not {type(value).__name__}") from None


class Comm:
    """A communicator. Every method is a coroutine unless marked *sync*."""

    def __init__(self, engine: Engine, ranks: tuple[int, ...], ctx: int) -> None:
        self._engine = engine
        self._ranks = ranks  # comm rank -> world rank
        self._rank = ranks.index(engine.rank)
        self._ctx = ctx  # point-to-point context; ctx + 1 is for collectives
        self._coll_seq = 0

    @property
    def rank(self) -> int:
        """This process's rank in the communicator."""
        return self._rank

    @property
    def size(self) -> int:
        """Number of ranks in the communicator."""
        return len(self._ranks)

    def __repr__(self) -> str:
        return f"<Comm rank={self._rank} size={self.size} ctx={self._ctx}>"

    # -- argument checks ----------------------------------------------------
    def _dest(self, dest: Any) -> int:
        d = _as_int(dest, "dest")
        if not 0 <= d < self.size:
            raise ValueError(f"dest {d} out of range for a communicator of size {self.size}")
        return d

    def _source(self, source: Any) -> int:
        s = _as_int(source, "source")
        if s != ANY_SOURCE and not 0 <= s < self.size:
            raise ValueError(
                f"source {s} out of range for a communicator of size {self.size} "
                "(use zmqmesh.ANY_SOURCE for any)"
            )
        return s

    @staticmethod
    def _send_tag(tag: Any) -> int:
        t = _as_int(tag, "tag")
        if not 0 <= t <= TAG_UB:
            raise ValueError(f"tag must be in 0..{TAG_UB}, got {t} (negative tags are reserved)")
        return t

    @staticmethod
    def _recv_tag(tag: Any) -> int:
        t = _as_int(tag, "tag")
        if t != ANY_TAG and not 0 <= t <= TAG_UB:
            raise ValueError(
                f"tag must be in 0..{TAG_UB} or zmqmesh.ANY_TAG, got {t} "
                "(negative tags are reserved)"
            )
        return t

    # -- point to point -----------------------------------------------------
    def _post_send(self, obj: Any, dest: int, tag: int, ctx: int) -> asyncio.Future[None] | None:
        frames = encode(
            Envelope(Kind.P2P, ctx, self._rank, tag), obj, allow_pickle=self._engine.allow_pickle
        )
        return self._engine.send(self._ranks[dest], frames)

    async def send(self, obj: Any, dest: int, tag: int = 0) -> None:
        """Send ``obj`` to rank ``dest`` with ``tag``.

        Returns once the message is handed to the transport and every NumPy
        array in ``obj`` may be reused by the caller. Raises ``TypeError`` for
        an object that cannot travel (see API.md) and ``ValueError`` for a bad
        ``dest`` or ``tag``, before anything is sent. Cancelling a send that
        ZeroMQ has already taken does not recall the message.
        """
        waiter = self._post_send(obj, self._dest(dest), self._send_tag(tag), self._ctx)
        if waiter is not None:
            await waiter

    def isend(self, obj: Any, dest: int, tag: int = 0) -> Request:
        """*sync*: start a send; returns a :class:`Request` that completes when
        ``send`` would have returned. Raises like ``send``, at the call."""
        waiter = self._post_send(obj, self._dest(dest), self._send_tag(tag), self._ctx)
        return Request(waiter)

    def _finish(self, got: Received, copy: bool, status: Status | None) -> Any:
        source, tag, frames = got
        _, obj = decode(frames, copy=copy, allow_pickle=self._engine.allow_pickle)
        if status is not None:
            status._fill(source, tag, payload_nbytes(frames))
        return obj

    async def _recv(
        self, source: int, tag: int, status: Status | None, copy: bool, ctx: int
    ) -> Any:
        fut = self._engine.post_recv(Selector(ctx, source, tag))
        if not fut.done():
            try:
                await fut
            except asyncio.CancelledError:
                self._engine.give_back(fut)
                raise
        return self._finish(fut.result(), copy, status)

    async def recv(
        self,
        source: int = ANY_SOURCE,
        tag: int = ANY_TAG,
        status: Status | None = None,
        *,
        copy: bool = False,
    ) -> Any:
        """Receive the next message matching ``source`` and ``tag``.

        Returns the object. NumPy arrays in it are read-only views of the
        received frames unless ``copy=True``, which returns writable copies.
        ``status``, if given, is filled with the source, tag and size.
        Raises ``zmqmesh.DecodeError`` if the matched message does not decode
        (it is consumed). Cancelling a pending receive withdraws it; no
        message is lost.
        """
        return await self._recv(self._source(source), self._recv_tag(tag), status, copy, self._ctx)

    def irecv(self, source: int = ANY_SOURCE, tag: int = ANY_TAG, *, copy: bool = False) -> Request:
        """*sync*: post a receive now; returns a :class:`Request` whose
        ``await`` gives the object and whose ``.status`` is then filled."""
        fut = self._engine.post_recv(Selector(self._ctx, self._source(source), self._recv_tag(tag)))
        req: Request

        def finish(got: Received) -> Any:
            req.status = Status()
            return self._finish(got, copy, req.status)

        req = Request(fut, finish)
        return req

    async def sendrecv(
        self,
        sendobj: Any,
        dest: int,
        sendtag: int = 0,
        source: int = ANY_SOURCE,
        recvtag: int = ANY_TAG,
        status: Status | None = None,
        *,
        copy: bool = False,
    ) -> Any:
        """Send ``sendobj`` to ``dest`` and receive from ``source`` at once
        (no deadlock when two ranks exchange); returns the received object."""
        source, recvtag = self._source(source), self._recv_tag(recvtag)
        fut = self._engine.post_recv(Selector(self._ctx, source, recvtag))
        try:
            waiter = self._post_send(sendobj, self._dest(dest), self._send_tag(sendtag), self._ctx)
        except BaseException:
            fut.cancel()
            raise
        try:
            if waiter is not None:
                await waiter
            if not fut.done():
                await fut
        except asyncio.CancelledError:
            if fut.done():
                self._engine.give_back(fut)
            else:
                fut.cancel()
            raise
        return self._finish(fut.result(), copy, status)

    def iprobe(self, source: int = ANY_SOURCE, tag: int = ANY_TAG) -> Status | None:
        """*sync*: the :class:`Status` of the message a matching ``recv``
        would take now, or None if none has arrived. Consumes nothing."""
        got = self._engine.peek(Selector(self._ctx, self._source(source), self._recv_tag(tag)))
        if got is None:
            return None
        return Status(got[0], got[1], payload_nbytes(got[2]))

    async def probe(self, source: int = ANY_SOURCE, tag: int = ANY_TAG) -> Status:
        """Wait until a matching message has arrived; return its
        :class:`Status` without receiving it."""
        fut = self._engine.post_probe(
            Selector(self._ctx, self._source(source), self._recv_tag(tag))
        )
        got = await fut
        return Status(got[0], got[1], payload_nbytes(got[2]))

    # -- collectives (linear placeholders; see collectives/) ----------------
    def _next_coll_tag(self) -> int:
        self._coll_seq += 1
        return self._coll_seq

    async def barrier(self) -> None:
        """Return once every rank of the communicator has entered ``barrier``."""
        await self.gather(None, root=0)
        await self.bcast(None, root=0)

    async def bcast(self, obj: Any, root: int = 0) -> Any:
        """Return the root's ``obj`` on every rank."""
        root = self._root(root)
        tag = self._next_coll_tag()
        ctx = self._ctx + 1
        if self._rank == root:
            waiters = [self._post_send(obj, r, tag, ctx) for r in range(self.size) if r != root]
            await asyncio.gather(*(w for w in waiters if w is not None))
            return obj
        return await self._recv(root, tag, None, False, ctx)

    async def gather(self, obj: Any, root: int = 0) -> list[Any] | None:
        """A list of every rank's ``obj`` in rank order at ``root``; None elsewhere."""
        root = self._root(root)
        tag = self._next_coll_tag()
        ctx = self._ctx + 1
        if self._rank != root:
            waiter = self._post_send(obj, root, tag, ctx)
            if waiter is not None:
                await waiter
            return None
        out: list[Any] = []
        for r in range(self.size):
            out.append(obj if r == root else await self._recv(r, tag, None, False, ctx))
        return out

    def _root(self, root: Any) -> int:
        r = _as_int(root, "root")
        if not 0 <= r < self.size:
            raise ValueError(f"root {r} out of range for a communicator of size {self.size}")
        return r
