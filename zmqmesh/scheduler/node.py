"""One rank's part in an executor: messages, the tasks it submitted, failures.

Theory of operation. Every rank of the executor's communicator (a private
``dup`` of the user's, so nothing crosses with the user's messages) runs a
:class:`Node`. The root's node places the tasks the user submits on the
workers round-robin; a worker's node also serves (see ``worker``). Any
node may *originate* tasks (the root, or a worker whose task submits nested
ones): the origin keeps each task's future and its entry in a
:class:`~zmqmesh.scheduler.table.TaskTable`, and the result comes back to
it. A victim that gives tasks to a thief tells their origins, so an origin
always knows where each of its tasks is; when a worker is lost the origin
runs its tasks there again elsewhere. What to do about each message,
submission and failure is decided by the rank's state machine
(``state.Origin``, pure: events in, instructions out); the node is the I/O
around it. Messages are point-to-point over the
communicator's ROUTER/DEALER connections, batched per destination and sent
once per event-loop turn, but for the turn's first message and each
worker's first few tasks (``policy.batch_due``):

    TASKS  origin -> worker   [spec, ...]; spec = [tid, fn, args, kwargs]
    LONE   origin -> worker   the same, for a task alone in flight: the
                              worker polls for the next one when done
    STEAL  thief -> victim    1 while the thief still runs a task, else 0
    LOOT   victim -> thief    [spec, ...] (empty: refused)
    RESULT worker -> origin   [[tid, ok, value or error], ...]; to the root,
                              then (run, stolen, given): its counts now
    MOVED  victim -> origin   [[tid, ...], thief]
    COUNTS worker -> root     [run, stolen, given, final]
    STOP   root -> worker     None; the worker answers COUNTS and leaves
    DTASK  origin -> worker   [spec, ...]; spec = [tid, fn, args, kwargs,
                              inputs], a task with futures as arguments
                              (``graph``): run once its inputs are fetched
    GET    any -> holder      [tid, ...]: send me these kept results
    DATA   holder -> any      [[tid, ok, value], ...] (``data``)
    FREE   origin -> holder   [tid, ...]: nobody needs these results now
    ACTOR  caller <-> worker  actors' lives and calls, in order (``actors``,
                              ``mailbox``); call results come as RESULT

A RESULT item ``[tid, True, None, nbytes]`` says the result stays on the
sender (``data``); ``[tid, False, None, input]`` that the task could not
get its input ``input`` (its holder is lost) and did not run.

A task id carries its origin's rank in its high bits (``tid >> 40``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import weakref
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import zmqmesh.scheduler.state as sm
from zmqmesh.errors import RankFailedError
from zmqmesh.scheduler.actors import Actors
from zmqmesh.scheduler.data import DataPlane
from zmqmesh.scheduler.dependents import Dependents
from zmqmesh.scheduler.futures import TaskFuture
from zmqmesh.scheduler.graph import Graph
from zmqmesh.scheduler.mailbox import ActorHost
from zmqmesh.scheduler.policy import batch_due, may_spin
from zmqmesh.scheduler.tasks import as_remote_error, fn_ref
from zmqmesh.scheduler.worker import Worker
from zmqmesh.wire import Envelope, Kind, encode

if TYPE_CHECKING:
    from zmqmesh.runtime.comm import Comm

__all__ = ["Node"]

log = logging.getLogger("zmqmesh.executor")

TASKS, STEAL, LOOT, RESULT, MOVED, COUNTS, STOP, LONE, DTASK, GET, DATA, FREE, ACTOR = range(1, 14)
_BATCH = 512  # tasks or results per message
COUNTS_EVERY = 0.25  # seconds between a worker's reports of its counts
_ORIGIN_SHIFT = 40
_SIMPLE = (int, float, str, bytes, bool, type(None))
_PROBE = Envelope(Kind.P2P, 0, 0, 0)
_SCALARS = frozenset({int, float, bool, type(None)})


class Node(Dependents, Actors):
    def __init__(self, xc: Comm, root: int, max_retries: int) -> None:
        self.xc = xc
        self.rank = xc.rank
        self.root = root
        self.loop = asyncio.get_running_loop()
        self.thread = threading.get_ident()  # the event loop's
        self.allow_pickle = xc.allow_pickle
        workers = [r for r in range(xc.size) if r != root] or [root]
        self._cores = len(os.sched_getaffinity(0))
        self.state = sm.Origin(self.rank, workers, max_retries, self.rank in workers, self._cores)
        self.live = self.state.live  # the workers not lost (the machine's, shared)
        self.actors = self.state.actors
        self.counts: dict[int, list[int]] = {w: [0, 0, 0] for w in workers}
        self.futures: dict[int, asyncio.Future[Any]] = {}
        self.data = DataPlane(self, GET, DATA)
        # futures of results kept on workers, not fetched yet
        self.refs: dict[int, weakref.ref[TaskFuture]] = {}
        self.closing: dict[int, asyncio.Future[None]] = {}
        self.root_lost: RankFailedError | None = None
        self.stopped = self.loop.create_future()
        self._seq = 0
        self._outbox: defaultdict[tuple[int, int], list[Any]] = defaultdict(list)
        self._sent_turn: defaultdict[int, int] = defaultdict(int)  # tasks per worker
        self._flush_soon = False
        self._sent_counts: list[Any] = [0, 0, 0]
        self._counts_due = 0.0
        self._counts_timer = False
        self._final_counts: set[int] = set()
        self._spin_soon = False
        self.worker = Worker(self) if self.rank in self.live else None
        self.hosted = ActorHost(self) if self.worker is not None else None
        # Messages are handled as they arrive (no receive, future and task
        # wake-up per message on the hot path).
        xc.on_message(self._arrived)
        self._unwatch = xc.watch_failures(self._failed)

    # -- the state machine -----------------------------------------------------------
    @property
    def graph(self) -> Graph:
        """The machine's task graph (its kept results, for tests)."""
        return self.state.graph

    def _feed(self, event: sm.Event) -> None:
        self._do(self.state.handle(event))

    def _run_event(self, event: sm.Submit | sm.ActorCall, tid: int) -> TaskFuture:
        """A new task's or call's future, once the machine took ``event``
        (it raises before anything changes for an input it cannot use)."""
        instructions = self.state.handle(event)
        fut = TaskFuture(loop=self.loop)
        fut._tid = tid
        fut._node = self
        self.futures[tid] = fut
        self._do(instructions)
        return fut

    def _do(self, instructions: list[sm.Instruction]) -> None:
        """Carry out the machine's instructions, in order."""
        for ins in instructions:
            if isinstance(ins, sm.Place):
                self._place(ins.spec, ins.where, ins.lone)
            elif isinstance(ins, sm.Resolve):
                self._settle(ins.tid, True, ins.value)
            elif isinstance(ins, sm.Fail):
                self._settle(ins.tid, False, ins.error, ins.passed_on)
            elif isinstance(ins, sm.ActorSend):
                self._queue(ins.rank, ACTOR, ins.item)
            elif isinstance(ins, sm.Kept):
                self._keep(ins.tid)
            elif isinstance(ins, sm.Fetch):
                self.data.fetch_for_origin(ins.tid, ins.holder)
            elif isinstance(ins, sm.Free):
                self._queue(ins.holder, FREE, ins.tid)
            elif isinstance(ins, sm.Reopen):
                self._reopen(ins.tid)
            else:
                self.actor_ended(ins.aid)

    # -- submitting ------------------------------------------------------------
    def submit(
        self, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any], retries: int = 0
    ) -> asyncio.Future[Any]:
        ref = fn_ref(fn, self.allow_pickle)
        found = []
        if type(ref) is not list or kwargs or not all(type(a) in _SIMPLE for a in args):
            found = self._inputs(ref, args, kwargs)
        self._seq += 1
        tid = self.rank << _ORIGIN_SHIFT | self._seq
        if found:
            a, kw, inputs, handles, done = self._split(args, kwargs, found)
            return self._run_event(sm.Submit(tid, ref, a, kw, retries, inputs, handles, done), tid)
        return self._run_event(sm.Submit(tid, ref, args, kwargs, retries), tid)

    def poll_from(self, rank: int) -> None:
        """An actor answered its caller's lone call: poll for the next."""
        self.xc.poll(rank)

    def _spin_after(self) -> None:
        if not self._spin_soon:
            self._spin_soon = True
            self.loop.call_soon(self._spin)

    def _spin(self) -> None:
        """After submitting, at the end of the loop turn: while this rank and
        the tasks in flight fit on the cores (``policy.may_spin``), poll for
        the results a little before sleeping. A lone task's round trip then
        costs one kernel wake-up, not two (``LocalLinks.poll``: about 30 us
        each here; bench exec round trip 154-168 -> 121-138 us)."""
        self._spin_soon = False
        if may_spin(len(self.futures), self._cores):
            self.xc.poll()

    def _check_sendable(self, ref: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Raise here, not at some later flush, for a task that cannot travel."""
        if any(type(k) is not str for k in kwargs):
            raise TypeError("keyword argument names must be str")
        encode(_PROBE, [ref, args, kwargs], allow_pickle=self.allow_pickle)

    def _place(self, spec: list[Any], where: int, lone: bool = False) -> None:
        """Send ``spec`` to ``where``; a ``lone`` task (``policy.may_spin``:
        there are cores to spare) tells the worker to poll for the next one
        when done."""
        if where != self.rank and self.worker is None:
            self._spin_after()  # the root polls for the result a little
        if len(spec) == 5:  # a task with inputs
            if where == self.rank and self.worker is not None:
                self.data.arrive(spec)
            else:
                self._queue(where, DTASK, spec)
        elif where == self.rank and self.worker is not None:
            if self.rank == self.root:  # a root alone runs its tasks in order
                self.worker.push_tail([spec])
            else:  # nested: run next, thieves take older work first
                self.worker.push_head(spec)
        else:
            self._queue(where, LONE if lone else TASKS, spec)

    def poll_for_work(self) -> None:
        """A worker done with a lone task: poll for the root's next one."""
        self.xc.poll(self.root)

    # -- sending -----------------------------------------------------------------
    def _queue(self, dest: int, tag: int, item: Any) -> None:
        if tag in (TASKS, LONE, DTASK):
            # The turn's first task, and each worker's first few, leave at
            # once (``policy.batch_due``); the rest at the turn's end.
            box = self._outbox[dest, tag]
            box.append(item)
            sent = self._sent_turn[dest]
            if batch_due(len(box), sent, not self._flush_soon):
                self._outbox[dest, tag] = []
                self._sent_turn[dest] = sent + len(box)
                self._post(dest, tag, box)
        elif not self._flush_soon and tag != MOVED:
            # The first other message of an event-loop turn leaves at once
            # (a result does not wait a turn); the rest of the turn's
            # messages are batched behind it.
            self._post(dest, tag, self._with_counts(dest, tag, [item]))
        else:
            self._outbox[dest, tag].append(item)
        if not self._flush_soon:
            self._flush_soon = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_soon = False
        self._sent_turn.clear()
        outbox, self._outbox = self._outbox, defaultdict(list)
        for (dest, tag), items in outbox.items():
            if not items:
                continue
            if tag == MOVED:
                for tids, thief in items:
                    self._post(dest, MOVED, [tids, thief])
                continue
            for i in range(0, len(items), _BATCH):
                self._post(dest, tag, self._with_counts(dest, tag, items[i : i + _BATCH]))
        if self.worker is not None and self.rank != self.root:
            # The root's stats: at most every COUNTS_EVERY seconds (not a
            # message per task), and always the final ones.
            counts, now = self.worker.counts, self.loop.time()
            final = self.stopped.done()
            if counts != self._sent_counts[:3] and (final or now >= self._counts_due):
                self._sent_counts = [*counts, final]
                self._counts_due = now + COUNTS_EVERY
                self._post(self.root, COUNTS, self._sent_counts)
            elif counts != self._sent_counts[:3] and not self._counts_timer:
                self._counts_timer = True
                self.loop.call_at(self._counts_due, self._counts_later)

    def _with_counts(self, dest: int, tag: int, items: list[Any]) -> list[Any]:
        """Results for the root carry this worker's counts: ``stats()`` is
        exact as soon as the results it counts are in."""
        if tag == RESULT and dest == self.root and self.worker is not None:
            items.append(tuple(self.worker.counts))
        return items

    def _counts_later(self) -> None:
        self._counts_timer = False
        if not self._flush_soon:
            self._flush_soon = True
            self.loop.call_soon(self._flush)

    def _post(self, dest: int, tag: int, obj: Any) -> bool:
        if dest == self.rank:
            self._handle(dest, tag, obj)
            return True
        try:
            waiter = self.xc.start_send(obj, dest, tag)
        except RankFailedError:
            return False  # the failure watcher deals with what was there
        except (TypeError, ValueError) as exc:
            if tag not in (TASKS, LONE, DTASK, RESULT) or len(obj) < 2:
                self._unsendable(dest, tag, obj, exc)
            else:  # find the one that cannot travel; send the others
                for item in obj:
                    self._post(dest, tag, [item])
            return True
        if waiter is not None:
            waiter.add_done_callback(_consume)
        return True

    def _unsendable(self, dest: int, tag: int, obj: Any, exc: Exception) -> None:
        """A task or result that cannot travel fails its task, not the node."""
        if tag in (TASKS, LONE, DTASK):
            err = ["TypeError", f"the task cannot travel: {exc}", ""]
            for spec in obj:
                if spec[0] >> _ORIGIN_SHIFT == self.rank:
                    self._feed(sm.Finished(spec[0], False, as_remote_error(err)))
        elif tag == RESULT:
            for item in obj:
                if type(item) is tuple:  # the counts riding along, not a result
                    continue
                err = ["TypeError", f"the task's result cannot travel: {exc}", ""]
                self._post(dest, RESULT, [[item[0], False, err]])
        else:
            log.error("executor on rank %d: could not send to %d: %s", self.rank, dest, exc)

    def ask_steal(self, victim: int, busy: bool) -> None:
        self._post(victim, STEAL, int(busy))

    def results_ready(self, items: list[list[Any]]) -> None:
        keep, rank = self.data.keep, self.rank
        for item in items:
            origin = item[0] >> _ORIGIN_SHIFT
            if origin != rank and type(item[2]) not in _SCALARS:
                item = keep(item)  # a large result stays here
            self._queue(origin, RESULT, item)

    # -- the data plane's host (``data.Host``) ------------------------------------
    def actor_reply(self, dest: int, item: list[Any]) -> None:
        self._queue(dest, ACTOR, item)

    def fetch_inputs(self, spec: list[Any], then: Any) -> None:
        self.data.arrive(spec, then)

    def ask(self, dest: int, tid: int) -> bool:
        """GET ``tid`` from ``dest``, batched with the loop turn's other
        asks of it (a ``map`` of large results asks for each); False if
        ``dest`` is known to be gone."""
        if dest != self.rank and dest not in self.live:
            return False
        self._queue(dest, GET, tid)
        return True

    def send(self, dest: int, tag: int, obj: Any) -> bool:
        """Send at once; False if ``dest`` is known to be gone."""
        if dest != self.rank and dest not in self.live and dest != self.root:
            return False
        return self._post(dest, tag, obj)

    def run_here(self, spec: list[Any]) -> None:
        """A dependent whose inputs have come: run it like any task."""
        if self.worker is not None:
            self.worker.push_tail([spec])

    def input_lost(self, tid: int, input_tid: int) -> None:
        self._queue(tid >> _ORIGIN_SHIFT, RESULT, [tid, False, None, input_tid])

    # -- receiving -----------------------------------------------------------------
    def _arrived(self, source: int, tag: int, obj: Any) -> None:
        try:
            self._handle(source, tag, obj)
        except Exception:
            log.exception("executor on rank %d: bad message %d from %d", self.rank, tag, source)

    def _handle(self, source: int, tag: int, obj: Any) -> None:
        worker = self.worker
        if tag in (TASKS, LONE) and worker is not None:
            worker.push_tail(obj, poll_after=tag == LONE)
        elif tag == DTASK and worker is not None:
            for spec in obj:
                self.data.arrive(spec)
        elif tag == GET:
            self.data.serve(source, obj)
        elif tag == DATA:
            self.data.data(source, obj)
        elif tag == FREE:
            self.data.free(obj)
        elif tag == ACTOR:
            for item in obj:
                if item[0] == "closed":
                    self.actor_said(source, item)
                elif self.hosted is not None:
                    self.hosted.handle(source, [item])
        elif tag == STEAL and worker is not None:
            loot = worker.give(obj == 1) if not worker.closing else []
            self._post(source, LOOT, loot)
            for origin, tids in sm.by_origin(loot).items():  # each origin learns the move
                if origin == self.rank:
                    self._feed(sm.Moved(tuple(tids), source, self.rank))
                else:
                    self._queue(origin, MOVED, (tids, source))
        elif tag == LOOT and worker is not None:
            worker.loot(source, obj)
        elif tag == RESULT:
            for item in obj:
                if type(item) is tuple:  # the sender's counts, if it runs tasks
                    if source in self.counts and source != self.rank:
                        self.counts[source] = [int(x) for x in item[:3]]
                    continue
                self._feed(_result_event(source, item))
        elif tag == MOVED:
            self._feed(sm.Moved(tuple(obj[0]), obj[1], source))
        elif tag == COUNTS and source in self.counts:
            self.counts[source] = [int(x) for x in obj[:3]]
            if obj[3] and self._closing_root:  # the worker's last word
                self._final_counts.add(source)
                self._check_all_stopped()
        elif tag == STOP and source == self.root and not self.stopped.done():
            self.stopped.set_result(None)

    _closing_root = False

    # -- failures ----------------------------------------------------------------
    def _failed(self, rank: int, detail: str) -> None:
        if rank == self.root and self.rank != self.root:
            self.root_lost = RankFailedError(rank, detail)
            if not self.stopped.done():
                self.stopped.set_result(None)
            return
        self._feed(sm.WorkerLost(rank, detail))
        if self.worker is not None:
            self.worker.lost(rank)
            self.worker.forget_origin(rank)
            self.data.forget_origin(rank)
        self.data.lost(rank)
        if self._closing_root:
            self._check_all_stopped()

    # -- the end ---------------------------------------------------------------------
    async def finish_root(self) -> None:
        """The root leaves: every worker stops, reporting its final counts."""
        self._closing_root = True
        for w in sorted(self.live):
            if w != self.rank:
                self._queue(w, STOP, None)
        self._check_all_stopped()
        await self.stopped
        await self._close()

    def _check_all_stopped(self) -> None:
        waiting = {w for w in self.live if w != self.rank} - self._final_counts
        if not waiting and not self.stopped.done():
            self.stopped.set_result(None)

    async def serve(self) -> None:
        """A worker serves until the root says stop (or is lost)."""
        await self.stopped
        if self.worker is not None:
            await self.worker.close()
            self._sent_counts = []  # force the final report
        self._flush()
        await self._close()
        if self.root_lost is not None:
            raise self.root_lost

    async def _close(self) -> None:
        if self.hosted is not None:
            self.hosted.stop()
        if self.worker is not None:
            await self.worker.close()
        self.xc.on_message(None)
        self._unwatch()
        kept = [ref() for ref in self.refs.values()]
        for fut in [*self.futures.values(), *kept]:
            if fut is not None and not fut.done():
                fut.cancel()


def _result_event(source: int, item: list[Any]) -> sm.Event:
    """The machine's event for a RESULT item (see the module docstring)."""
    if len(item) == 4:
        if item[1]:
            return sm.Finished(item[0], True, None, source, item[3])
        return sm.InputLost(item[0], item[3])
    ok = item[1]
    return sm.Finished(item[0], ok, item[2] if ok else as_remote_error(item[2]), source)


def _consume(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled():
        fut.exception()
