"""Actors from the caller's side: handles, and the calls made through them.

Theory of operation. ``Executor.actor`` makes an :class:`ActorHandle` at
once; the state machine (``state.actors``) chooses the actor's worker and
sends it ``["new", aid, cls, args, kwargs, concurrency]``; the worker builds
the instance (``mailbox``). A method call makes a future and a spec
``[tid, method, args, kwargs]`` that goes to the actor's worker as
``["call", aid, spec, lone]``, all on one tag, so they arrive in the order
made; the state machine holds a call back until it and the calls before it
are ready, and decides what a worker's death does to the calls not
answered (they fail with :class:`~zmqmesh.ActorDiedError`, or go to the
actor made again elsewhere). ``await handle.close()`` sends ``["del",
aid]`` behind the calls made before it; the worker answers ``["closed",
aid]`` when they are done.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

from zmqmesh.scheduler.futures import TaskFuture
from zmqmesh.scheduler.state import ActorCall, ActorClose, ActorClosed, ActorNew, HandleSeen
from zmqmesh.scheduler.tasks import fn_ref

if TYPE_CHECKING:
    from zmqmesh.scheduler.state import ActorRecord

__all__ = ["ActorHandle", "Actors"]

_ORIGIN_SHIFT = 40


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
    allow_pickle: bool
    futures: dict[int, asyncio.Future[Any]]
    actors: dict[int, ActorRecord]  # the state machine's records
    closing: dict[int, asyncio.Future[None]]  # what each close() waits for
    _seq: int

    if TYPE_CHECKING:

        def _inputs(self, ref: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]: ...

        def _split(self, args: Any, kwargs: dict[str, Any], found: list[Any]) -> Any: ...

        def _feed(self, event: Any) -> None: ...

        def _run_event(self, event: Any, tid: int) -> TaskFuture: ...

        def _spin_after(self) -> None: ...

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
        self._seq += 1
        aid = self.rank << _ORIGIN_SHIFT | self._seq
        make = ["new", aid, ref, list(args), kwargs, concurrency]
        self._feed(ActorNew(aid, cls.__qualname__, make, bool(restart)))
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
        if found:
            a, kw, inputs, handles, done = self._split(args, kwargs, found)
            event = ActorCall(tid, aid, name, a, kw, inputs, handles, done)
        else:
            event = ActorCall(tid, aid, name, args, kwargs)
        fut = self._run_event(event, tid)
        if rec.rank != self.rank:
            self._spin_after()
        return fut

    async def actor_close(self, aid: int) -> None:
        closed = self.closing.get(aid)
        if closed is None:
            closed = self.closing[aid] = self.loop.create_future()
            self._feed(ActorClose(aid))
        await asyncio.shield(closed)

    def actor_ended(self, aid: int) -> None:
        """The actor is closed or dead: its ``close()`` returns."""
        closed = self.closing.get(aid)
        if closed is not None and not closed.done():
            closed.set_result(None)

    def actor_said(self, source: int, item: list[Any]) -> None:
        """A worker's word about an actor: ``["closed", aid]``."""
        if item[0] == "closed":
            self._feed(ActorClosed(item[1]))

    def actor_handle(self, aid: int, rank: int, name: str) -> ActorHandle:
        """A handle that came in a task's arguments, for calls from here."""
        self._feed(HandleSeen(aid, rank, name))
        return ActorHandle(self, aid)
