"""Results that stay where they were made, and moving them worker to worker.

Theory of operation. A worker that finishes a task of another rank whose
result is large (``policy.kept_size``) keeps the value in its ``store``
and tells the origin only its size (a RESULT item ``[tid, True, None,
nbytes]``). Whoever needs the value asks the holder for it (GET, a list of
task ids) and gets it (DATA, ``[[tid, ok, value], ...]``; not ok: the holder
no longer has it): the origin when one of its futures is awaited, or a
worker about to run a dependent task. A dependent's spec arrives as
``[tid, fn, args, kwargs, inputs]`` (``graph.Graph.spec``); it is *parked*
here until the inputs held elsewhere have come, then runs as a plain task.
When an input cannot come (its holder is lost, or no longer has it), the
dependent goes back to its origin as ``[tid, False, None, input tid]``,
which makes the input again from its lineage and sends the dependent anew.
The origin frees a kept value (FREE, a list of task ids) once no future and
no unfinished dependent refers to it.

Invariants: a parked dependent waits for each input in ``waiting``; each
input in ``waiting`` has one GET outstanding, to the holder in ``asked``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from zmqmesh.scheduler.graph import put_at
from zmqmesh.scheduler.policy import kept_size

if TYPE_CHECKING:
    import asyncio

__all__ = ["DataPlane", "Host"]

_ORIGIN_SHIFT = 40


class Host(Protocol):
    """What the data plane needs of its node (``node.Node``)."""

    rank: int
    loop: asyncio.AbstractEventLoop

    def send(self, dest: int, tag: int, obj: Any) -> bool: ...

    def ask(self, dest: int, tid: int) -> bool: ...

    def run_here(self, spec: list[Any]) -> None: ...

    def input_lost(self, tid: int, input_tid: int) -> None: ...

    def fetched(self, tid: int, ok: bool, value: Any, holder: int) -> None: ...

    def actor_handle(self, aid: int, rank: int, name: str) -> Any: ...


class _Parked:
    __slots__ = ("missing", "spec", "then", "values")

    def __init__(self, spec: list[Any], then: Callable[[list[Any] | None], None] | None) -> None:
        self.spec = spec
        self.then = then
        self.values: dict[int, Any] = {}
        self.missing = 0


class DataPlane:
    def __init__(self, host: Host, get_tag: int, data_tag: int) -> None:
        self.host = host
        self.get_tag = get_tag
        self.data_tag = data_tag
        self.store: dict[int, Any] = {}  # results kept on this rank
        self.parked: dict[int, _Parked] = {}  # dependents waiting for inputs
        self.waiting: dict[int, list[int]] = {}  # input tid -> parked tids
        self.asked: dict[int, int] = {}  # input tid -> the holder asked
        self.mine: set[int] = set()  # inputs this rank's own futures wait for
        self.bytes_in = 0  # estimated bytes of the values fetched by this rank

    # -- keeping -------------------------------------------------------------------
    def keep(self, item: list[Any]) -> list[Any]:
        """A finished task's result item, as it goes to its origin: a large
        result of another rank's task stays here."""
        if item[1] and item[0] >> _ORIGIN_SHIFT != self.host.rank:
            nbytes = kept_size(item[2])
            if nbytes:
                self.store[item[0]] = item[2]
                return [item[0], True, None, nbytes]
        return item

    def free(self, tids: list[int]) -> None:
        for tid in tids:
            self.store.pop(tid, None)

    def serve(self, source: int, tids: list[int]) -> None:
        """GET: send the values asked for (those gone as not ok)."""
        store = self.store
        items = [[t, True, store[t]] if t in store else [t, False, None] for t in tids]
        self.host.send(source, self.data_tag, items)

    # -- fetching --------------------------------------------------------------------
    def fetch_for_origin(self, tid: int, holder: int) -> None:
        """This rank's future of ``tid`` is awaited: get the value."""
        if holder == self.host.rank and tid in self.store:
            self.host.fetched(tid, True, self.store[tid], holder)
            return
        self.mine.add(tid)
        self._ask(tid, holder)

    def arrive(
        self, spec: list[Any], then: Callable[[list[Any] | None], None] | None = None
    ) -> None:
        """A dependent's spec to run here: fetch its inputs, then run it (or
        give ``then`` the spec with the values in place; None: an input was
        lost)."""
        tid, inputs = spec[0], spec[4]
        parked = _Parked(spec, then)
        ask = []
        for _, holder, t in inputs:
            if holder < 0:
                continue
            if t in self.store:
                parked.values[t] = self.store[t]
            elif t not in parked.values:
                parked.values[t] = _MISSING
                parked.missing += 1
                self.waiting.setdefault(t, []).append(tid)
                ask.append((t, holder))
        if not parked.missing:
            self._run(parked)
            return
        self.parked[tid] = parked
        for t, holder in ask:
            self._ask(t, holder)

    def _ask(self, tid: int, holder: int) -> None:
        if tid not in self.asked:
            self.asked[tid] = holder
            if not self.host.ask(holder, tid):
                del self.asked[tid]  # the holder is gone
                self._got(tid, False, None, holder)

    def data(self, source: int, items: list[list[Any]]) -> None:
        """DATA from a holder."""
        for t, ok, value in items:
            if self.asked.get(t) != source:
                continue
            del self.asked[t]
            self._got(t, ok, value, source)

    def _got(self, t: int, ok: bool, value: Any, holder: int) -> None:
        if ok:
            self.bytes_in += kept_size(value, 1)
        if t in self.mine:
            self.mine.discard(t)
            self.host.fetched(t, ok, value, holder)
        for tid in self.waiting.pop(t, ()):
            parked = self.parked.get(tid)
            if parked is None:
                continue
            if not ok:
                del self.parked[tid]
                if parked.then is not None:
                    parked.then(None)
                else:
                    self.host.input_lost(tid, t)
                continue
            if parked.values.get(t) is not _MISSING:
                # a second entry for this dependent: its spec came twice (sent
                # again after a loss or a steal) and took the place of the first
                continue
            parked.values[t] = value
            parked.missing -= 1
            if parked.missing == 0:
                del self.parked[tid]
                self._run(parked)

    def lost(self, rank: int) -> None:
        """Rank ``rank`` is gone: what was asked of it will not come."""
        for t in [t for t, h in self.asked.items() if h == rank]:
            del self.asked[t]
            self._got(t, False, None, rank)

    def forget_origin(self, origin: int) -> None:
        """Rank ``origin`` is gone: nobody waits for its parked tasks."""
        for tid in [t for t in self.parked if t >> _ORIGIN_SHIFT == origin]:
            parked = self.parked.pop(tid)
            if parked.then is not None:  # an actor's mailbox must not wait for it
                parked.then(None)

    def _run(self, parked: _Parked) -> None:
        tid, ref, args, kwargs, inputs = parked.spec
        args, kwargs = list(args), dict(kwargs)
        for path, holder, t in inputs:
            if holder == -2:  # an actor handle: [actor id, rank, name]
                put_at(args, kwargs, tuple(path), self.host.actor_handle(*t))
            elif len(path) == 1:
                put_at(args, kwargs, tuple(path), parked.values[t])
            else:  # nested: a done future holding the value
                value = _get_at(args, kwargs, path) if holder == -1 else parked.values[t]
                fut = self.host.loop.create_future()
                fut.set_result(value)
                put_at(args, kwargs, tuple(path), fut)
        if parked.then is not None:
            parked.then([tid, ref, args, kwargs])
        else:
            self.host.run_here([tid, ref, args, kwargs])


_MISSING = object()


def _get_at(args: list[Any], kwargs: dict[str, Any], path: list[Any]) -> Any:
    obj: Any = args if type(path[0]) is int else kwargs
    for step in path:
        obj = obj[step]
    return obj
