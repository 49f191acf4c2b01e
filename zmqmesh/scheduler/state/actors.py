"""Actor routing in the origin's machine: creation, ordered calls, deaths.

A base of ``origin.Origin``. An actor lives on one worker (chosen as tasks
are dealt). Its calls leave in the order made: each waits in the actor's
``queue`` until it and every call before it are ready (a call with futures
among its arguments waits for them as a dependent task does), and the close
marker goes in that queue too. Calls sent and not answered are in ``sent``:
when the actor's worker dies they fail with ``ActorDiedError``, or, for an
actor made with ``restart``, the actor is made again on another worker (at
most ``max_retries`` times) and they are sent there again, in order.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import zmqmesh.scheduler.state.messages as m
from zmqmesh.errors import ActorDiedError, RemoteError

if TYPE_CHECKING:
    from zmqmesh.scheduler.graph import Graph, Recipe

__all__ = ["CLOSE", "ActorRecord", "ActorRouting"]

CLOSE = -1  # the close marker in an actor's queue


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
    closing: bool = False
    attempts: int = 1


class ActorRouting:
    rank: int
    live: set[int]
    open: set[int]
    graph: Graph
    _out: list[m.Instruction]

    if TYPE_CHECKING:

        @property
        def max_retries(self) -> int: ...

        def _where(self) -> int: ...

        def _may_spin(self) -> bool: ...

        def _fail(self, tid: int, exc: BaseException) -> None: ...

        def _settle(self, tid: int, ok: bool, value: Any, passed_on: bool = False) -> None: ...

        def _regather(self, tid: int, gone: list[int]) -> None: ...

        def _recipe(
            self, ref: Any, ev: m.Submit | m.ActorCall, actor: int
        ) -> tuple[Recipe, set[int]]: ...

    def __init__(self) -> None:
        self.actors: dict[int, ActorRecord] = {}
        self.acalls: dict[int, int] = {}  # call tid -> actor id, until answered

    def _actor_new(self, ev: m.ActorNew) -> None:
        if not self.live:
            raise RuntimeError("no worker is left to hold an actor")
        rank = self._where()
        self.actors[ev.aid] = ActorRecord(ev.aid, rank, ev.name, ev.make, ev.restart)
        self._out.append(m.ActorSend(rank, ev.make))

    def _handle_seen(self, ev: m.HandleSeen) -> None:
        if ev.aid not in self.actors:
            self.actors[ev.aid] = ActorRecord(ev.aid, ev.rank, ev.name, [], False)

    def _actor_call(self, ev: m.ActorCall) -> None:
        rec = self.actors[ev.aid]
        tid = ev.tid
        if rec.dead is not None or rec.closing:
            self.open.add(tid)
            self._settle(tid, False, rec.dead or self._died(rec, "it was closed"))
            return
        if ev.inputs or ev.handles:
            recipe, unfinished = self._recipe(ev.method, ev, ev.aid)
            self.graph.add(tid, recipe, unfinished)
        else:
            rec.plain[tid] = [tid, ev.method, list(ev.args), ev.kwargs]
        self.open.add(tid)
        self.acalls[tid] = ev.aid
        rec.queue.append(tid)
        self._flush_actor(rec)

    def _flush_actor(self, rec: ActorRecord) -> None:
        """Send the calls at the head of the actor's queue that are ready."""
        graph = self.graph
        while rec.queue and rec.dead is None:
            tid = rec.queue[0]
            if tid == CLOSE:
                rec.queue.popleft()
                self._out.append(m.ActorSend(rec.rank, ["del", rec.aid]))
                continue
            spec = rec.plain.pop(tid, None)
            if spec is None and tid in graph.recipes:
                if graph.recipes[tid].missing:
                    return  # it waits for its inputs; the calls after it too
                err = graph.error_of(tid)
                if err is not None:
                    rec.queue.popleft()
                    self.acalls.pop(tid, None)
                    self._fail(tid, err.as_upstream() if isinstance(err, RemoteError) else err)
                    continue
                spec, _, gone = graph.spec(tid)
                if gone:
                    self._regather(tid, gone)
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
            self._out.append(m.ActorSend(rec.rank, ["call", rec.aid, spec, lone]))

    def _actor_close(self, ev: m.ActorClose) -> None:
        rec = self.actors[ev.aid]
        if rec.closing:
            return
        rec.closing = True
        if rec.dead is not None:
            self._out.append(m.ActorEnded(rec.aid))
        else:
            rec.queue.append(CLOSE)
            self._flush_actor(rec)

    def _actor_closed(self, ev: m.ActorClosed) -> None:
        """The worker's word: the actor is closed."""
        rec = self.actors.get(ev.aid)
        if rec is None:
            return
        rec.dead = rec.dead or self._died(rec, "it was closed")
        if rec.closing:
            self._out.append(m.ActorEnded(rec.aid))

    def _actor_answered(self, tid: int) -> None:
        aid = self.acalls.pop(tid, None)
        rec = self.actors.get(aid) if aid is not None else None
        if rec is not None:
            rec.sent.pop(tid, None)

    def _actors_lost(self, rank: int, detail: str) -> None:
        """Worker ``rank`` is gone, with the actors it held."""
        for rec in list(self.actors.values()):
            if rec.rank != rank or rec.dead is not None:
                continue
            if rec.restart and not rec.closing and self.live and rec.attempts <= self.max_retries:
                rec.attempts += 1
                rec.rank = self._where()
                self._out.append(m.ActorSend(rec.rank, rec.make))
                for spec in rec.sent.values():
                    self._out.append(m.ActorSend(rec.rank, ["call", rec.aid, spec]))
                continue
            # the calls not answered fail, those of a closing actor too
            rec.dead = self._died(rec, f"its worker, rank {rank}, was lost: {detail}")
            for tid in [*rec.sent, *rec.queue]:
                if tid != CLOSE:
                    self.acalls.pop(tid, None)
                    self._fail(tid, rec.dead)
            rec.sent.clear()
            rec.queue.clear()
            rec.plain.clear()
            if rec.closing:
                self._out.append(m.ActorEnded(rec.aid))

    def _died(self, rec: ActorRecord, why: str) -> ActorDiedError:
        return ActorDiedError("ActorDiedError", f"actor {rec.name}: {why}", "", rec.rank)
