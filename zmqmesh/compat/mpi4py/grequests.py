"""Generalized requests (``MPI.Grequest``): operations the program itself
completes.

``Grequest.Start(query_fn, free_fn, cancel_fn, args, kwargs)`` returns a
request that completes once the program calls ``Complete()`` (or
``complete(obj)``, whose object ``wait``/``test`` then return), typically
from a thread doing the work. Completing it calls ``query_fn(status, *args,
**kwargs)`` to fill its status and then ``free_fn(*args, **kwargs)``;
``Cancel()`` calls ``cancel_fn(completed, *args, **kwargs)``. An exception
in a callback is printed and raised as ``MPI.Exception``, with the
exception's own error class when it is one, else ``ERR_OTHER``, as mpi4py
does. While a ``Wait`` waits, the layer's event loop keeps running.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import runner
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.requests import Request, _Op

__all__ = ["Grequest"]

# how long a Wait lets the loop run between looks at the completion flag
_POLL = 0.0005


class _GOp(_Op):
    """A generalized request's operation: done when the program says so."""

    __slots__ = ("args", "cancel_fn", "completed", "free_fn", "kwargs", "query_fn")

    def __init__(
        self,
        query_fn: Callable[..., Any] | None,
        free_fn: Callable[..., Any] | None,
        cancel_fn: Callable[..., Any] | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        super().__init__(None, None)
        self.query_fn, self.free_fn, self.cancel_fn = query_fn, free_fn, cancel_fn
        self.args, self.kwargs = args, kwargs
        self.completed = threading.Event()

    def ready(self) -> bool:
        return self.done or self.completed.is_set()

    def complete(self) -> None:
        if self.done:
            return
        while not self.completed.is_set():
            runner.poll(_POLL)
        self.done = True
        if self.query_fn is not None:
            _call(self.query_fn, self.status, *self.args, **self.kwargs)
        if self.free_fn is not None:
            _call(self.free_fn, *self.args, **self.kwargs)

    def cancel(self) -> None:
        if self.cancel_fn is not None:
            _call(self.cancel_fn, self.completed.is_set(), *self.args, **self.kwargs)


def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    try:
        fn(*args, **kwargs)
    except MPIException:
        traceback.print_exc()
        raise
    except Exception as exc:
        traceback.print_exc()
        raise MPIException(C.ERR_OTHER, f"request callback raised {type(exc).__name__}") from exc


class Grequest(Request):
    """A generalized request: the program completes it (``Complete``)."""

    __slots__ = ()

    def __new__(cls, other: Request | None = None) -> Any:
        if other is not None and not isinstance(other, Grequest) and other:
            raise TypeError(f"expected Grequest, got {type(other).__name__}")
        return super().__new__(cls, other)

    @classmethod
    def Start(
        cls,
        query_fn: Callable[..., Any] | None = None,
        free_fn: Callable[..., Any] | None = None,
        cancel_fn: Callable[..., Any] | None = None,
        args: Any = None,
        kwargs: Any = None,
    ) -> Grequest:
        """A new generalized request; the callbacks get ``*args, **kwargs``
        after their own arguments."""
        req: Grequest = cls()
        req._h = _GOp(query_fn, free_fn, cancel_fn, tuple(args or ()), dict(kwargs or {}))
        return req

    def _gop(self) -> _GOp:
        op = self._h
        if not isinstance(op, _GOp):
            raise MPIException(C.ERR_REQUEST, "Invalid MPI_Request (not an active generalized one)")
        return op

    def Complete(self) -> None:
        """Say that the operation is done: a ``Wait`` on it returns."""
        self._gop().completed.set()

    def complete(self, obj: Any = None) -> None:
        """Say that the operation is done (``Complete``), with ``obj`` as what
        ``wait``/``test`` return."""
        op = self._gop()
        op.value = obj
        op.completed.set()
