"""The origin's futures: what the state machine decides, done to asyncio futures.

A mixin of ``node.Node``. The decisions about task graphs (what waits for
what, where a dependent goes, who keeps a result, when it is freed, what is
made again) are the state machine's (``state.Origin``); this is the I/O
around them on the caller's side: finding the futures among a task's
arguments, settling futures as instructed, and watching the futures of
results kept on workers — weakly, so their garbage frees the value
(:class:`~zmqmesh.scheduler.state.FutureGone`), and through a hook that
fetches the value once someone waits for it (:class:`~zmqmesh.scheduler.state.Wanted`).
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any

from zmqmesh.scheduler.actors import ActorHandle
from zmqmesh.scheduler.futures import KeptFuture, TaskFuture, find_futures
from zmqmesh.scheduler.graph import without_futures
from zmqmesh.scheduler.state import Fetched, FutureGone, Released, Wanted

__all__ = ["Dependents", "Inputs"]

_SIMPLE = (int, float, str, bytes, bool, type(None))

# what a task's or call's event carries for the futures among its arguments:
# the arguments with holes, the inputs, the actor handles, the done inputs
Inputs = tuple[list[Any], dict[str, Any], tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]]


class Dependents:
    loop: asyncio.AbstractEventLoop
    futures: dict[int, asyncio.Future[Any]]
    refs: dict[int, weakref.ref[TaskFuture]]  # kept results' futures, weakly

    if TYPE_CHECKING:

        def _feed(self, event: Any) -> None: ...

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

    def _split(self, args: Any, kwargs: dict[str, Any], found: list[Any]) -> Inputs:
        """The arguments with a hole where each of ``found`` was, the
        inputs ``(path, tid)``, the actor handles as they travel
        (``[path, -2, [actor id, rank, name]]``, made anew there) and the
        outcomes of the inputs already done."""
        futs = [(p, f) for p, f in found if isinstance(f, TaskFuture)]
        if any(f.cancelled() for _, f in futs):
            raise ValueError("a cancelled or released future cannot be an argument")
        handles = tuple([list(p), -2, h._ref()] for p, h in found if isinstance(h, ActorHandle))
        a, kw = without_futures(args, kwargs, [p for p, _ in found])
        inputs = tuple((p, f._tid) for p, f in futs)
        done = tuple((f._tid, *_outcome(f)) for _, f in futs if f.done())
        return a, kw, inputs, handles, done

    # -- instructions ------------------------------------------------------------------
    def _settle(self, tid: int, ok: bool, value: Any, passed_on: bool = False) -> None:
        fut: asyncio.Future[Any] | None = self.futures.pop(tid, None)
        if fut is None:  # a kept result's future: its value came
            ref = self.refs.get(tid)
            fut = ref() if ref is not None else None
        if fut is None or fut.done():
            return
        if ok:
            fut.set_result(value)
            return
        fut.set_exception(value)
        if passed_on:  # its dependents took the error: not lost if unawaited
            fut.exception()

    def _keep(self, tid: int) -> None:
        """``tid``'s result stays on a worker: watch its future weakly, and
        fetch the value once someone waits for it."""
        fut = self.futures.pop(tid, None)
        if not isinstance(fut, TaskFuture):
            self._feed(FutureGone(tid))
            return
        self.refs[tid] = weakref.ref(fut, self._gone_soon(tid))
        if fut.done():
            return
        if fut._callbacks:  # already awaited
            self._feed(Wanted(tid))
        else:
            fut.__class__ = KeptFuture
            fut._hook = self._demand

    def _reopen(self, tid: int) -> None:
        ref = self.refs.get(tid)
        fut = ref() if ref is not None else None
        if fut is not None and not fut.done():
            self.futures[tid] = fut

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
            self._feed(FutureGone(tid))

    def _demand(self, tid: int) -> None:
        """A future of a kept result is awaited: fetch the value."""
        self._feed(Wanted(tid))

    def fetched(self, tid: int, ok: bool, value: Any, holder: int) -> None:
        """The value of a kept result this rank's future waits for (not
        ``ok``: ``holder`` does not have it)."""
        self._feed(Fetched(tid, ok, value, holder))

    def release(self, fut: Any) -> None:
        """``Executor.release``: see there."""
        if not isinstance(fut, TaskFuture) or fut._node is not self:
            raise ValueError("release() takes a future of this executor")
        tid = fut._tid
        fut._hook = None
        if not fut.done():
            fut.cancel()
        self.futures.pop(tid, None)
        self.refs.pop(tid, None)
        self._feed(Released(tid))


def _outcome(fut: asyncio.Future[Any]) -> tuple[bool, Any]:
    exc = fut.exception()
    return (False, exc) if exc is not None else (True, fut.result())
