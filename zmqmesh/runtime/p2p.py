"""Point-to-point messages of a communicator: ``send``/``recv`` and their
relatives, with the argument checks every call shares, and the hooks a
library built on a communicator uses (the executor handles its messages as
they arrive). :class:`~zmqmesh.runtime.comm.Comm` adds collectives and new
communicators on top.
"""

from __future__ import annotations

import asyncio
import logging
import operator
from collections.abc import Callable
from typing import Any

from zmqmesh.errors import DecodeError, RankFailedError
from zmqmesh.matching import ANY_SOURCE, ANY_TAG, Selector
from zmqmesh.runtime.channel import CollState
from zmqmesh.runtime.engine import Call, Engine, Received
from zmqmesh.runtime.request import Request, Status
from zmqmesh.wire import (
    Envelope,
    Kind,
    decode,
    decode_payload,
    encode_after,
    pack_envelope,
    payload_nbytes,
)

__all__ = ["TAG_UB", "PointToPoint", "as_int"]

log = logging.getLogger("zmqmesh")

TAG_UB = 2**63 - 1  # the largest valid tag
_HEADS = 64  # packed envelopes a communicator keeps, by tag
# Selector(ctx, source, tag) without NamedTuple's Python-level __new__: one
# per receive, on the path whose calls are most of a small message's cost.
_selector = tuple.__new__


def as_int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{what} must be an int, not bool")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an int, not {type(value).__name__}") from None


def _null_recv(status: Status | None) -> None:
    """A receive from ``PROC_NULL``: nothing, at once."""
    if status is not None:
        status._fill(None, ANY_TAG, 0)
    return None


