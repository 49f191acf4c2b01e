"""Functions by reference, and running one task.

A module-level function travels as ``[module, qualified name]`` and is
looked up on the worker (a function of the launched script is found in the
worker's ``__main__``, which runs the same script). Anything else (a
lambda, a closure, a bound method of a local object) travels pickled, and
only when the job allows pickle.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib
import inspect
import os
import reprlib
import sys
import traceback
from collections.abc import Callable
from typing import Any

from zmqmesh.errors import ActorDiedError, RemoteError

__all__ = [
    "as_remote_error",
    "describe_call",
    "fn_ref",
    "remote_error",
    "resolve",
    "run_chunk",
    "run_chunk_async",
    "weight",
]

_cache: dict[tuple[str, str], tuple[Callable[..., Any], bool]] = {}


def _lookup(module: str, qualname: str) -> Any:
    obj: Any = sys.modules.get(module) or importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def fn_ref(fn: Any, allow_pickle: bool) -> Any:
    """What travels for ``fn``: ``[module, qualname]`` when the name leads
    back to ``fn``, else ``fn`` itself (pickled by the codec if allowed).
    Raises ``TypeError`` for something that is not callable or cannot be
    sent by reference when pickle is off."""
    if not callable(fn):
        raise TypeError(f"a task must be callable, not {type(fn).__name__}")
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str) and "<" not in qualname:
        try:
            if _lookup(module, qualname) is fn:
                return [module, qualname]
        except (ImportError, AttributeError):
            pass
    if allow_pickle:
        return fn
    raise TypeError(
        f"task function {qualname or fn!r} is not a module-level function, so it "
        "cannot be sent by reference; define it at module level, or allow pickle "
        "(zmqmesh launch --pickle) to send it by value"
    )


def resolve(ref: Any) -> tuple[Callable[..., Any], bool]:
    """The function a reference names and whether it is a coroutine function."""
    if type(ref) is list and len(ref) == 2:
        key = (str(ref[0]), str(ref[1]))
        found = _cache.get(key)
        if found is None:
            fn = _lookup(*key)
            found = _cache[key] = (fn, inspect.iscoroutinefunction(fn))
        return found
    if not callable(ref):
        raise TypeError(f"task function arrived as {type(ref).__name__}, not a callable")
    return ref, inspect.iscoroutinefunction(ref)


_INTERNAL = (
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep,  # zmqmesh/
    os.path.dirname(asyncio.__file__) + os.sep,
    os.path.dirname(concurrent.futures.__file__) + os.sep,
)
_short = reprlib.Repr()
_short.maxstring, _short.maxother, _short.maxlist, _short.maxdict = 24, 24, 4, 4
_MAX_ARGS = 4  # arguments shown in a task's description


def describe_call(ref: Any, args: Any, kwargs: Any) -> str:
    """``name(arg, ..., key=value)`` of a task, each part abbreviated."""
    if type(ref) is list and len(ref) == 2:
        name = str(ref[1])
    else:
        name = getattr(ref, "__qualname__", None) or type(ref).__name__
    parts = [_short.repr(a) for a in list(args)[:_MAX_ARGS]]
    if isinstance(kwargs, dict):
        parts += [f"{k}={_short.repr(v)}" for k, v in list(kwargs.items())[:_MAX_ARGS]]
    extra = len(args) + (len(kwargs) if isinstance(kwargs, dict) else 0) - len(parts)
    if extra > 0:
        parts.append(f"... {extra} more")
    return f"{name}({', '.join(parts)})"


def _user_frames(exc: BaseException) -> str:
    """The traceback of ``exc`` without zmqmesh's and asyncio's frames."""
    te = traceback.TracebackException.from_exception(exc)
    for part in (te, te.__cause__, te.__context__):
        if part is not None:
            kept = [f for f in part.stack if not f.filename.startswith(_INTERNAL)]
            part.stack = traceback.StackSummary.from_list(kept)
    return "".join(te.format())


def remote_error(exc: BaseException, rank: int, task: str) -> list[Any]:
    """What travels back for a task that raised: type, message, traceback
    (the user's frames), the worker's rank and the task's description (of
    the item that raised, for a chunk of ``map``)."""
    task = getattr(exc, "_zmqmesh_task", None) or task
    return [type(exc).__qualname__, str(exc), _user_frames(exc), rank, task]


def as_remote_error(parts: Any) -> RemoteError:
    if type(parts) is list and len(parts) in (3, 5) and all(type(p) is str for p in parts[:3]):
        rank = parts[3] if len(parts) == 5 and type(parts[3]) is int else None
        task = parts[4] if len(parts) == 5 and type(parts[4]) is str else None
        cls = ActorDiedError if parts[0] == "ActorDiedError" else RemoteError
        return cls(parts[0], parts[1], parts[2], rank, task)
    return RemoteError("DecodeError", f"a malformed error report arrived: {parts!r:.200}", "")


_CHUNKS = frozenset({"run_chunk", "run_chunk_async"})


def weight(spec: list[Any]) -> int:
    """How many of the user's tasks a spec ``[tid, fn, args, kwargs]`` is:
    the items of a chunk of ``map``, else 1 (what ``Executor.stats`` counts)."""
    ref, args = spec[1], spec[2]
    if type(ref) is list and len(ref) == 2 and ref[0] == __name__ and ref[1] in _CHUNKS:
        try:
            return max(1, len(args[1]))
        except (IndexError, TypeError):
            return 1
    return 1


def _mark(exc: BaseException, ref: Any, item: Any) -> None:
    """Say which item of a chunk raised (``remote_error`` reads it)."""
    with contextlib.suppress(AttributeError, TypeError):
        exc._zmqmesh_task = describe_call(ref, item, {})  # type: ignore[attr-defined]


def run_chunk(ref: Any, items: list[Any]) -> list[Any]:
    """The task ``map`` sends for a chunk: the function over its argument
    tuples, in order."""
    fn = resolve(ref)[0]
    out = []
    for item in items:
        try:
            out.append(fn(*item))
        except BaseException as exc:
            _mark(exc, ref, item)
            raise
    return out


async def run_chunk_async(ref: Any, items: list[Any]) -> list[Any]:
    """``run_chunk`` for a coroutine function: one call after another."""
    fn = resolve(ref)[0]
    out = []
    for item in items:
        try:
            out.append(await fn(*item))
        except BaseException as exc:
            _mark(exc, ref, item)
            raise
    return out
