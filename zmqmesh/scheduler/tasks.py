"""Functions by reference, and running one task.

A module-level function travels as ``[module, qualified name]`` and is
looked up on the worker (a function of the launched script is found in the
worker's ``__main__``, which runs the same script). Anything else (a
lambda, a closure, a bound method of a local object) travels pickled, and
only when the job allows pickle.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import traceback
from collections.abc import Callable
from typing import Any

from zmqmesh.errors import RemoteError

__all__ = ["as_remote_error", "fn_ref", "remote_error", "resolve", "run_chunk", "run_chunk_async"]

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


def remote_error(exc: BaseException) -> list[str]:
    """What travels back for a task that raised: type, message, traceback."""
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return [type(exc).__qualname__, str(exc), tb]


def as_remote_error(parts: Any) -> RemoteError:
    if type(parts) is list and len(parts) == 3 and all(type(p) is str for p in parts):
        return RemoteError(parts[0], parts[1], parts[2])
    return RemoteError("DecodeError", f"a malformed error report arrived: {parts!r:.200}", "")


def run_chunk(ref: Any, items: list[Any]) -> list[Any]:
    """The task ``map`` sends for a chunk: the function over its argument
    tuples, in order."""
    fn = resolve(ref)[0]
    return [fn(*item) for item in items]


async def run_chunk_async(ref: Any, items: list[Any]) -> list[Any]:
    """``run_chunk`` for a coroutine function: one call after another."""
    fn = resolve(ref)[0]
    return [await fn(*item) for item in items]
