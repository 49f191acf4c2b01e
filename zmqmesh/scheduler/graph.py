"""Pure bookkeeping of an origin's task graph: inputs, waiting, kept results.

Theory of operation. A task submitted with futures among its arguments is a
*dependent*; its origin keeps its :class:`Recipe` (the function, the
arguments with a hole where each future was, and each hole's input task id)
until it finishes. It waits here until every input has finished, then is
built into a spec and placed. An input that finished is either *inline*
(its value or error came back to the origin with its result: small values
do, as Ray inlines small objects) or *kept* on the worker that made it
(:class:`Kept`: the worker's rank and the value's size). A spec carries the
inline values in place and, for each kept input, ``[path, holder, tid]``,
so the worker running it fetches the value from the holder directly; the
task goes to the worker holding the most bytes of its inputs.

Invariants: ``need[t]`` counts the unfinished dependents that use ``t``;
an inline value stays in ``values`` exactly while ``need`` counts it; a
dependent is in ``waiters[t]`` for each unfinished input ``t`` it has, and
``missing`` counts those; a kept result is only recorded here, the value
stays on its worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Graph", "Kept", "Recipe", "put_at", "without_futures"]

Path = tuple[Any, ...]


@dataclass
class Recipe:
    """A dependent task: how to build its spec once its inputs are in."""

    ref: Any
    args: list[Any]
    kwargs: dict[str, Any]
    inputs: list[tuple[Path, int]]  # (where in the arguments, input task id)
    missing: int = 0  # inputs not finished yet
    inline: list[list[Any]] = field(default_factory=list)  # spec inputs kept as they are
    actor: int = 0  # an actor call's actor id; 0: a task
    attempts: int = 1  # its runs so far, counting this one (made again: more)

    @classmethod
    def from_spec(cls, spec: list[Any], attempts: int = 1) -> Recipe:
        """The recipe of a dependent's spec, to make its result again after
        its inputs' holders were lost (their inputs are made again too)."""
        inputs = [(tuple(p), t) for p, h, t in spec[4] if h >= 0]
        inline = [i for i in spec[4] if i[1] < 0]
        args, kwargs = list(spec[2]), dict(spec[3])
        return cls(spec[1], args, kwargs, inputs, inline=inline, attempts=attempts)


@dataclass
class Kept:
    """A result left on the worker that made it, and how to make it again."""

    holder: int
    nbytes: int
    spec: list[Any]
    attempts: int = 1


