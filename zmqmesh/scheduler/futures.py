"""The futures an executor returns, and finding them among a task's arguments.

A :class:`TaskFuture` is an ``asyncio.Future`` that knows its task id and
its node. Its result may stay on the worker that made it (see
``data``); then the future becomes a :class:`KeptFuture`, not done until
someone waits for it, which the node learns through
:meth:`KeptFuture.add_done_callback` (what ``await``, ``gather``, ``wait``
and ``as_completed`` all call) and answers by fetching the value. Only
those pay for the Python-level override.

Arguments: a future passed as a top-level argument of ``submit`` or of an
actor call is replaced by its value on the worker; one nested in lists,
tuples or dicts arrives as a done future holding the value. A *path* says
where a future sits: ``(i,)`` the i-th positional argument, ``(key,)`` a
keyword argument, longer paths go down into containers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

__all__ = ["KeptFuture", "TaskFuture", "find_futures"]

Path = tuple[Any, ...]


class TaskFuture(asyncio.Future[Any]):
    """The future of a task or an actor call (see the module docstring)."""

    _tid: int = 0
    _node: object = None
    _hook: Callable[[int], None] | None = None

    def __reduce__(self) -> Any:
        raise TypeError(
            "an executor's future cannot travel inside a message; pass it as an "
            "argument of submit or of an actor call, which sends its value"
        )


class KeptFuture(TaskFuture):
    """A :class:`TaskFuture` whose result waits on a worker; ``_hook`` is
    called once, by the first waiter, so the value comes only when wanted."""

    def add_done_callback(self, fn: Any, *, context: Any = None) -> None:
        hook = self._hook
        if hook is not None:
            self._hook = None
            if not self.done():
                hook(self._tid)
        super().add_done_callback(fn, context=context)


def find_futures(
    args: Any, kwargs: dict[str, Any], nested: bool, kinds: Any = TaskFuture
) -> list[tuple[Path, Any]]:
    """The futures (or other objects of ``kinds``) among ``args`` and
    ``kwargs`` with their paths; with ``nested``, also inside lists, tuples
    and dicts."""
    found: list[tuple[Path, Any]] = []
    for i, a in enumerate(args):
        _scan((i,), a, found, nested, kinds)
    for k, v in kwargs.items():
        _scan((k,), v, found, nested, kinds)
    return found


def _scan(path: Path, obj: Any, found: list[tuple[Path, Any]], nested: bool, kinds: Any) -> None:
    if isinstance(obj, kinds):
        found.append((path, obj))
    elif nested and type(obj) in (list, tuple):
        for i, x in enumerate(obj):
            _scan((*path, i), x, found, nested, kinds)
    elif nested and type(obj) is dict:
        for k, v in obj.items():
            _scan((*path, k), v, found, nested, kinds)
