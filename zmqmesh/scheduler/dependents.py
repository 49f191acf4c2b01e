"""The origin's side of task graphs: futures as arguments, kept results.

A mixin of ``node.Node`` (the bookkeeping itself is ``graph.Graph``, pure):
submitting a task whose arguments hold futures, placing it once its inputs
are in, passing errors down the graph, fetching kept results that the
origin's own futures wait for, and making results lost with their worker
again from their lineage (up to ``max_retries``).
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any

from zmqmesh.errors import ActorDiedError, RankFailedError, RemoteError
from zmqmesh.scheduler.actors import ActorHandle, ActorRecord
from zmqmesh.scheduler.data import DataPlane
from zmqmesh.scheduler.futures import KeptFuture, TaskFuture, find_futures
from zmqmesh.scheduler.graph import Graph, Kept, Recipe, without_futures
from zmqmesh.scheduler.table import TaskTable

__all__ = ["Dependents"]

_ORIGIN_SHIFT = 40
_SIMPLE = (int, float, str, bytes, bool, type(None))


class Dependents:
    rank: int
    loop: asyncio.AbstractEventLoop
    live: set[int]
    table: TaskTable
    retries: dict[int, int]
    futures: dict[int, asyncio.Future[Any]]
    graph: Graph
    data: DataPlane
    refs: dict[int, weakref.ref[TaskFuture]]  # kept results' futures, weakly
    released: set[int]  # released before their result came
    actors: dict[int, ActorRecord]
    acalls: dict[int, int]
    _seq: int

    if TYPE_CHECKING:

        def flush_actor(self, rec: ActorRecord) -> None: ...

        def actor_answered(self, tid: int) -> None: ...

        def _free_at(self, holder: int, tid: int) -> None: ...

        def _where(self) -> int: ...

        def _place(self, spec: list[Any], where: int, lone: bool = False) -> None: ...

        def _check_sendable(
            self, ref: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> None: ...

    def _inputs(self, ref: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
        """The futures among the arguments (top-level; nested ones are
        looked for only when the arguments do not travel as they are);
        raises ``TypeError`` for arguments that cannot travel otherwise."""
        found = find_futures(args, kwargs, nested=False)
        try:
            if found:
                a, kw = without_futures(args, kwargs, [p for p, _ in found])
                # what is left travels as surely as a plain task's simple arguments
                if (
                    type(ref) is not list
                    or not all(type(x) in _SIMPLE for x in a)
                    or (kw and not all(type(x) in _SIMPLE for x in kw.values()))
                ):
                    self._check_sendable(ref, tuple(a), kw)
            else:
                self._check_sendable(ref, args, kwargs)
        except TypeError:  # nested futures, or actor handles
            nested = find_futures(args, kwargs, nested=True, kinds=(TaskFuture, ActorHandle))
            if len(nested) == len(found):
                raise
            found = nested
            a, kw = without_futures(args, kwargs, [p for p, _ in found])
            self._check_sendable(ref, tuple(a), kw)
        for _, f in found:
            if f._node is not self:
                raise ValueError(f"a {type(f).__name__} of another executor cannot be an argument")
        return found

    def _recipe(
        self, ref: Any, args: Any, kwargs: dict[str, Any], found: list[Any], actor: int = 0
    ) -> tuple[Recipe, set[int]]:
        """The recipe of a task or actor call with ``found`` among its
        arguments, and its inputs not finished yet. An actor handle travels
        as ``[path, -2, [actor id, rank, name]]`` and is made anew there."""
        futs = [(p, f) for p, f in found if isinstance(f, TaskFuture)]
        handles = [[list(p), -2, h._ref()] for p, h in found if isinstance(h, ActorHandle)]
        unfinished = self._unfinished(futs)
        a, kw = without_futures(args, kwargs, [p for p, _ in found])
        inputs = [(p, f._tid) for p, f in futs]
        return Recipe(ref, a, kw, inputs, inline=handles, actor=actor), unfinished

    def _submit_graph(
        self, ref: Any, args: Any, kwargs: dict[str, Any], found: list[Any], retries: int
    ) -> TaskFuture:
        """``submit`` of a task with futures among its arguments: it waits
        here for its inputs (``graph``), then goes where most of them are."""
        self._seq += 1
        tid = self.rank << _ORIGIN_SHIFT | self._seq
        fut = TaskFuture(loop=self.loop)
        fut._tid = tid
        fut._node = self
        graph = self.graph
        recipe, unfinished = self._recipe(ref, args, kwargs, found)
        self.futures[tid] = fut
        if retries:
            self.retries[tid] = retries
        if graph.add(tid, recipe, unfinished):
            self._launch(tid)
        return fut

    def _unfinished(self, found: list[Any]) -> set[int]:
        """The inputs among the futures ``found`` that are not finished;
        the values of those finished inline go into the graph."""
        graph = self.graph
        unfinished: set[int] = set()
        for _, f in found:
            t = f._tid
            if f.cancelled():
                raise ValueError("a cancelled or released future cannot be an argument")
            if t in graph.kept or t in graph.values:
                continue
            if t in graph.recipes or t in self.table.pending or t in self.acalls:
                unfinished.add(t)
            elif f.done() and not f.cancelled():
                exc = f.exception()
                graph.values[t] = (False, exc) if exc is not None else (True, f.result())
            else:
                raise ValueError("a cancelled or released future cannot be an argument")
        return unfinished

    def _launch(self, tid: int) -> None:
        """A dependent's inputs are all in: place it, or fail it with the
        error of an input that failed."""
        actor = self.graph.recipes[tid].actor
        if actor:  # an actor call: it goes in its turn
            self.flush_actor(self.actors[actor])
            return
        err = self.graph.error_of(tid)
        if err is not None:
            self._fail(tid, err.as_upstream() if isinstance(err, RemoteError) else err)
            return
        spec, best, gone = self.graph.spec(tid)
        if gone:
            self.regather(tid, gone)
            return
        if not self.live:
            self._fail(tid, RankFailedError(-1, "no worker is left to run tasks"))
            return
        where = best if best in self.live else self._where()
        if not spec[4]:  # every input is in its place: a plain task
            spec = spec[:4]
        self.table.placed(tid, spec, where)
        self._place(spec, where)

    def regather(self, tid: int, gone: list[int]) -> None:
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

    def _finish(self, tid: int, ok: bool, value: Any) -> None:
        """Task ``tid`` is done with ``value`` (or, not ``ok``, the exception
        ``value``): its future, and the dependents waiting for it."""
        fut = self.futures.pop(tid, None)
        if fut is not None and not fut.done():
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)
        graph = self.graph
        if not graph.need:
            return
        futs = {tid: fut}
        failing = [(tid, ok, value)]
        actors: set[int] = set()  # actors with a call failed in their queue
        while failing:  # errors pass down the graph without recursion
            t, ok, value = failing.pop()
            if graph.recipes and t in graph.recipes:
                self._inputs_done(t)
            ready, failed = graph.finished(t, ok, value)
            for d in ready:
                self._launch(d)
            up = value.as_upstream() if not ok and isinstance(value, RemoteError) else value
            passed_on = futs.pop(t, None)
            if failed and passed_on is not None and passed_on.done() and not passed_on.cancelled():
                passed_on.exception()  # its dependents took the error: not lost
            for d in failed:
                fut = futs[d] = self.futures.pop(d, None)
                if fut is not None and not fut.done():
                    fut.set_exception(up)
                self.retries.pop(d, None)
                aid = self.acalls.pop(d, None)
                if aid is not None:
                    actors.add(aid)
                failing.append((d, False, up))
        for aid in actors:  # the calls queued behind a failed one go on
            rec = self.actors.get(aid)
            if rec is not None:
                self.flush_actor(rec)

    def _fail(self, tid: int, exc: BaseException) -> None:
        self.table.pending.pop(tid, None)
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

    def _kept(self, tid: int, kept: Kept) -> None:
        """Task ``tid`` finished; its result stays on ``kept.holder``. The
        origin watches the future weakly: once it is garbage (or released)
        and no dependent needs the result, the holder frees it."""
        fut = self.futures.pop(tid, None)
        if self.graph.recipes and tid in self.graph.recipes:
            self._inputs_done(tid)
        ready = self.graph.kept_at(tid, kept)
        if isinstance(fut, TaskFuture) and tid not in self.released:
            self.refs[tid] = weakref.ref(fut, self._gone_soon(tid))
            if not fut.done():
                if fut._callbacks:  # already awaited
                    self.data.fetch_for_origin(tid, kept.holder)
                else:
                    fut.__class__ = KeptFuture
                    fut._hook = self._demand
        else:
            self.released.discard(tid)
            if tid not in self.graph.need:
                self._free(tid)
        del fut
        for d in ready:
            self._launch(d)

    def _gone_soon(self, tid: int) -> Any:
        loop = self.loop

        def gone(_: Any) -> None:  # any thread, at garbage collection
            if not loop.is_closed():
                loop.call_soon_threadsafe(self._future_gone, tid)

        return gone

    def _future_gone(self, tid: int) -> None:
        ref = self.refs.get(tid)
        if ref is not None and ref() is None:
            del self.refs[tid]
            if tid not in self.graph.need:
                self._free(tid)

    def _free(self, tid: int) -> None:
        """Nobody needs kept result ``tid``: its holder drops the value. Its
        lineage (the spec, not the value) stays, in case a result made from
        it is lost and must be made again."""
        kept = self.graph.kept.pop(tid, None)
        if kept is not None:
            self.graph.lineage[tid] = kept
            self._free_at(kept.holder, tid)

    def release(self, fut: Any) -> None:
        """``Executor.release``: see there."""
        if not isinstance(fut, TaskFuture) or fut._node is not self:
            raise ValueError("release() takes a future of this executor")
        tid = fut._tid
        fut._hook = None
        if not fut.done():
            fut.cancel()
        if self.refs.pop(tid, None) is not None or tid in self.graph.kept:
            if tid not in self.graph.need:
                self._free(tid)
        elif tid in self.table.pending or tid in self.acalls or tid in self.graph.recipes:
            self.released.add(tid)

    def _input_lost(self, tid: int, input_tid: int) -> None:
        """Dependent ``tid`` could not get its input: make the input again
        (from its lineage) and place the dependent once it is."""
        entry = self.table.pending.pop(tid, None)
        if entry is None:
            return
        kept = self.graph.kept.pop(input_tid, None) or self.graph.lineage.pop(input_tid, None)
        if tid in self.graph.recipes:
            self.graph.wait_again(tid, input_tid)
        else:  # a finished task made again: wait as a dependent anew
            self.graph.add(tid, Recipe.from_spec(entry.spec), {input_tid})
        if input_tid in self.table.pending or input_tid in self.graph.recipes:
            return  # already being made again
        if kept is None:
            self._fail(tid, RankFailedError(-1, "an input was lost with its worker"))
            return
        self._recompute(input_tid, kept)

    def _recompute(self, tid: int, kept: Kept) -> None:
        """Make a kept result lost with its worker again, from its spec."""
        ref = self.refs.get(tid)
        fut = ref() if ref is not None else None
        if fut is not None and not fut.done():
            self.futures[tid] = fut
        if not kept.spec:  # an actor call's result: its state cannot be made again
            err = "an actor call's result was lost with its worker"
            self._fail(tid, ActorDiedError("ActorDiedError", err, "", kept.holder))
            return
        if kept.attempts > self.table.max_retries or not self.live:
            self._fail(tid, RankFailedError(kept.holder, "lost with its result"))
            return
        where = self._where()
        self.table.placed(tid, kept.spec, where)
        self.table.pending[tid].attempts = kept.attempts + 1
        self._place(kept.spec, where)

    def fetched(self, tid: int, ok: bool, value: Any) -> None:
        """The value of a kept result this rank's future waits for."""
        ref = self.refs.get(tid)
        fut = ref() if ref is not None else None
        if fut is None or fut.done():
            return
        if ok:
            fut.set_result(value)
            return
        kept = self.graph.kept.pop(tid, None)  # the holder has it no more
        if kept is not None and tid not in self.table.pending:
            self._recompute(tid, kept)

    def _demand(self, tid: int) -> None:
        """A future of a kept result is awaited: fetch the value."""
        kept = self.graph.kept.get(tid)
        if kept is not None and tid in self.refs:
            self.data.fetch_for_origin(tid, kept.holder)

    def needed(self, tid: int) -> bool:
        """Whether a kept result is still wanted: a dependent needs it or
        a future waits for it."""
        if tid in self.graph.need:
            return True
        ref = self.refs.get(tid)
        fut = ref() if ref is not None else None
        return fut is not None and not fut.done()
