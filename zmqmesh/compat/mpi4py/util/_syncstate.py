"""The state of ``mpi4py.util.sync``'s shared objects, held by one rank;
pure (no I/O).

Theory of operation. mpi4py keeps a counter, a mutex's queue, a
condition's waiters and a semaphore's value in one-sided windows; the
layer has none, so one rank (the *root*) holds them in one of these
machines and serves the others by messages. A request from rank ``src``
goes in through ``handle(src, request)``, which returns the instructions:
``(dest, kind, answer)`` triples, ``kind`` being ``REPLY`` (the answer to
``dest``'s pending request) or ``NOTIFY`` (a condition's wake-up). A
request that cannot be answered yet (a blocking ``acquire`` of a held
mutex, of a semaphore at zero) is answered later, by the instruction
list of the request that makes it possible, first come first served.
A request that breaks a rule is answered ``("error", type name, text)``,
and the state does not change.

Invariants: a mutex's ``owner`` is None exactly when its queue is empty
and nobody holds it; every rank in a queue has one request pending and
gets exactly one answer; a bounded semaphore's value plus the waiters it
woke never exceed its initial value.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "NOTIFY",
    "REPLY",
    "CounterState",
    "Instruction",
    "MutexState",
    "SemaphoreState",
    "WaitersState",
    "error",
]

REPLY = "reply"
NOTIFY = "notify"

Instruction = tuple[int, str, Any]


def error(src: int, kind: type[Exception], text: str) -> list[Instruction]:
    """The answer that makes ``src``'s call raise ``kind(text)``."""
    return [(src, REPLY, ("error", kind.__name__, text))]


def _unknown(src: int, request: Any) -> list[Instruction]:
    return error(src, ValueError, f"unknown request {request!r}")


@dataclass(slots=True)
class CounterState:
    """A counter of ``bits`` (0: unbounded) wrapping as a C integer of
    that many bits does (``signed`` or not)."""

    value: int | float
    bits: int = 0  # (0 also for a floating-point counter)
    signed: bool = True

    def handle(self, src: int, request: Any) -> list[Instruction]:
        if not (isinstance(request, tuple) and request[:1] == ("next",) and len(request) == 2):
            return _unknown(src, request)
        old = self.value
        incr = request[1]
        self.value = self._wrap(old + (incr if type(old) is float else int(incr)))
        return [(src, REPLY, old)]

    def _wrap(self, v: Any) -> Any:
        if not self.bits:
            return v
        v &= (1 << self.bits) - 1
        if self.signed and v >= 1 << (self.bits - 1):
            v -= 1 << self.bits
        return v


@dataclass(slots=True)
class MutexState:
    """A fair mutex: blocking acquirers are served in arrival order."""

    owner: int | None = None
    queue: deque[int] = field(default_factory=deque)

    def handle(self, src: int, request: Any) -> list[Instruction]:
        if request == ("acquire", True):
            if self.owner is None:
                self.owner = src
                return [(src, REPLY, True)]
            if self.owner == src or src in self.queue:
                return error(src, RuntimeError, "cannot acquire already held mutex")
            self.queue.append(src)
            return []
        if request == ("acquire", False):
            if self.owner is None:
                self.owner = src
                return [(src, REPLY, True)]
            return [(src, REPLY, False)]
        if request == ("release",):
            if self.owner != src:
                return error(src, RuntimeError, "cannot release unacquired mutex")
            out: list[Instruction] = [(src, REPLY, None)]
            self.owner = self.queue.popleft() if self.queue else None
            if self.owner is not None:
                out.append((self.owner, REPLY, True))
            return out
        if request == ("locked",):
            return [(src, REPLY, self.owner is not None)]
        return _unknown(src, request)


@dataclass(slots=True)
class WaitersState:
    """A condition variable's waiters, woken in the order they waited."""

    waiting: deque[int] = field(default_factory=deque)

    def handle(self, src: int, request: Any) -> list[Instruction]:
        if request == ("wait",):
            self.waiting.append(src)
            return [(src, REPLY, None)]
        if isinstance(request, tuple) and request[:1] == ("notify",) and len(request) == 2:
            n = len(self.waiting) if request[1] is None else max(0, int(request[1]))
            woken = [self.waiting.popleft() for _ in range(min(n, len(self.waiting)))]
            return [(src, REPLY, len(woken))] + [(w, NOTIFY, None) for w in woken]
        return _unknown(src, request)


@dataclass(slots=True)
class SemaphoreState:
    """A counting semaphore; ``bound`` (None: unbounded) caps its value."""

    value: int
    bound: int | None = None
    queue: deque[int] = field(default_factory=deque)

    def handle(self, src: int, request: Any) -> list[Instruction]:
        if request in (("acquire", True), ("acquire", False)):
            if self.value > 0:
                self.value -= 1
                return [(src, REPLY, True)]
            if request[1]:
                self.queue.append(src)
                return []
            return [(src, REPLY, False)]
        if isinstance(request, tuple) and request[:1] == ("count",) and len(request) == 2:
            old = self.value  # (mpi4py's Semaphore._counter.next(incr))
            self.value += int(request[1])
            return [(src, REPLY, old)]
        if isinstance(request, tuple) and request[:1] == ("release",) and len(request) in (2, 3):
            n = int(request[1])
            bounded = len(request) == 2 or bool(request[2])
            if n < 1:
                return error(src, ValueError, "n must be one or more")
            woken = min(n, len(self.queue))
            if bounded and self.bound is not None and self.value + n - woken > self.bound:
                return error(src, ValueError, "semaphore released too many times")
            out: list[Instruction] = [(src, REPLY, None)]
            out += [(self.queue.popleft(), REPLY, True) for _ in range(woken)]
            self.value += n - woken
            return out
        return _unknown(src, request)
