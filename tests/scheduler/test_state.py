"""The scheduler's state machine, driven by random histories of a simulated cluster.

A root (rank 0, running no tasks) submits random task graphs (futures as
arguments, results kept on workers or not, tasks that raise, with retries
or not) and actor calls; simulated workers run tasks, steal from each
other, fetch inputs from each other and die; messages to the root travel
on one reliable FIFO channel per worker (a dead worker's channel is
delivered up to its death, or dropped). After each history the cluster is
drained and every promise is checked: each placed copy of a task runs at
most once and, unless lost with its worker, exactly once; no kept result
is freed while a pending task or a waiting future needs it; every future
ends, with its value or the right error (upstream failures marked); no
task is left anywhere; actor calls run in call order; kept results are
all freed once their futures are gone.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from zmqmesh.errors import ActorDiedError, RankFailedError, RemoteError
from zmqmesh.scheduler.state import (
    ActorCall,
    ActorClose,
    ActorClosed,
    ActorEnded,
    ActorNew,
    ActorSend,
    Event,
    Fail,
    Fetch,
    Fetched,
    Finished,
    Free,
    FutureGone,
    InputLost,
    Instruction,
    Kept,
    Moved,
    Origin,
    Place,
    Released,
    Reopen,
    Resolve,
    Submit,
    TaskQueue,
    Wanted,
    WorkerLost,
    by_origin,
)

ROOT = 0
BIG = 1 << 20
ADD, BOOM = ["sim", "add"], ["sim", "boom"]


class Task:
    """The model of one submitted task or actor call: what it must give."""

    def __init__(self, tid: int, inputs: list[int], expect: tuple[str, Any]) -> None:
        self.tid = tid
        self.inputs = inputs
        self.expect = expect  # ("ok", value) | ("err", (type name, upstream)) | ("actor", aid)
        self.outcome: tuple[bool, Any] | None = None
        self.kept = -1  # the holder while its value waits there
        self.released = False
        self.gone = False  # its future was garbage-collected


class SimWorker:
    def __init__(self, rank: int) -> None:
        self.rank = rank
        self.alive = True
        self.queue = TaskQueue()
        self.store: dict[int, Any] = {}
        self.mailbox: deque[list[Any]] = deque()
        self.actors: dict[int, list[int]] = {}  # aid -> the call numbers it ran


class Cluster(RuleBasedStateMachine):
    @initialize(
        n=st.integers(2, 4),
        generous=st.booleans(),
        cores=st.sampled_from([1, 4]),
    )
    def start(self, n: int, generous: bool, cores: int) -> None:
        self.n = n
        self.generous = generous  # enough retries for every loss
        max_retries = n if generous else 0
        self.origin = Origin(ROOT, range(1, n + 1), max_retries, serves=False, cores=cores)
        self.workers = {w: SimWorker(w) for w in range(1, n + 1)}
        self.chan: dict[int, deque[Event]] = {w: deque() for w in self.workers}
        self.local: deque[Event] = deque()  # events the root makes for itself
        self.tasks: dict[int, Task] = {}
        self.order: list[int] = []
        self.seq = 0
        # tid, spec, [status, the victims it passed through]
        self.copies: list[tuple[int, list[Any], list[Any]]] = []
        self.wire: deque[tuple[int, int, list[list[Any]]]] = deque()  # loot on its way
        self.strict = True  # no channel was dropped: no copy is ever duplicated
        self.actor_calls: dict[int, list[int]] = {}  # aid -> its call tids, in order
        self.actor_restart: dict[int, bool] = {}
        self.lost_ranks: set[int] = set()

    # -- the root's side -----------------------------------------------------------
    def _tid(self) -> int:
        self.seq += 1
        return ROOT << 40 | self.seq

    def _feed(self, event: Event) -> None:
        self._do(self.origin.handle(event))

    def _do(self, instructions: list[Instruction]) -> None:
        frees = []
        for ins in instructions:
            if isinstance(ins, Place):
                self._place(ins)
            elif isinstance(ins, (Resolve, Fail)):
                task = self.tasks[ins.tid]
                assert task.outcome is None, f"future {ins.tid} settled twice"
                assert not task.released
                ok = isinstance(ins, Resolve)
                task.outcome = (True, ins.value) if ok else (False, ins.error)  # type: ignore[union-attr]
                task.kept = -1
            elif isinstance(ins, Kept):
                task = self.tasks[ins.tid]
                assert task.outcome is None
                assert not task.released
                task.kept = ins.holder
            elif isinstance(ins, Reopen):
                task = self.tasks[ins.tid]
                assert task.outcome is None
                assert not task.gone
                task.kept = -1
            elif isinstance(ins, Fetch):
                holder = self.workers[ins.holder]
                if holder.alive and ins.tid in holder.store:
                    self.chan[holder.rank].append(Fetched(ins.tid, True, holder.store[ins.tid]))
                else:
                    self.local.append(Fetched(ins.tid, False, None, ins.holder))
            elif isinstance(ins, Free):
                frees.append(ins)
            elif isinstance(ins, ActorSend):
                if self.workers[ins.rank].alive:
                    self.workers[ins.rank].mailbox.append(ins.item)
            elif isinstance(ins, ActorEnded):
                pass
            else:  # pragma: no cover
                raise AssertionError(f"unknown instruction {ins!r}")
        for free in frees:  # judged once the whole event is done
            self._check_free(free.tid)
            self.workers[free.holder].store.pop(free.tid, None)

    def _place(self, ins: Place) -> None:
        tid = ins.spec[0]
        mine = [status for t, _, status in self.copies if t == tid]
        # placed again only when its copy is gone, or may be: on its way
        # from a victim that died (then two copies may run; one result counts)
        if self.strict and not any(s[1] & self.lost_ranks for s in mine):
            assert all(s[0] != "queued" for s in mine), f"task {tid} placed while queued"
        status = ["queued", set()]
        copy = list(ins.spec)
        self.copies.append((tid, copy, status))
        worker = self.workers[ins.where]
        if worker.alive:
            worker.queue.push_tail([copy])
        else:
            status[0] = "lost"

    def _needed(self, tid: int) -> str:
        """The model's view: why ``tid``'s value is still needed ("": it is not)."""
        task = self.tasks[tid]
        if task.outcome is None and not task.released and not task.gone:
            return "its future waits"
        for other in self.tasks.values():
            unfinished = other.outcome is None and other.kept < 0 and not other.released
            if tid in other.inputs and unfinished:
                return f"task {other.tid} waits for it"
        for _, c, s in self.copies:
            if s[0] == "queued" and len(c) == 5 and any(i[2] == tid for i in c[4]):
                return f"a queued copy of {c[0]} uses it"
        return ""

    def _check_free(self, tid: int) -> None:
        why = self._needed(tid)
        assert not why, f"kept result {tid} freed while needed: {why}"

    def _held(self) -> list[int]:
        """Futures the caller still holds (may be arguments)."""
        return [t for t in self.order if not self.tasks[t].released and not self.tasks[t].gone]

    # -- rules: the caller ---------------------------------------------------------------
    @rule(
        data=st.data(),
        fail=st.booleans(),
        big=st.booleans(),
        retries=st.integers(0, 2),
        base=st.integers(0, 100),
    )
    def submit(self, data: Any, fail: bool, big: bool, retries: int, base: int) -> None:
        held = [t for t in self._held() if self.tasks[t].expect[0] != "actor"]
        inputs = data.draw(st.lists(st.sampled_from(held), max_size=3)) if held else []
        tid = self._tid()
        expect: tuple[str, Any]
        failed = [self.tasks[t].expect for t in inputs if self.tasks[t].expect[0] == "err"]
        if failed:  # the first input to fail passes its error on
            expect = ("err", (failed[0][1][0], True))
        elif fail:
            expect = ("err", ("ValueError", False))
        else:
            expect = ("ok", base + sum(self.tasks[t].expect[1] for t in inputs))
        task = Task(tid, inputs, expect)
        task.big = big  # type: ignore[attr-defined]
        self.tasks[tid] = task
        self.order.append(tid)
        done = tuple(
            (t, *self.tasks[t].outcome)  # type: ignore[misc]
            for t in inputs
            if self.tasks[t].outcome is not None
        )
        ev = Submit(
            tid,
            BOOM if fail else ADD,
            [base, *(None for _ in inputs)],
            {"big": big},
            retries,
            tuple(((i + 1,), t) for i, t in enumerate(inputs)),
            (),
            done,
        )
        self._feed(ev)

    @rule(data=st.data())
    def release(self, data: Any) -> None:
        held = [t for t in self._held() if self.tasks[t].expect[0] != "actor"]
        if held:
            tid = data.draw(st.sampled_from(held))
            self.tasks[tid].released = True
            self._feed(Released(tid))

    @rule(data=st.data())
    def await_kept(self, data: Any) -> None:
        kept = [t for t in self._held() if self.tasks[t].kept >= 0]
        if kept:
            self._feed(Wanted(data.draw(st.sampled_from(kept))))

    @rule(data=st.data())
    def drop_future(self, data: Any) -> None:
        """A kept result's future is garbage: nobody can await it now."""
        kept = [t for t in self._held() if self.tasks[t].kept >= 0]
        if kept:
            tid = data.draw(st.sampled_from(kept))
            self.tasks[tid].gone = True
            self._feed(FutureGone(tid))

    @rule(restart=st.booleans())
    def new_actor(self, restart: bool) -> None:
        aid = self._tid()
        self.actor_calls[aid] = []
        self.actor_restart[aid] = restart
        self._feed(ActorNew(aid, "Log", ["new", aid, ["sim", "Log"], [], {}, 1], restart))

    @rule(data=st.data())
    def call_actor(self, data: Any) -> None:
        if not self.actor_calls:
            return
        aid = data.draw(st.sampled_from(sorted(self.actor_calls)))
        if self.origin.actors[aid].closing:
            return
        held = [t for t in self._held() if self.tasks[t].expect[0] != "actor"]
        inputs = data.draw(st.lists(st.sampled_from(held), max_size=2)) if held else []
        failed = [self.tasks[t].expect[1][0] for t in inputs if self.tasks[t].expect[0] == "err"]
        tid = self._tid()
        number = len(self.actor_calls[aid])
        self.actor_calls[aid].append(tid)
        self.tasks[tid] = Task(tid, inputs, ("actor", (aid, number, (failed or [None])[0])))
        self.order.append(tid)
        if not inputs:
            self._feed(ActorCall(tid, aid, "log", [number], {}))
            return
        done = tuple((t, *self.tasks[t].outcome) for t in inputs if self.tasks[t].outcome)  # type: ignore[misc]
        paths = tuple(((i + 1,), t) for i, t in enumerate(inputs))
        args = [number, *(None for _ in inputs)]
        self._feed(ActorCall(tid, aid, "log", args, {}, paths, (), done))

    @rule(data=st.data())
    def close_actor(self, data: Any) -> None:
        if self.actor_calls:
            self._feed(ActorClose(data.draw(st.sampled_from(sorted(self.actor_calls)))))

    # -- rules: the cluster --------------------------------------------------------------
    def _live(self) -> list[int]:
        return [w for w, x in self.workers.items() if x.alive]

    @rule(data=st.data())
    def deliver(self, data: Any) -> None:
        ready = [w for w, c in self.chan.items() if c]
        if self.local:
            self._feed(self.local.popleft())
        elif ready:
            self._feed(self.chan[data.draw(st.sampled_from(ready))].popleft())

    @rule(data=st.data())
    def run_task(self, data: Any) -> None:
        busy = [w for w in self._live() if self.workers[w].queue]
        if busy:
            self._run(self.workers[data.draw(st.sampled_from(busy))])

    def _run(self, worker: SimWorker) -> None:
        spec = worker.queue.pop()
        status = next(s for _, c, s in self.copies if c is spec)
        assert status[0] == "queued", f"a copy of {spec[0]} ran twice"
        status[0] = "ran"
        tid, ref, args, kwargs = spec[:4]
        args = list(args)
        for path, holder, t in spec[4] if len(spec) == 5 else ():
            src = self.workers[holder]
            if not (src.alive and t in src.store):
                self.chan[worker.rank].append(InputLost(tid, t))
                return
            args[path[0]] = src.store[t]
        out = self.chan[worker.rank]
        if ref == BOOM:
            out.append(Finished(tid, False, RemoteError("ValueError", "boom", ""), worker.rank))
        elif kwargs["big"]:
            worker.store[tid] = sum(args)
            out.append(Finished(tid, True, None, worker.rank, BIG))
        else:
            out.append(Finished(tid, True, sum(args), worker.rank))

    @rule(data=st.data())
    def run_actor(self, data: Any) -> None:
        busy = [w for w in self._live() if self.workers[w].mailbox]
        if busy:
            self._run_actor(self.workers[data.draw(st.sampled_from(busy))])

    def _run_actor(self, worker: SimWorker) -> None:
        item = worker.mailbox.popleft()
        aid = item[1]
        if item[0] == "new":
            worker.actors[aid] = []
        elif item[0] == "del":
            worker.actors.pop(aid, None)
            self.chan[worker.rank].append(ActorClosed(aid))
        else:
            spec = item[2]
            ran = worker.actors[aid]
            number = spec[2][0]
            for _, holder, t in spec[4] if len(spec) == 5 else ():
                src = self.workers[holder]
                if not (src.alive and t in src.store):  # as the mailbox answers
                    err = RemoteError("LookupError", "an input was lost", "")
                    self.chan[worker.rank].append(Finished(spec[0], False, err, worker.rank))
                    return
            assert not ran or ran[-1] < number, f"actor {aid} ran call {number} after {ran[-1]}"
            ran.append(number)
            self.chan[worker.rank].append(Finished(spec[0], True, number, worker.rank))

    @rule(data=st.data(), busy=st.booleans(), running=st.booleans(), told=st.booleans())
    def steal(self, data: Any, busy: bool, running: bool, told: bool) -> None:
        """``running``: the victim runs a task meanwhile (so it gives its
        last); ``told``: the root reads the victim's report at once, while
        the loot is still on its way."""
        live = self._live()
        if len(live) < 2:
            return
        thief, victim = data.draw(st.permutations(live))[:2]
        loot = self.workers[victim].queue.give(running, thief_busy=busy)
        for _, copy, status in self.copies:
            if any(c is copy for c in loot):
                status[1].add(victim)
        self.wire.append((victim, thief, loot))  # the report may overtake it
        for origin, tids in by_origin(loot).items():
            assert origin == ROOT
            report = Moved(tuple(tids), thief, victim)
            if told and not self.chan[victim]:
                self._feed(report)
            else:
                self.chan[victim].append(report)

    @rule()
    def deliver_loot(self) -> None:
        if self.wire:
            self._loot_arrives(*self.wire.popleft())

    def _loot_arrives(self, victim: int, thief: int, loot: list[list[Any]]) -> None:
        if self.workers[thief].alive:
            self.workers[thief].queue.push_tail(loot)
        else:
            self._lose(loot)

    def _lose(self, specs: Any) -> None:
        for _, copy, status in self.copies:
            if status[0] == "queued" and any(c is copy for c in specs):
                status[0] = "lost"

    @precondition(lambda self: len(self._live()) > 1)
    @rule(data=st.data(), drop=st.booleans())
    def kill(self, data: Any, drop: bool) -> None:
        # worker 1 never dies, so the work can always be finished
        w = data.draw(st.sampled_from([w for w in self._live() if w != 1]))
        worker = self.workers[w]
        worker.alive = False
        self.lost_ranks.add(w)
        self._lose(worker.queue.dq)
        worker.queue.clear()
        for item in [x for x in self.wire if x[1] == w]:  # loot on its way to it
            self.wire.remove(item)
            self._lose(item[2])
        worker.store.clear()
        worker.mailbox.clear()
        worker.actors.clear()
        if drop:  # what it sent and others had not read is lost too
            self.chan[w].clear()
            for item in [x for x in self.wire if x[0] == w]:
                self.wire.remove(item)
                self._lose(item[2])
            self.strict = False
        self.chan[w].append(WorkerLost(w, "killed"))

    @invariant()
    def copies_are_where_they_say(self) -> None:
        queued = sum(len(x.queue) for x in self.workers.values())
        queued += sum(len(loot) for _, _, loot in self.wire)
        assert queued == sum(1 for _, _, s in self.copies if s[0] == "queued")

    # -- the end -----------------------------------------------------------------------
    def teardown(self) -> None:
        if not hasattr(self, "origin"):
            return
        self._drain()
        self._check_outcomes()
        for t in self._held():  # every future goes: every kept value is freed
            task = self.tasks[t]
            if task.kept >= 0 or (task.outcome is not None and task.expect[0] != "actor"):
                task.gone = True
                self._feed(FutureGone(t))
        self._drain()
        for w in self._live():
            assert not self.workers[w].store, f"worker {w} still keeps {self.workers[w].store}"

    def _drain(self) -> None:
        for _ in range(100_000):
            if self.local or any(self.chan.values()) or self.wire:
                self.deliver_all()
                continue
            busy = [w for w in self._live() if self.workers[w].queue or self.workers[w].mailbox]
            if busy:
                worker = self.workers[busy[0]]
                if worker.queue:
                    self._run(worker)
                else:
                    self._run_actor(worker)
                continue
            wanted = [t for t in self._held() if self.tasks[t].kept >= 0]
            if not wanted:
                return
            for t in wanted:
                self._feed(Wanted(t))
            if not (self.local or any(self.chan.values())):
                raise AssertionError(f"kept results {wanted} cannot be fetched")
        raise AssertionError("the cluster does not settle")

    def deliver_all(self) -> None:
        while self.wire:
            self._loot_arrives(*self.wire.popleft())
        while self.local:
            self._feed(self.local.popleft())
        # the dead workers' channels first: their losses overtake the
        # others' news (a victim's word that a dead thief took tasks)
        for w in sorted(self.chan, key=lambda w: self.workers[w].alive):
            while self.chan[w]:
                self._feed(self.chan[w].popleft())

    def _check_call(self, task: Task, want: tuple[int, int, str | None]) -> None:
        """An actor call gives its number, or its input's error, or dies
        with its actor (only when a worker was lost or the actor closed)."""
        aid, number, bad = want
        assert task.outcome is not None
        ok, value = task.outcome
        closing = self.origin.actors[aid].closing
        if ok:
            assert bad is None, (task.tid, value)
            assert value == number, (task.tid, value, number)
        elif isinstance(value, ActorDiedError):
            assert self.lost_ranks or closing, value
            assert not (self.actor_restart[aid] and self.generous) or closing, value
        elif isinstance(value, RankFailedError):
            assert not self.generous, value
        elif value.type_name == "LookupError":
            assert self.lost_ranks, value
        else:
            assert (value.type_name, value.upstream) == (bad, True), (task.tid, value, bad)

    def _check_outcomes(self) -> None:
        origin = self.origin
        assert not origin.table.pending, f"tasks left placed: {sorted(origin.table.pending)}"
        assert not origin.graph.recipes, f"tasks left waiting: {sorted(origin.graph.recipes)}"
        assert not origin.open, f"futures left open: {sorted(origin.open)}"
        assert all(s[0] != "queued" for _, _, s in self.copies)
        for t in self.order:
            task = self.tasks[t]
            if task.released or task.gone:
                continue
            assert task.outcome is not None, f"future {t} never ended"
            ok, value = task.outcome
            kind, want = task.expect
            if kind == "actor":
                self._check_call(task, want)
            elif not ok and isinstance(value, RankFailedError):
                assert not self.generous, f"task {t} lost though retries were left"
            elif kind == "ok":
                assert ok, (t, task.outcome, task.expect)
                assert value == want, (t, task.outcome, task.expect)
            else:
                assert not ok, (t, task.outcome)
                assert isinstance(value, RemoteError), (t, task.outcome)
                assert (value.type_name, value.upstream) == want, (t, value, want)


Cluster.TestCase.settings = settings(
    max_examples=1500,
    report_multiple_bugs=False,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_cluster = pytest.mark.timeout(120)(Cluster.TestCase)
