"""``mpi4py.util.sync``: sequential execution, a global counter, mutual
exclusion, condition variables and semaphores across the ranks of a
communicator, with mpi4py's interface and semantics.

``Sequential`` passes a token from rank to rank with point-to-point
messages, as mpi4py's. The others keep their state on one rank (the
counter's ``root``, rank 0 of the communicator for the rest), which serves
every rank by messages on a duplicate of the communicator, where mpi4py
uses one-sided windows (see ``_service``: the root answers while its
program computes, by the layer's progress thread). Constructors and
``free`` are collective over ``comm``; an object not freed is stopped
at exit. Using an object after ``free`` raises ``RuntimeError``. As in
mpi4py's examples, the communicator may also come first:
``Counter(comm)``, ``Mutex(comm)``, ``Condition(comm)``, ``Semaphore(comm)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Self, TypeVar

import numpy as np

from zmqmesh.compat.mpi4py.comm import COMM_SELF, Comm
from zmqmesh.compat.mpi4py.util._service import Service, intracomm
from zmqmesh.compat.mpi4py.util._syncstate import (
    CounterState,
    MutexState,
    SemaphoreState,
    WaitersState,
)

__all__ = ["Condition", "Counter", "Mutex", "Semaphore", "Sequential"]

T = TypeVar("T")


class Sequential:
    """Run a block one rank at a time, in rank order: rank ``i`` enters
    once rank ``i - 1`` has left (``with Sequential(comm): ...``)."""

    def __init__(self, comm: Any, tag: int = 0) -> None:
        self.comm = intracomm(comm, "Sequential")
        self.tag = int(tag)

    def __enter__(self) -> Sequential:
        self.begin()
        return self

    def __exit__(self, *exc: object) -> None:
        self.end()

    def begin(self) -> None:
        """Wait until the previous rank has run its block."""
        rank = self.comm.Get_rank()
        if rank > 0:
            self.comm.Recv([None, "B"], rank - 1, self.tag)

    def end(self) -> None:
        """Let the next rank run its block."""
        rank, size = self.comm.Get_rank(), self.comm.Get_size()
        if rank < size - 1:
            self.comm.Send([None, "B"], rank + 1, self.tag)


class _Held:
    """``with obj:`` acquires ``obj`` and releases it on the way out."""

    def acquire(self, blocking: bool = True) -> bool:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Counter:
    """Consecutive values shared by the ranks of ``comm``, as
    ``itertools.count``: each ``next`` returns the current value and
    advances it by ``step`` (or ``incr``), atomically across ranks. The
    value is a C integer of ``typecode`` (it wraps as one)."""

    def __init__(
        self,
        start: int = 0,
        step: int = 1,
        *,
        typecode: str = "i",
        comm: Any = COMM_SELF,
        info: Any = None,
        root: int = 0,
    ) -> None:
        if isinstance(start, Comm):  # Counter(comm), as mpi4py's examples write it
            start, comm = 0, start
        comm = intracomm(comm, "Counter")
        try:
            dt = np.dtype(typecode)
        except TypeError:
            raise ValueError(f"Counter: typecode {typecode!r} is not a type code") from None
        if dt.kind not in "iuf":
            raise ValueError(f"Counter: typecode {typecode!r} is not a number type")
        if dt.kind == "f":  # a floating-point counter, as mpi4py's 'f' and 'd'
            self._step: int | float = float(step)
            machine = CounterState(float(start))
        else:
            self._step = int(step)
            machine = CounterState(int(start), dt.itemsize * 8, dt.kind == "i")
            machine.value = machine._wrap(machine.value)
        self._service = Service(comm, root, machine if comm.Get_rank() == root else None)

    def __iter__(self) -> Counter:
        return self

    def __next__(self) -> int:
        return self.next()

    def next(self, incr: int | float | None = None) -> int:
        """The current value; the counter advances by ``incr`` (default ``step``)."""
        step = self._step if incr is None else incr if type(self._step) is float else int(incr)
        value: int = self._service.call(("next", step))
        return value

    def free(self) -> None:
        """Collective: release the counter."""
        self._service.free()


class Mutex(_Held):
    """Mutual exclusion among the ranks of ``comm``, as ``threading.Lock``
    (``threading.RLock`` with ``recursive``). Blocked acquirers are served
    in arrival order. Acquiring a held non-recursive mutex again, or
    releasing one not held, raises ``RuntimeError``."""

    def __init__(self, comm: Any = COMM_SELF, *, recursive: bool = False, info: Any = None) -> None:
        comm = intracomm(comm, "Mutex")
        self._recursive = bool(recursive)
        self._count = 0
        self._service = Service(comm, 0, MutexState() if comm.Get_rank() == 0 else None)

    def _check(self) -> None:
        if self._service.freed:
            raise RuntimeError("the mutex has been freed")

    def acquire(self, blocking: bool = True) -> bool:
        """Acquire the mutex, waiting for it if ``blocking``; whether it was acquired."""
        self._check()
        if self._count:
            if not self._recursive:
                raise RuntimeError("cannot acquire already held mutex")
            self._count += 1
            return True
        got: bool = self._service.call(("acquire", bool(blocking)))
        if got:
            self._count = 1
        return got

    def release(self) -> None:
        """Release the mutex (one level of a recursive one)."""
        self._check()
        if not self._count:
            raise RuntimeError("cannot release unacquired mutex")
        if self._count == 1:
            self._service.call(("release",))
        self._count -= 1

    def locked(self) -> bool:
        """Whether some rank holds the mutex."""
        self._check()
        if self._count:
            return True
        held: bool = self._service.call(("locked",))
        return held

    def count(self) -> int:
        """How many times this rank holds the mutex (0 when it does not)."""
        self._check()
        return self._count

    def free(self) -> None:
        """Collective: release the mutex's resources (again: nothing)."""
        self._service.free()
        self._count = 0


