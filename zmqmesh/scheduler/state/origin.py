"""The origin's machine: placement, dependencies, retries, kept results.

See the package docstring for the theory of operation; :class:`Origin`
holds the state of one rank's submitted tasks and turns each event into
instructions. The bookkeeping of waiting and kept results is
``graph.Graph``, that of placed tasks ``table.TaskTable``, both pure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import zmqmesh.scheduler.state.messages as m
from zmqmesh.errors import ActorDiedError, RankFailedError, RemoteError
from zmqmesh.scheduler.graph import Graph, Recipe
from zmqmesh.scheduler.graph import Kept as KeptResult
from zmqmesh.scheduler.policy import may_spin
from zmqmesh.scheduler.state.actors import ActorRouting
from zmqmesh.scheduler.table import TaskTable

__all__ = ["Origin"]


class Origin(ActorRouting):
    """One rank's tasks and actors, as their origin.

    ``workers`` are the ranks that run tasks; ``serves``: this rank is one
    of them, so the tasks it submits (nested ones) stay here and thieves
    spread them; ``cores``: how many tasks in flight leave a core to spare
    for polling (``policy.may_spin``)."""

    def __init__(
        self, rank: int, workers: Iterable[int], max_retries: int, serves: bool, cores: int = 1
    ) -> None:
        super().__init__()
        self.rank = rank
        self.live = set(workers)
        # workers a dependent could not fetch an input from: probably gone
        # (the news may come later); nothing new is placed there meanwhile,
        # or its loss would cost the task a second attempt
        self.suspect: set[int] = set()
        self.serves = serves
        self.cores = cores
        self.table = TaskTable(max_retries)
        self.graph = Graph()
        self.retries: dict[int, int] = {}  # tid -> runs left for a task that raises
        self.open: set[int] = set()  # tids whose future waits for a result
        self.refs: dict[int, bool] = {}  # kept results' live futures: still waiting?
        self.released: set[int] = set()  # released before their result came
        self._rr = 0
        self._last = -1  # the worker the last result came from
        self._out: list[m.Instruction] = []
        self._on: dict[type, Callable[[Any], None]] = {
            m.Submit: self._submit,
            m.Finished: self._finished,
            m.InputLost: self._input_lost,
            m.Moved: self._moved,
            m.WorkerLost: self._worker_lost,
            m.Released: self._release,
            m.FutureGone: self._future_gone,
            m.Wanted: self._wanted,
            m.Fetched: self._fetched,
            m.ActorNew: self._actor_new,
            m.ActorCall: self._actor_call,
            m.ActorClose: self._actor_close,
            m.ActorClosed: self._actor_closed,
            m.HandleSeen: self._handle_seen,
        }

    def handle(self, event: m.Event) -> list[m.Instruction]:
        """The instructions that ``event`` calls for, in order. A Submit or
        ActorCall with an input unknown here (cancelled or released) raises
        ``ValueError`` before anything changes."""
        out: list[m.Instruction] = []
        self._out = out
        self._on[type(event)](event)
        return out

    @property
    def max_retries(self) -> int:
        return self.table.max_retries

    # -- placing -------------------------------------------------------------------
    def _where(self) -> int:
        """Where a new task goes: the root deals round-robin; a worker keeps
        its nested tasks (thieves spread them)."""
        if self.serves:
            return self.rank
        live = sorted((self.live - self.suspect) or self.live if self.suspect else self.live)
        self._rr = (self._rr + 1) % len(live)
        return live[self._rr]

    def _may_spin(self) -> bool:
        return not self.serves and may_spin(len(self.open), self.cores)

    def _submit(self, ev: m.Submit) -> None:
        tid = ev.tid
        if ev.inputs or ev.handles:
            recipe, unfinished = self._recipe(ev.ref, ev, 0)
            self.open.add(tid)
            if ev.retries:
                self.retries[tid] = ev.retries
            if self.graph.add(tid, recipe, unfinished):
                self._launch(tid)
            return
        self.open.add(tid)
        if not self.live:
            self._fail(tid, RankFailedError(-1, "no worker is left to run tasks"))
            return
        if ev.retries:
            self.retries[tid] = ev.retries
        lone = self._may_spin()
        # alone in flight: to the worker that sent the last result, polling for it
        alone = lone and len(self.open) == 1 and self._last in self.live
        where = self._last if alone else self._where()
        spec = [tid, ev.ref, ev.args, ev.kwargs]
        self.table.placed(tid, spec, where)
        self._out.append(m.Place(spec, where, lone))

    def _recipe(self, ref: Any, ev: m.Submit | m.ActorCall, actor: int) -> tuple[Recipe, set[int]]:
        """The recipe of a dependent and its inputs not finished yet; raises
        ``ValueError`` (changing nothing) for an input unknown here."""
        graph = self.graph
        done = {t: (ok, v) for t, ok, v in ev.done}
        unfinished: set[int] = set()
        for _, t in ev.inputs:
            if t in graph.kept or t in graph.values:
                continue
            if t in graph.recipes or t in self.table.pending or t in self.acalls:
                unfinished.add(t)
            elif t not in done:
                raise ValueError("a cancelled or released future cannot be an argument")
        for _, t in ev.inputs:
            if t not in unfinished and t not in graph.kept and t not in graph.values:
                graph.values[t] = done[t]
        inputs = [(tuple(p), t) for p, t in ev.inputs]
        inline = [list(h) for h in ev.handles]
        args, kwargs = list(ev.args), dict(ev.kwargs)
        return Recipe(ref, args, kwargs, inputs, inline=inline, actor=actor), unfinished

    def _launch(self, tid: int) -> None:
        """A dependent's inputs are all in: place it, or fail it with the
        error of an input that failed."""
        actor = self.graph.recipes[tid].actor
        if actor:  # an actor call: it goes in its turn
            self._flush_actor(self.actors[actor])
            return
        err = self.graph.error_of(tid)
        if err is not None:
            self._fail(tid, _upstream(err))
            return
        attempts = self.graph.recipes[tid].attempts
        spec, best, gone = self.graph.spec(tid)
        if gone:
            self._regather(tid, gone)
            return
        if not self.live:
            self._fail(tid, RankFailedError(-1, "no worker is left to run tasks"))
            return
        where = best if best in self.live and best not in self.suspect else self._where()
        if not spec[4]:  # every input is in its place: a plain task
            spec = spec[:4]
        self.table.placed(tid, spec, where)
        self.table.pending[tid].attempts = attempts
        self._out.append(m.Place(spec, where))

    def _regather(self, tid: int, gone: list[int]) -> None:
        """Inputs of dependent ``tid`` were lost with their worker after
        they finished (while it waited for others): it waits for them to be
        made again, from their lineage."""
        for t in gone:
            if tid not in self.graph.recipes:
                return  # failed meanwhile
            self.graph.wait_again(tid, t)
            if t in self.table.pending or t in self.graph.recipes:
                continue  # being made again
            kept = self.graph.lineage.pop(t, None)
            if kept is None:
                err = RemoteError("LookupError", f"input {t} is no longer known", "")
                self._fail(tid, err.as_upstream())
                return
            self._recompute(t, kept)

    # -- results ---------------------------------------------------------------------
    def _finished(self, ev: m.Finished) -> None:
        tid, ok = ev.tid, ev.ok
        if ev.source >= 0:
            self._last = ev.source
            if self.suspect:
                self.suspect.discard(ev.source)  # it answers: alive after all
        if not ok and self.retries.get(tid):
            entry = self.table.pending.get(tid)
            if entry is not None and tid in self.open and self.live:
                self.retries[tid] -= 1  # the task raised: run it again
                entry.where, entry.via = self._where(), -1
                self._out.append(m.Place(entry.spec, entry.where))
                return
        self.retries.pop(tid, None)
        entry = self.table.take(tid)
        if entry is not None:
            spec, attempts = entry.spec, entry.attempts
        elif tid in self.acalls:
            self._actor_answered(tid)
            spec, attempts = [], 1
        else:  # a duplicate of a task run twice (or given up on): its kept value is not used
            kept = self.graph.kept.get(tid)
            if ev.nbytes and ev.source in self.live and (kept is None or kept.holder != ev.source):
                self._out.append(m.Free(ev.source, tid))
            return
        if ev.nbytes:  # the result stays on its maker
            self._kept(tid, KeptResult(ev.source, ev.nbytes, spec, attempts))
            return
        self.released.discard(tid)
        self._finish(tid, ok, ev.value)

    def _settle(self, tid: int, ok: bool, value: Any, passed_on: bool = False) -> None:
        if tid in self.open:
            self.open.discard(tid)
            self._out.append(m.Resolve(tid, value) if ok else m.Fail(tid, value, passed_on))

    def _finish(self, tid: int, ok: bool, value: Any) -> None:
        """Task ``tid`` is done with ``value`` (or, not ``ok``, the exception
        ``value``): its future, and the dependents waiting for it."""
        graph = self.graph
        if not graph.need:  # no task waits for it: only its future
            self._settle(tid, ok, value)
            return
        failing = [(tid, ok, value)]
        actors: set[int] = set()  # actors with a call failed in their queue
        while failing:  # errors pass down the graph without recursion
            t, ok, value = failing.pop()
            if graph.recipes and t in graph.recipes:
                self._inputs_done(t)
            ready, failed = graph.finished(t, ok, value)
            self._settle(t, ok, value, bool(failed))
            for d in ready:
                if d in graph.recipes:  # (an earlier one's failure may have ended it)
                    self._launch(d)
            up = _upstream(value) if not ok else value
            for d in failed:
                self.retries.pop(d, None)
                aid = self.acalls.pop(d, None)
                if aid is not None:
                    actors.add(aid)
                failing.append((d, False, up))
        for aid in actors:  # the calls queued behind a failed one go on
            rec = self.actors.get(aid)
            if rec is not None:
                self._flush_actor(rec)

    def _fail(self, tid: int, exc: BaseException) -> None:
        self.table.take(tid)
        self.retries.pop(tid, None)
        self._finish(tid, False, exc)
        if self.graph.recipes and tid in self.graph.recipes:
            self._inputs_done(tid)

    def _inputs_done(self, tid: int) -> None:
        """Dependent ``tid`` is done: its inputs lose a user; those kept
        that no future refers to any more are freed."""
        for t in self.graph.done(tid):
            if t not in self.refs:
                self._free(t)

    def _kept(self, tid: int, kept: KeptResult) -> None:
        """Task ``tid`` finished; its result stays on ``kept.holder``. Its
        future (unless released) waits until wanted; once it is garbage
        (or released) and no dependent needs the result, it is freed."""
        waited = tid in self.open
        self.open.discard(tid)
        if self.graph.recipes and tid in self.graph.recipes:
            self._inputs_done(tid)
        ready = self.graph.kept_at(tid, kept)
        if waited and tid not in self.released:
            self.refs[tid] = True
            self._out.append(m.Kept(tid, kept.holder))
        else:
            self.released.discard(tid)
            if tid not in self.graph.need:
                self._free(tid)
        for d in ready:
            self._launch(d)

    def _free(self, tid: int) -> None:
        """Nobody needs kept result ``tid``: its holder drops the value. Its
        lineage (the spec, not the value) stays, in case a result made from
        it is lost and must be made again."""
        kept = self.graph.kept.pop(tid, None)
        if kept is not None:
            self.graph.lineage[tid] = kept
            if kept.holder in self.live or kept.holder == self.rank:
                self._out.append(m.Free(kept.holder, tid))

    def needed(self, tid: int) -> bool:
        """Whether a kept result is still wanted: a dependent needs it or
        a future waits for it."""
        return tid in self.graph.need or self.refs.get(tid, False)

    def _future_gone(self, ev: m.FutureGone) -> None:
        if self.refs.pop(ev.tid, None) is not None and ev.tid not in self.graph.need:
            self._free(ev.tid)

    def _wanted(self, ev: m.Wanted) -> None:
        kept = self.graph.kept.get(ev.tid)
        if kept is not None and self.refs.get(ev.tid):
            self._out.append(m.Fetch(ev.tid, kept.holder))

    def _fetched(self, ev: m.Fetched) -> None:
        """The value of a kept result this rank's future waits for."""
        tid = ev.tid
        if not self.refs.get(tid):
            return
        if ev.ok:
            self.refs[tid] = False
            self._out.append(m.Resolve(tid, ev.value))
            return
        kept = self.graph.kept.get(tid)
        if kept is None:
            return  # lost and being made again
        if ev.holder not in (-1, kept.holder):
            # the answer of where it was before (made again elsewhere since,
            # or a duplicate): the future still waits, so ask where it is now
            self._out.append(m.Fetch(tid, kept.holder))
            return
        del self.graph.kept[tid]  # the holder has it no more
        if tid not in self.table.pending:
            self._recompute(tid, kept)

    def _release(self, ev: m.Released) -> None:
        tid = ev.tid
        self.open.discard(tid)
        if self.refs.pop(tid, None) is not None or tid in self.graph.kept:
            if tid not in self.graph.need:
                self._free(tid)
        elif tid in self.table.pending or tid in self.acalls or tid in self.graph.recipes:
            self.released.add(tid)

    # -- losses ----------------------------------------------------------------------
    def _moved(self, ev: m.Moved) -> None:
        for tid in self.table.moved(ev.tids, ev.thief, ev.victim):
            self._rerun(tid, ev.thief, "")

    def _worker_lost(self, ev: m.WorkerLost) -> None:
        rank = ev.rank
        self.live.discard(rank)
        self.suspect.discard(rank)
        for tid in self.table.worker_lost(rank):
            self._rerun(tid, rank, ev.detail)
        self._actors_lost(rank, ev.detail)
        # every lost result's lineage first: making one again may need
        # another's (an input of it) before this loop reaches that one
        lost = self.graph.lost(rank)
        self.graph.lineage.update(lost)
        for tid in lost:
            if self.needed(tid) and tid in self.graph.lineage:  # (not made again already)
                self._recompute(tid, self.graph.lineage.pop(tid))

    def _rerun(self, tid: int, lost: int, detail: str) -> None:
        spec = self.table.rerun(tid, self._where()) if self.live else None
        if spec is None:
            self._fail(tid, RankFailedError(lost, detail or "lost with its tasks"))
            return
        self._out.append(m.Place(spec, self.table.pending[tid].where))

    def _input_lost(self, ev: m.InputLost) -> None:
        """Dependent ``tid`` could not get its input: make the input again
        (from its lineage) and place the dependent once it is."""
        tid, input_tid = ev.tid, ev.input_tid
        entry = self.table.take(tid)
        if entry is None:
            return
        holder = _holder_in(entry.spec, input_tid)
        if holder in self.live and holder != self.rank:
            self.suspect.add(holder)
        now = self.graph.kept.get(input_tid)
        if now is not None and now.holder != _holder_in(entry.spec, input_tid):
            # the input was made again elsewhere meanwhile: go where it is now
            if tid not in self.graph.recipes:
                self.graph.add(tid, Recipe.from_spec(entry.spec, entry.attempts), set())
            self._launch(tid)
            return
        kept = self.graph.kept.pop(input_tid, None) or self.graph.lineage.pop(input_tid, None)
        if tid in self.graph.recipes:
            self.graph.wait_again(tid, input_tid)
        else:  # a finished task made again: wait as a dependent anew
            self.graph.add(tid, Recipe.from_spec(entry.spec, entry.attempts), {input_tid})
        if input_tid in self.table.pending or input_tid in self.graph.recipes:
            return  # already being made again
        if kept is None:
            self._fail(tid, RankFailedError(-1, "an input was lost with its worker"))
            return
        self._recompute(input_tid, kept)

    def _recompute(self, tid: int, kept: KeptResult) -> None:
        """Make a kept result lost with its worker again, from its spec."""
        if self.refs.get(tid):
            self.open.add(tid)
            self._out.append(m.Reopen(tid))
        if not kept.spec:  # an actor call's result: its state cannot be made again
            err = "an actor call's result was lost with its worker"
            self._fail(tid, ActorDiedError("ActorDiedError", err, "", kept.holder))
            return
        if kept.attempts > self.table.max_retries or not self.live:
            self._fail(tid, RankFailedError(kept.holder, "lost with its result"))
            return
        if len(kept.spec) == 5 and tid not in self.graph.recipes:
            # a dependent: as one anew, so its inputs are kept (or made
            # again) for it, and it goes where they are now
            self.graph.add(tid, Recipe.from_spec(kept.spec, kept.attempts + 1), set())
            self._launch(tid)
            return
        where = self._where()
        self.table.placed(tid, kept.spec, where)
        self.table.pending[tid].attempts = kept.attempts + 1
        self._out.append(m.Place(kept.spec, where))


def _holder_in(spec: list[Any], input_tid: int) -> int:
    """Where ``spec`` was told to fetch ``input_tid`` from (-1: nowhere)."""
    for _, holder, t in spec[4] if len(spec) == 5 else ():
        if t == input_tid:
            return int(holder)
    return -1


def _upstream(err: Any) -> Any:
    return err.as_upstream() if isinstance(err, RemoteError) else err
