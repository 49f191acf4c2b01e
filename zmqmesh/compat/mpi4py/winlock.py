"""The passive-target lock of one rank's window; pure (no I/O).

Theory of operation. Each rank keeps one :class:`LockTable` for each of
its windows. An origin's ``Win.Lock`` asks for the lock (``lock``) and an
``Unlock`` gives it back (``unlock``); both return the origins whose
requests are granted by that event, in the order they asked, and the
window's service answers exactly those. Requests are granted first come,
first served: a shared request behind a waiting exclusive one waits too,
so a writer is never starved by a stream of readers.

Invariants: the lock is held either by one exclusive holder and nobody
else, or by shared holders only; a request is granted once; ``waiting``
never holds an origin that holds the lock already.
"""

from __future__ import annotations

from collections import Counter, deque

from zmqmesh.compat.mpi4py import constants as C

__all__ = ["LockError", "LockTable"]


class LockError(Exception):
    """A lock call the table cannot take (unlocking what is not held, an
    unknown lock type, asking twice)."""


class LockTable:
    """Who holds one window's lock and who waits for it."""

    __slots__ = ("exclusive", "shared", "waiting")

    def __init__(self) -> None:
        self.exclusive: int | None = None
        self.shared: Counter[int] = Counter()
        self.waiting: deque[tuple[int, int]] = deque()

    def __repr__(self) -> str:
        return (
            f"LockTable(exclusive={self.exclusive}, shared={dict(self.shared)}, "
            f"waiting={list(self.waiting)})"
        )

    def holds(self, origin: int) -> bool:
        """Whether ``origin`` holds the lock (either kind)."""
        return self.exclusive == origin or self.shared[origin] > 0

    def lock(self, origin: int, kind: int) -> list[int]:
        """``origin`` asks for the lock of ``kind`` (``LOCK_EXCLUSIVE`` or
        ``LOCK_SHARED``); the origins granted now. Raises :class:`LockError`
        for another kind, or when ``origin`` holds or waits for it already."""
        if kind not in (C.LOCK_EXCLUSIVE, C.LOCK_SHARED):
            raise LockError(f"invalid lock type {kind}")
        if self.holds(origin) or any(o == origin for o, _ in self.waiting):
            raise LockError(f"rank {origin} holds or waits for this lock already")
        self.waiting.append((origin, kind))
        return self._grant()

    def unlock(self, origin: int) -> list[int]:
        """``origin`` gives the lock back; the origins granted now. Raises
        :class:`LockError` when ``origin`` does not hold it."""
        if self.exclusive == origin:
            self.exclusive = None
        elif self.shared[origin] > 0:
            self.shared[origin] -= 1
            if not self.shared[origin]:
                del self.shared[origin]
        else:
            raise LockError(f"rank {origin} does not hold this lock")
        return self._grant()

    def _grant(self) -> list[int]:
        granted: list[int] = []
        while self.waiting and self.exclusive is None:
            origin, kind = self.waiting[0]
            if kind == C.LOCK_EXCLUSIVE:
                if self.shared:
                    break
                self.exclusive = origin
            else:
                self.shared[origin] += 1
            self.waiting.popleft()
            granted.append(origin)
        return granted