@dataclass
class Graph:
    recipes: dict[int, Recipe] = field(default_factory=dict)
    waiters: dict[int, list[int]] = field(default_factory=dict)
    need: dict[int, int] = field(default_factory=dict)
    values: dict[int, tuple[bool, Any]] = field(default_factory=dict)
    kept: dict[int, Kept] = field(default_factory=dict)
    lineage: dict[int, Kept] = field(default_factory=dict)  # lost, may be made again

    def add(self, tid: int, recipe: Recipe, unfinished: set[int]) -> bool:
        """A dependent arrives; ``unfinished`` are its inputs still running
        (the others must be in ``values`` or ``kept``). True: it may be
        placed now."""
        self.recipes[tid] = recipe
        for _, t in recipe.inputs:
            self.need[t] = self.need.get(t, 0) + 1
        for t in unfinished:
            self.waiters.setdefault(t, []).append(tid)
            recipe.missing += 1
        return recipe.missing == 0

    def wants(self, tid: int) -> bool:
        """Whether a dependent uses task ``tid``'s result."""
        return tid in self.need

    def finished(self, tid: int, ok: bool, value: Any) -> tuple[list[int], list[int]]:
        """Task ``tid`` finished inline (``value``, or its error when not
        ``ok``). Returns the dependents now ready to place, and those that
        fail because of it."""
        if tid in self.need:
            self.values[tid] = (ok, value)
        return self._wake(tid, ok)

    def kept_at(self, tid: int, kept: Kept) -> list[int]:
        """Task ``tid``'s result stays on ``kept.holder``: the dependents
        now ready to place."""
        self.kept[tid] = kept
        return self._wake(tid, True)[0]

    def _wake(self, tid: int, ok: bool) -> tuple[list[int], list[int]]:
        ready: list[int] = []
        failed: list[int] = []
        for d in self.waiters.pop(tid, ()):
            recipe = self.recipes.get(d)
            if recipe is None:
                continue
            recipe.missing -= 1
            if not ok:
                failed.append(d)
            elif recipe.missing == 0:
                ready.append(d)
        return ready, failed

    def error_of(self, tid: int) -> Any:
        """The first failed input of dependent ``tid``, or None."""
        for _, t in self.recipes[tid].inputs:
            got = self.values.get(t)
            if got is not None and not got[0]:
                return got[1]
        return None

    def spec(self, tid: int) -> tuple[list[Any], int, list[int]]:
        """The spec of a ready dependent ``[tid, fn, args, kwargs, inputs]``
        (``inputs``: ``[path, holder, input tid]``, holder -1 for a nested
        inline value, -2 for an actor handle), the worker holding most bytes of its inputs (-1:
        none) and the inputs it needs that are known to nobody (cancelled
        or released: the dependent cannot run)."""
        recipe = self.recipes[tid]
        args, kwargs = list(recipe.args), dict(recipe.kwargs)
        inputs: list[list[Any]] = list(recipe.inline)
        weights: dict[int, int] = {}
        gone: list[int] = []
        for path, t in recipe.inputs:
            kept = self.kept.get(t)
            if kept is not None:
                inputs.append([list(path), kept.holder, t])
                weights[kept.holder] = weights.get(kept.holder, 0) + kept.nbytes
            elif t in self.values:
                put_at(args, kwargs, path, self.values[t][1])
                if len(path) > 1:
                    inputs.append([list(path), -1, t])
            else:
                gone.append(t)
        best = max(weights, key=weights.__getitem__) if weights else -1
        return [tid, recipe.ref, args, kwargs, inputs], best, gone

    def done(self, tid: int) -> list[int]:
        """Dependent ``tid`` finished (or failed): its inputs lose a user.
        Returns the inputs that no dependent needs any more."""
        recipe = self.recipes.pop(tid, None)
        if recipe is None:
            return []
        unused = []
        for _, t in recipe.inputs:
            n = self.need.get(t, 0) - 1
            if n > 0:
                self.need[t] = n
                continue
            self.need.pop(t, None)
            self.values.pop(t, None)
            unused.append(t)
        for t in list(self.waiters) if recipe.missing else ():  # failed early
            if tid in self.waiters[t]:
                self.waiters[t].remove(tid)
                if not self.waiters[t]:
                    del self.waiters[t]
        return unused

    def wait_again(self, tid: int, input_tid: int) -> None:
        """Dependent ``tid`` could not get ``input_tid`` (its holder is
        lost): it waits for the input to be made again."""
        recipe = self.recipes.get(tid)
        if recipe is not None:
            self.waiters.setdefault(input_tid, []).append(tid)
            recipe.missing += 1

    def lost(self, rank: int) -> dict[int, Kept]:
        """Worker ``rank`` is gone: the kept results it held (dropped here)."""
        gone = {t: k for t, k in self.kept.items() if k.holder == rank}
        for t in gone:
            del self.kept[t]
        return gone


def without_futures(
    args: Any, kwargs: dict[str, Any], paths: list[Path]
) -> tuple[list[Any], dict[str, Any]]:
    """Copies of ``args`` and ``kwargs`` with None at each of ``paths``."""
    a, kw = list(args), dict(kwargs)
    for path in paths:
        put_at(a, kw, path, None)
    return a, kw


def put_at(args: list[Any], kwargs: dict[str, Any], path: Path, value: Any) -> None:
    """Put ``value`` at ``path`` in ``args`` or ``kwargs`` (changed in
    place); the containers on the way down are copies, of the same type."""
    top: Any = args if type(path[0]) is int else kwargs
    step = path[0]
    top[step] = value if len(path) == 1 else _put(top[step], path[1:], value)


def _put(container: Any, path: Path, value: Any) -> Any:
    step = path[0]
    new = value if len(path) == 1 else _put(container[step], path[1:], value)
    copy: Any = dict(container) if type(container) is dict else list(container)
    copy[step] = new
    return tuple(copy) if type(container) is tuple else copy