class Condition(_Held):
    """A condition variable among the ranks of ``comm``, as
    ``threading.Condition``, over ``mutex`` (default: a new one, recursive
    if ``recursive``). ``wait``/``notify`` need the mutex held
    (``RuntimeError`` otherwise); waiters are woken in the order they waited."""

    def __init__(
        self,
        mutex: Mutex | None = None,
        *,
        recursive: bool = True,
        comm: Any = COMM_SELF,
        info: Any = None,
    ) -> None:
        if isinstance(mutex, Comm):  # Condition(comm)
            mutex, comm = None, mutex
        if mutex is None:
            self._mutex, self._own = Mutex(comm, recursive=recursive), True
        elif isinstance(mutex, Mutex):
            self._mutex, self._own = mutex, False
            comm = mutex._service._live_comm()
        else:
            raise TypeError(f"Condition: mutex must be a Mutex, not {type(mutex).__name__}")
        comm = intracomm(comm, "Condition")
        self._service = Service(comm, 0, WaitersState() if comm.Get_rank() == 0 else None)

    def _check(self) -> None:
        if self._service.freed:
            raise RuntimeError("the condition has been freed")

    def acquire(self, blocking: bool = True) -> bool:
        """Acquire the underlying mutex."""
        self._check()
        return self._mutex.acquire(blocking)

    def release(self) -> None:
        """Release the underlying mutex."""
        self._check()
        self._mutex.release()

    def locked(self) -> bool:
        """Whether some rank holds the underlying mutex."""
        self._check()
        return self._mutex.locked()

    def wait(self) -> Literal[True]:
        """Release the mutex, wait until notified, and hold it again (at the
        same recursion level); True."""
        self._check()
        levels = self._mutex.count()
        if not levels:
            raise RuntimeError("cannot wait on un-acquired lock")
        # Registered as a waiter while still holding the mutex: a notify
        # made after this rank lets go finds it, so no wake-up is lost.
        self._service.call(("wait",))
        self._mutex._count = 1
        self._mutex.release()
        self._service.notified()
        self._mutex.acquire()
        self._mutex._count = levels
        return True

    def wait_for(self, predicate: Callable[[], T]) -> T:
        """Wait until ``predicate()`` is true; its last value."""
        self._check()
        result = predicate()
        while not result:
            self.wait()
            result = predicate()
        return result

    def notify(self, n: int = 1) -> int:
        """Wake up to ``n`` waiting ranks; how many were woken."""
        self._check()
        if not self._mutex.count():
            raise RuntimeError("cannot notify on un-acquired lock")
        woken: int = self._service.call(("notify", int(n)))
        return woken

    def notify_all(self) -> int:
        """Wake every waiting rank; how many were woken."""
        self._check()
        if not self._mutex.count():
            raise RuntimeError("cannot notify on un-acquired lock")
        woken: int = self._service.call(("notify", None))
        return woken

    def free(self) -> None:
        """Collective: release the condition (and the mutex it made)."""
        self._service.free()
        if self._own:
            self._mutex.free()


class Semaphore(_Held):
    """A counting semaphore among the ranks of ``comm``, as
    ``threading.BoundedSemaphore`` (``threading.Semaphore`` unless
    ``bounded``): releasing past the initial ``value`` raises ``ValueError``."""

    def __init__(
        self, value: int = 1, *, bounded: bool = True, comm: Any = COMM_SELF, info: Any = None
    ) -> None:
        if isinstance(value, Comm):  # Semaphore(comm)
            value, comm = 1, value
        if int(value) < 0:
            raise ValueError("semaphore initial value must be >= 0")
        comm = intracomm(comm, "Semaphore")
        machine = SemaphoreState(int(value), int(value))
        self._service = Service(comm, 0, machine if comm.Get_rank() == 0 else None)
        self._bounded = bool(bounded)  # (per call, as mpi4py's attribute)
        self._counter = _Units(self._service)

    def acquire(self, blocking: bool = True) -> bool:
        """Take one unit, waiting for it if ``blocking``; whether one was taken."""
        got: bool = self._service.call(("acquire", bool(blocking)))
        return got

    def release(self, n: int = 1) -> None:
        """Give back ``n`` units (``ValueError`` if ``n < 1`` or past the bound)."""
        if int(n) < 1:
            raise ValueError("n must be one or more")
        self._service.call(("release", int(n), self._bounded))

    def free(self) -> None:
        """Collective: release the semaphore."""
        self._service.free()


class _Units:
    """A semaphore's value as mpi4py's ``Semaphore._counter``: ``next(incr)``
    gives it and adds ``incr``."""

    def __init__(self, service: Service) -> None:
        self._service = service

    def next(self, incr: int = 1) -> int:
        value: int = self._service.call(("count", int(incr)))
        return value
