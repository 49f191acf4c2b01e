"""Actors from the caller's side: handles, ordered calls, deaths and restarts.

Theory of operation. ``Executor.actor`` makes an :class:`ActorHandle` at
once and sends ``["new", aid, cls, args, kwargs, concurrency]`` to a worker
(dealt like tasks); the worker builds the instance (``mailbox``). A method
call makes a future and a spec ``[tid, method, args, kwargs]`` that goes to
the actor's worker as ``["call", aid, spec, lone]``, all on one tag, so they
arrive in the order made. A call with futures among its arguments waits
for them here, as a dependent task does (``graph``), and the calls after it
wait behind it (``queue``), so calls still run in the order made. The
origin remembers the calls sent and not answered (``sent``): when the
actor's worker dies they fail with :class:`~zmqmesh.ActorDiedError`, or,
for an actor made with ``restart=True``, the actor is made again from its
constructor on another worker (at most ``max_retries`` times) and they are
sent there again, in order. ``await handle.close()`` sends ``["del",
aid]`` behind the calls made before it; the worker answers ``["closed",
aid]`` when they are done.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from zmqmesh.errors import ActorDiedError
from zmqmesh.scheduler.futures import TaskFuture
from zmqmesh.scheduler.graph import Graph, Recipe
from zmqmesh.scheduler.tasks import fn_ref

__all__ = ["ActorHandle", "Actors"]

_ORIGIN_SHIFT = 40
_CLOSE = -1  # the close marker in an actor's queue


@dataclass
class ActorRecord:
    aid: int
    rank: int
    name: str
    make: list[Any]  # the "new" message, to make it again
    restart: bool
    queue: deque[int] = field(default_factory=deque)  # calls not sent yet, in order
    plain: dict[int, list[Any]] = field(default_factory=dict)  # their specs, no inputs
    sent: dict[int, list[Any]] = field(default_factory=dict)  # sent, not answered
    dead: ActorDiedError | None = None
    closed: asyncio.Future[None] | None = None
    attempts: int = 1


class ActorHandle:
    """A handle on an actor: ``handle.method(*args, **kwargs)`` returns the
    future of the call (an ``asyncio.Future``; pass it to ``submit`` or to
    other actors' calls like a task's). Calls made through one handle run in
    the order made. ``rank`` is the worker the actor lives on now."""

    __slots__ = ("_aid", "_node")

    def __init__(self, node: Actors, aid: int) -> None:
        self._node = node
        self._aid = aid

    @property
    def rank(self) -> int:
        """*sync*: the rank of the worker that holds the actor."""
        return self._node.actors[self._aid].rank

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        node, aid = self._node, self._aid

        def call(*args: Any, **kwargs: Any) -> asyncio.Future[Any]:
            return node.actor_call(aid, name, args, kwargs)

        call.__name__ = name
        return call

    async def close(self) -> None:
        """End the actor once the calls made before are done; later calls
        fail with ``ActorDiedError``. Idempotent; returns once the worker
        has dropped the instance (or is gone)."""
        await self._node.actor_close(self._aid)

    def __repr__(self) -> str:
        rec = self._node.actors[self._aid]
        state = "closed" if rec.dead is not None else f"on rank {rec.rank}"
        return f"<ActorHandle {rec.name} {state}>"

    def _ref(self) -> list[Any]:
        rec = self._node.actors[self._aid]
        return [self._aid, rec.rank, rec.name]

    def __reduce__(self) -> Any:
        raise TypeError("an actor handle travels only as an argument of submit or of an actor call")


class Actors:
    """A mixin of ``node.Node``: the caller's side of actors."""

    rank: int
    thread: int
    loop: asyncio.AbstractEventLoop
    live: set[int]
    allow_pickle: bool
    graph: Graph
    futures: dict[int, asyncio.Future[Any]]
    _seq: int
    actors: dict[int, ActorRecord]
    acalls: dict[int, int]  # call tid -> actor id, until answered

    if TYPE_CHECKING:

        def _where(self) -> int: ...

        def _queue(self, dest: int, tag: int, item: Any) -> None: ...

        def _inputs(self, ref: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]: ...

        def _fail(self, tid: int, exc: BaseException) -> None: ...

        def _recipe(
            self, ref: Any, args: Any, kwargs: dict[str, Any], found: list[Any], actor: int = 0
        ) -> tuple[Recipe, set[int]]: ...

        def _max_retries(self) -> int: ...

        def _spin_after(self) -> None: ...

        def regather(self, tid: int, gone: list[int]) -> None: ...

        def _may_spin(self) -> bool: ...

    _ACTOR_TAG = 0  # set by the node

    def actor(
        self,
        cls: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        concurrency: int,
        restart: bool,
    ) -> ActorHandle:
        if not isinstance(cls, type):
            raise TypeError(f"an actor is made from a class, not {type(cls).__name__}")
        if type(concurrency) is not int or concurrency < 1:
            raise ValueError(f"concurrency must be an int >= 1, got {concurrency!r}")
        ref = fn_ref(cls, self.allow_pickle)
        if self._inputs(ref, args, kwargs):
            raise TypeError("an actor's constructor takes values, not futures")
        if not self.live:
            raise RuntimeError("no worker is left to hold an actor")
        self._seq += 1
        aid = self.rank << _ORIGIN_SHIFT | self._seq
        make = ["new", aid, ref, list(args), kwargs, concurrency]
        rank = self._where()
        self.actors[aid] = ActorRecord(aid, rank, cls.__qualname__, make, bool(restart))
        self._queue(rank, self._ACTOR_TAG, make)
        return ActorHandle(self, aid)

    def actor_call(
        self, aid: int, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> TaskFuture:
        if threading.get_ident() != self.thread:
            raise RuntimeError(
                "call an actor from the event loop: a plain (non-async) task cannot "
                "call actors; make it a coroutine function"
            )
        rec = self.actors[aid]
        found = self._inputs(name, args, kwargs) if args or kwargs else []
        self._seq += 1
        tid = self.rank << _ORIGIN_SHIFT | self._seq
        fut = TaskFuture(loop=self.loop)
        fut._tid = tid
        fut._node = self
        if rec.dead is not None or rec.closed is not None:
            fut.set_exception(rec.dead or self._died(rec, "it was closed"))
            return fut
        self.futures[tid] = fut
        self.acalls[tid] = aid
        if found:
            recipe, unfinished = self._recipe(name, args, kwargs, found, aid)
            self.graph.add(tid, recipe, unfinished)
        else:
            rec.plain[tid] = [tid, name, list(args), kwargs]
        rec.queue.append(tid)
        self.flush_actor(rec)
        if rec.rank != self.rank:
            self._spin_after()
        return fut

    def flush_actor(self, rec: ActorRecord) -> None:
        """Send the calls at the head of the actor's queue that are ready."""
        graph = self.graph
        while rec.queue and rec.dead is None:
            tid = rec.queue[0]
            if tid == _CLOSE:
                rec.queue.popleft()
                self._queue(rec.rank, self._ACTOR_TAG, ["del", rec.aid])
                continue
            spec = rec.plain.pop(tid, None)
            if spec is None and tid in graph.recipes:
                if graph.recipes[tid].missing:
                    return  # it waits for its inputs; the calls after it too
                err = graph.error_of(tid)
                if err is not None:
                    rec.queue.popleft()
                    self.acalls.pop(tid, None)
                    self._fail(tid, _upstream(err))
                    continue
                spec, _, gone = graph.spec(tid)
                if gone:
                    self.regather(tid, gone)
                    if tid in graph.recipes:
                        return  # it waits for its inputs again; the calls after it too
                    rec.queue.popleft()
                    self.acalls.pop(tid, None)
                    continue
            rec.queue.popleft()
            if spec is None:
                continue  # failed meanwhile
            rec.sent[tid] = spec
            # alone in flight, with cores to spare: the actor's worker polls
            # for the caller's next call once it has answered (as for a lone task)
            lone = len(rec.sent) == 1 and self._may_spin()
            self._queue(rec.rank, self._ACTOR_TAG, ["call", rec.aid, spec, lone])

    async def actor_close(self, aid: int) -> None:
        rec = self.actors[aid]
        if rec.closed is None:
            rec.closed = self.loop.create_future()
            if rec.dead is not None:
                rec.closed.set_result(None)
            else:
                rec.queue.append(_CLOSE)
                self.flush_actor(rec)
        await asyncio.shield(rec.closed)

    def actor_said(self, source: int, item: list[Any]) -> None:
        """A worker's word about an actor: ``["closed", aid]``."""
        rec = self.actors.get(item[1])
        if rec is None or item[0] != "closed":
            return
        rec.dead = rec.dead or self._died(rec, "it was closed")
        if rec.closed is not None and not rec.closed.done():
            rec.closed.set_result(None)

    def actor_answered(self, tid: int) -> None:
        aid = self.acalls.pop(tid, None)
        rec = self.actors.get(aid) if aid is not None else None
        if rec is not None:
            rec.sent.pop(tid, None)

    def actors_lost(self, rank: int, detail: str) -> None:
        """Worker ``rank`` is gone, with the actors it held."""
        for rec in list(self.actors.values()):
            if rec.rank != rank or rec.dead is not None:
                continue
            if rec.closed is not None:  # closing: it is closed now
                rec.dead = self._died(rec, "it was closed")
                if not rec.closed.done():
                    rec.closed.set_result(None)
                continue
            if rec.restart and self.live and rec.attempts <= self._max_retries():
                rec.attempts += 1
                rec.rank = self._where()
                self._queue(rec.rank, self._ACTOR_TAG, rec.make)
                for spec in rec.sent.values():
                    self._queue(rec.rank, self._ACTOR_TAG, ["call", rec.aid, spec])
                continue
            rec.dead = self._died(rec, f"its worker, rank {rank}, was lost: {detail}")
            for tid in [*rec.sent, *rec.queue]:
                if tid != _CLOSE:
                    self.acalls.pop(tid, None)
                    self._fail(tid, rec.dead)
            rec.sent.clear()
            rec.queue.clear()
            rec.plain.clear()

    def actor_handle(self, aid: int, rank: int, name: str) -> ActorHandle:
        """A handle that came in a task's arguments, for calls from here."""
        if aid not in self.actors:
            self.actors[aid] = ActorRecord(aid, rank, name, [], False)
        return ActorHandle(self, aid)

    def _died(self, rec: ActorRecord, why: str) -> ActorDiedError:
        return ActorDiedError("ActorDiedError", f"actor {rec.name}: {why}", "", rec.rank)


def _upstream(err: Any) -> BaseException:
    from zmqmesh.errors import RemoteError

    return err.as_upstream() if isinstance(err, RemoteError) else err
