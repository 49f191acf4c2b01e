"""Futures made of futures, as mpi4py's ``futures.aplus`` and
``futures.util`` make them: ``ThenableFuture.then``/``catch``
(Promises/A+), ``collect`` and ``compose``.

``then(f, on_success, on_failure)`` gives a new future of ``f``'s class,
completed once ``f`` is: with ``on_success(result)`` (the result itself
without it) or, when ``f`` failed or ``on_success`` raised,
``on_failure(exception)`` (the exception itself without it); a hook that
returns a future chains the new one to it (a future chained to itself,
or twice into one chain, fails it with ``RuntimeError``), one that
returns an exception fails it with that, one that raises fails it with
what it raised. Cancelling either side cancels the new one.

``collect(fs)`` gives a future of the list of the results of ``fs``, in
their order (a future named twice gives its result twice), failed by the
first failure, cancelled by a cancel on either side (cancelling it
cancels those not done). ``compose(f, resulthook, excepthook)`` gives a
future of ``resulthook(result)`` or ``excepthook(exception)`` (an
exception returned fails it); cancelling it cancels ``f``.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any

__all__ = ["ThenableFuture", "catch", "collect", "compose", "then"]

Hook = Callable[[Any], Any] | None


class ThenableFuture(Future):  # type: ignore[type-arg]
    """A ``Future`` with ``then`` and ``catch``."""

    def then(self, on_success: Hook = None, on_failure: Hook = None) -> Future[Any]:
        return then(self, on_success, on_failure)

    def catch(self, on_failure: Hook = None) -> Future[Any]:
        return catch(self, on_failure)


def then(future: Future[Any], on_success: Hook = None, on_failure: Hook = None) -> Future[Any]:
    """A new future completed from ``future`` by the hooks (see the module)."""
    new: Future[Any] = future.__class__()
    future.add_done_callback(lambda old: _settle(new, old, on_success, on_failure))
    return new


def catch(future: Future[Any], on_failure: Hook = None) -> Future[Any]:
    """``then(future, None, on_failure)``; without a hook a failure becomes
    the result None."""
    return then(future, None, on_failure if on_failure is not None else _none)


def _none(_: Any) -> None:
    return None


_chains_lock = threading.Lock()
_chains: weakref.WeakKeyDictionary[Future[Any], weakref.WeakSet[Future[Any]]] = (
    weakref.WeakKeyDictionary()
)


def _chain(new: Future[Any], old: Future[Any]) -> None:
    """Complete ``new`` as ``old`` completes; raises ``RuntimeError`` for a cycle."""
    if new is old:
        raise RuntimeError(f"chain cycle detected: Future {old} chained with itself")
    with _chains_lock:
        seen = _chains.setdefault(new, weakref.WeakSet())
        if old in seen:
            raise RuntimeError(f"chain cycle detected: Future {old} already in chain")
        seen.add(old)
    old.add_done_callback(lambda done: _settle(new, done, None, None))


def _settle(new: Future[Any], old: Future[Any], on_success: Hook, on_failure: Hook) -> None:
    if old.cancelled() or new.cancelled():
        new.cancel()
        new.set_running_or_notify_cancel()
        return
    failure = old.exception()
    if failure is None:
        try:
            value = on_success(old.result()) if on_success else old.result()
            if isinstance(value, Future):
                _chain(new, value)
            else:
                new.set_result(value)
            return
        except BaseException as exc:  # the hook's failure goes to on_failure
            failure = exc
    if not on_failure:
        new.set_exception(failure)
        return
    try:
        reason = on_failure(failure)
        if isinstance(reason, Future):
            _chain(new, reason)
        elif isinstance(reason, BaseException):
            new.set_exception(reason)
        else:
            new.set_result(reason)
    except BaseException as exc:
        new.set_exception(exc)


def collect(fs: Iterable[Future[Any]]) -> Future[Any]:
    """A future of the list of the results of ``fs`` (see the module)."""
    places: dict[Future[Any], list[int]] = {}
    for i, item in enumerate(fs):
        places.setdefault(item, []).append(i)
    if not places:
        empty: Future[Any] = Future()
        empty.set_result([])
        return empty
    out: Future[Any] = next(iter(places)).__class__()
    results: list[Any] = [None] * sum(map(len, places.values()))
    lock = threading.RLock()

    def item_done(item: Future[Any]) -> None:
        with lock:
            if item not in places or out.done():
                return
            if item.cancelled():
                out.cancel()
            elif item.exception() is not None:
                if out.set_running_or_notify_cancel():
                    out.set_exception(item.exception())
            else:
                for i in places.pop(item):
                    results[i] = item.result()
                if not places and out.set_running_or_notify_cancel():
                    out.set_result(results)

    def out_done(_: Future[Any]) -> None:
        with lock:
            rest = list(places)
            places.clear()
        for item in rest:
            item.cancel()
        if out.cancelled():
            out.set_running_or_notify_cancel()

    out.add_done_callback(out_done)
    for item in list(places):
        item.add_done_callback(item_done)
    return out


def compose(future: Future[Any], resulthook: Hook = None, excepthook: Hook = None) -> Future[Any]:
    """A future of ``resulthook(result)`` or ``excepthook(exception)`` (see the module)."""
    new: Future[Any] = future.__class__()

    def cancelled(done: Future[Any]) -> None:
        if done.cancelled():
            done.set_running_or_notify_cancel()
            future.cancel()

    def complete(old: Future[Any]) -> None:
        try:
            if old.cancelled():
                new.cancel()
                return
            failure = old.exception()
            if failure is not None:
                reason = excepthook(failure) if excepthook else failure
                if isinstance(reason, BaseException):
                    new.set_exception(reason)
                else:
                    new.set_result(reason)
            else:
                new.set_result(resulthook(old.result()) if resulthook else old.result())
        except BaseException as exc:
            new.set_exception(exc)

    new.add_done_callback(cancelled)
    future.add_done_callback(complete)
    return new