class PointToPoint:
    """The point-to-point half of a communicator (see :class:`Comm`)."""

    _engine: Engine
    _ranks: tuple[int, ...]  # comm rank -> world rank
    _rank: int
    _ctx: int  # point-to-point context
    _coll: CollState
    _heads: dict[int, bytes]  # packed point-to-point envelopes, by tag

    @property
    def size(self) -> int:
        """Number of ranks in the communicator."""
        return len(self._ranks)

    # -- argument checks ----------------------------------------------------
    def _dest(self, dest: Any) -> int:
        d = dest if type(dest) is int else as_int(dest, "dest")
        if not 0 <= d < len(self._ranks):
            raise ValueError(f"dest {d} out of range for a communicator of size {self.size}")
        return d

    def _source(self, source: Any) -> int:
        s = source if type(source) is int else as_int(source, "source")
        if s != ANY_SOURCE and not 0 <= s < len(self._ranks):
            raise ValueError(
                f"source {s} out of range for a communicator of size {self.size} "
                "(use zmqmesh.ANY_SOURCE for any)"
            )
        return s

    @staticmethod
    def _send_tag(tag: Any) -> int:
        t = tag if type(tag) is int else as_int(tag, "tag")
        if not 0 <= t <= TAG_UB:
            raise ValueError(f"tag must be in 0..{TAG_UB}, got {t} (negative tags are reserved)")
        return t

    @staticmethod
    def _recv_tag(tag: Any) -> int:
        t = tag if type(tag) is int else as_int(tag, "tag")
        if t != ANY_TAG and not 0 <= t <= TAG_UB:
            raise ValueError(
                f"tag must be in 0..{TAG_UB} or zmqmesh.ANY_TAG, got {t} "
                "(negative tags are reserved)"
            )
        return t

    # -- point to point -----------------------------------------------------
    def _post_send(self, obj: Any, dest: int, tag: int, ctx: int) -> asyncio.Future[None] | None:
        # A point-to-point envelope differs only by tag: kept packed.
        head = self._heads.get(tag) if ctx == self._ctx else None
        if head is None:
            head = pack_envelope(Envelope(Kind.P2P, ctx, self._rank, tag))
            if ctx == self._ctx:
                if len(self._heads) >= _HEADS:
                    self._heads.clear()
                self._heads[tag] = head
        engine = self._engine
        frames = encode_after(head, obj, allow_pickle=engine.allow_pickle)
        if dest != self._rank:
            self._coll.peers.add(dest)
        world = self._ranks[dest]
        if world in engine.failed:
            raise RankFailedError(dest, engine.failed[world])
        return engine.send(world, frames)

    def _start_send(self, obj: Any, dest: Any, tag: Any) -> asyncio.Future[None] | None:
        tag = self._send_tag(tag)
        if dest is None:  # MPI_PROC_NULL: nothing to send, as off a mesh edge
            return None
        return self._post_send(obj, self._dest(dest), tag, self._ctx)

    async def send(self, obj: Any, dest: int | None, tag: int = 0) -> None:
        """Send ``obj`` to rank ``dest`` with ``tag``.

        Returns once the message is handed to the transport and every NumPy
        array in ``obj`` may be reused by the caller. Raises ``TypeError`` for
        an object that cannot travel (see API.md) and ``ValueError`` for a bad
        ``dest`` or ``tag``, before anything is sent. ``dest=None`` (what
        ``shift`` returns off a non-periodic edge) sends nothing, like MPI's
        ``PROC_NULL``. Cancelling a send that ZeroMQ has already taken does
        not recall the message.
        """
        if (
            type(tag) is int
            and type(dest) is int
            and 0 <= tag <= TAG_UB
            and 0 <= dest < len(self._ranks)
        ):  # _start_send's checks, inline
            waiter = self._post_send(obj, dest, tag, self._ctx)
        else:
            waiter = self._start_send(obj, dest, tag)
        if waiter is not None:
            assert dest is not None
            self._engine.waiting(waiter, ("send(dest={}, tag={})", dest, tag), self._ranks[dest])
            try:
                await waiter
            finally:
                self._engine.done_waiting(waiter)
            err = self._engine.failure(self._ctx, dest)
            if err is not None:  # the wait ended because dest failed
                raise err

    def isend(self, obj: Any, dest: int | None, tag: int = 0) -> Request:
        """*sync*: start a send; returns a :class:`Request` that completes when
        ``send`` would have returned. Raises like ``send``, at the call."""
        return Request(self._start_send(obj, dest, tag))

    def _finish(self, got: Received, copy: bool, status: Status | None) -> Any:
        source, tag, frames = got
        obj = decode_payload(frames, copy=copy, allow_pickle=self._engine.allow_pickle)
        if status is not None:
            status._fill(source, tag, payload_nbytes(frames))
        return obj

    def _fail_if_gone(self, fut: asyncio.Future[Any], ctx: int, source: int) -> None:
        """A receive posted for a peer that is already gone fails at once."""
        err = self._engine.failure(ctx, source)
        if err is not None and not fut.done():
            self._engine.matcher.cancel_recv(fut) or self._engine.matcher.cancel_probe(fut)
            fut.set_exception(err)

    async def recv(
        self,
        source: int | None = ANY_SOURCE,
        tag: int = ANY_TAG,
        status: Status | None = None,
        *,
        copy: bool = False,
    ) -> Any:
        """Receive the next message matching ``source`` and ``tag``.

        Returns the object. NumPy arrays in it are views of the received
        frames (no copy); ``copy=True`` returns arrays that own their memory.
        ``status``, if given, is filled with the source, tag and size.
        ``source=None`` (MPI's ``PROC_NULL``) returns None at once with
        ``status`` = ``(None, ANY_TAG, 0)``. Raises ``zmqmesh.DecodeError`` if
        the matched message does not decode (it is consumed). Cancelling a
        pending receive withdraws it; no message is lost.
        """
        if type(tag) is not int or (tag < 0 and tag != ANY_TAG) or tag > TAG_UB:
            tag = self._recv_tag(tag)  # raises, or makes an int of an index
        if source is None:
            return _null_recv(status)
        if type(source) is not int or not (0 <= source < len(self._ranks)):
            source = self._source(source)  # ANY_SOURCE, an index, or raises
        engine = self._engine
        got = engine.receive(_selector(Selector, (self._ctx, source, tag)))
        if isinstance(got, asyncio.Future):
            # Not here yet: the receive is posted; now read what the
            # same-host links hold (perhaps after a short spin), so that a
            # message read there and then goes straight to it; only if it
            # is still not here does this receive sleep.
            fut = got
            world = self._ranks[source] if source != ANY_SOURCE else -1
            if world >= 0 and world not in engine.connected:
                engine.connect(world)  # heartbeats on the connection watch the peer
            if engine.failed:
                self._fail_if_gone(fut, self._ctx, source)
            if not fut.done():
                engine.spin(world)
            if not fut.done():
                engine.waiting(fut, ("recv(source={}, tag={})", source, tag), world)
                try:
                    await fut
                except asyncio.CancelledError:
                    if not fut.done():  # cancelled before its task waited on it
                        fut.cancel()
                    if fut.cancelled():
                        engine.matcher.cancel_recv(fut)
                    else:
                        engine.give_back(fut)
                    raise
                finally:
                    engine.done_waiting(fut)
            got = fut.result()
        if status is None:  # _finish's common case, inline
            return decode_payload(got[2], copy=copy, allow_pickle=engine.allow_pickle)
        return self._finish(got, copy, status)

    def irecv(
        self, source: int | None = ANY_SOURCE, tag: int = ANY_TAG, *, copy: bool = False
    ) -> Request:
        """*sync*: post a receive now; returns a :class:`Request` whose
        ``await`` gives the object and whose ``.status`` is then filled.
        ``req.cancel()``, or cancelling the task awaiting ``req``, withdraws
        the receive: it consumes nothing, a later receive gets the message."""
        tag = self._recv_tag(tag)
        if source is None:
            done = Request(None)
            done.status = Status()
            _null_recv(done.status)
            return done
        source = self._source(source)
        fut = self._engine.post_recv(Selector(self._ctx, source, tag))
        self._fail_if_gone(fut, self._ctx, source)
        req: Request

        def finish(got: Received) -> Any:
            req.status = Status()
            return self._finish(got, copy, req.status)

        world = self._ranks[source] if source != ANY_SOURCE else -1
        call = ("irecv(source={}, tag={})", source, tag)
        req = Request(fut, finish, self._engine.give_back, (self._engine, call, world))
        return req

    async def sendrecv(
        self,
        sendobj: Any,
        dest: int | None,
        sendtag: int = 0,
        source: int | None = ANY_SOURCE,
        recvtag: int = ANY_TAG,
        status: Status | None = None,
        *,
        copy: bool = False,
    ) -> Any:
        """Send ``sendobj`` to ``dest`` and receive from ``source`` at once
        (no deadlock when two ranks exchange); returns the received object.
        ``dest``/``source`` may be None (``PROC_NULL``), as in a halo exchange
        at a mesh edge."""
        recvtag = self._recv_tag(recvtag)
        if source is None:
            await self.send(sendobj, dest, sendtag)
            return _null_recv(status)
        source = self._source(source)
        fut = self._engine.post_recv(Selector(self._ctx, source, recvtag))
        self._fail_if_gone(fut, self._ctx, source)
        try:
            waiter = self._start_send(sendobj, dest, sendtag)
        except BaseException:
            fut.cancel()
            raise
        call = ("sendrecv(dest={}, source={})", dest, source)
        world = self._ranks[source] if source != ANY_SOURCE else -1
        try:
            if waiter is not None:
                await waiter
            if not fut.done():
                self._engine.waiting(fut, call, world)
                await fut
        except asyncio.CancelledError:
            if fut.done():
                self._engine.give_back(fut)
            else:
                fut.cancel()
            raise
        finally:
            self._engine.done_waiting(fut)
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
        :class:`Status` without receiving it. Cancelling it withdraws the
        probe (a probe never consumes a message)."""
        source = self._source(source)
        fut = self._engine.post_probe(Selector(self._ctx, source, self._recv_tag(tag)))
        self._fail_if_gone(fut, self._ctx, source)
        world = self._ranks[source] if source != ANY_SOURCE else -1
        self._engine.waiting(fut, ("probe(source={}, tag={})", source, tag), world)
        try:
            got = await fut
        except asyncio.CancelledError:
            if not fut.done():  # cancelled before its task waited on it
                fut.cancel()
            raise
        finally:
            self._engine.done_waiting(fut)
        return Status(got[0], got[1], payload_nbytes(got[2]))

    def _use(self, peer: int) -> None:
        if peer != self._rank:
            self._coll.peers.add(peer)

    # -- for libraries built on a communicator ------------------------------
    # The executor runs on these: it handles its messages as they arrive,
    # not through receives, and learns of failures as they happen.

    @property
    def allow_pickle(self) -> bool:
        """*sync*: whether this job lets objects travel by pickle."""
        return self._engine.allow_pickle

    def start_send(self, obj: Any, dest: int, tag: int = 0) -> asyncio.Future[None] | None:
        """*sync*: start a send as ``isend`` does; returns the future that
        completes when ``send`` would have returned, or None when nothing
        is left to wait for. Raises like ``send``, at the call."""
        return self._start_send(obj, dest, tag)

    def on_message(self, handler: Callable[[int, int, Any], None] | None) -> None:
        """*sync*: hand every point-to-point message of this communicator to
        ``handler(source, tag, obj)`` as it arrives (those already queued
        first) instead of matching it to receives; None goes back to
        receives. A message that does not decode is logged and dropped."""
        if handler is None:
            self._engine.set_handler(self._ctx, None)
            return
        allow_pickle = self._engine.allow_pickle

        def arrived(frames: list[Any]) -> None:
            try:
                env, obj = decode(frames, allow_pickle=allow_pickle)
            except DecodeError as exc:
                log.error("rank %d dropped a message that does not decode: %s", self._rank, exc)
                return
            handler(env.source, env.tag, obj)

        self._engine.set_handler(self._ctx, arrived)

    def watch_failures(self, watcher: Callable[[int, str], None]) -> Callable[[], None]:
        """*sync*: call ``watcher(rank, detail)`` for each member of this
        communicator that has failed, now for those already known and later
        as they fail. Returns the function that stops watching."""
        where = {w: r for r, w in enumerate(self._ranks)}

        def failed(world: int, detail: str) -> None:
            if world in where:
                watcher(where[world], detail)

        watchers = self._engine.failure_watchers
        watchers.append(failed)
        for world, detail in list(self._engine.failed.items()):
            failed(world, detail)

        def stop() -> None:
            if failed in watchers:
                watchers.remove(failed)

        return stop

    def wait_input(self, fut: asyncio.Future[Any], timeout: float) -> bool:
        """*sync*, for code that drives zmqmesh's coroutines without running
        their event loop while it waits (the mpi4py layer's blocking calls):
        if ``fut`` is what a zmqmesh call of this rank awaits from a peer on
        this host, sleep in the kernel until that input comes (up to
        ``timeout`` seconds) and read it. Whether ``fut`` is done; False at
        once for anything else, which needs the loop to run."""
        return self._engine.wait_input(fut, timeout)

    def watch(self, fut: asyncio.Future[Any], call: Call, peer: int) -> None:
        """*sync*, for the mpi4py layer: ``fut`` is this rank's wait on rank
        ``peer`` of this communicator (``call`` names it, as ``call_words``
        reads it) until it is done: ``wait_input`` may sleep in the kernel
        for it, and the hang report names it."""
        engine = self._engine
        engine.waiting(fut, call, self._ranks[peer])
        fut.add_done_callback(engine.done_waiting)

    def on_this_host(self, rank: int) -> bool:
        """*sync*, for the mpi4py layer: whether rank ``rank`` of this
        communicator runs on this host and is reached over a local link."""
        transport = self._engine.transport
        world = self._ranks[rank]
        return transport is not None and world != self._engine.rank and transport.is_local(world)

    def peek(self, source: int, tag: int) -> Any:
        """*sync*, for the mpi4py layer: the object of the message that a
        ``recv(source, tag)`` would take now, decoded and left in place.
        Raises ``LookupError`` when there is none."""
        sel = Selector(self._ctx, self._source(source), self._recv_tag(tag))
        got = self._engine.peek(sel)
        if got is None:
            raise LookupError(f"no message from {source} with tag {tag} has arrived")
        return decode_payload(got[2], copy=False, allow_pickle=self._engine.allow_pickle)

    def poll(self, source: int = ANY_SOURCE) -> None:
        """*sync*: busy-poll this host's links for a little while (the job's
        spin budget for a rank that knows a core is free) for a message from
        ``source``, before the caller's event loop sleeps."""
        world = -1 if source == ANY_SOURCE else self._ranks[source]
        self._engine.spin(world, self._engine.spin_limit)
