"""A worker's deque of tasks: where new work goes and what a thief gets.

Tasks placed by an origin join the tail; tasks the worker's own running
tasks submit (nested, fork-join) join the head, so the worker runs them
next (work-first, as in Cilk) while thieves take from the tail, where the
oldest and in fork-join the largest pieces of work are. A thief gets half
of the work the two hold (``policy.steal_count``); the victim tells each
loot task's origin where it went (``by_origin``). Not thread-safe: the
worker holds its lock around every call.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from zmqmesh.scheduler.policy import steal_count

__all__ = ["ORIGIN_SHIFT", "TaskQueue", "by_origin", "origin_of"]

ORIGIN_SHIFT = 40  # a task id carries its origin's rank in its high bits


def origin_of(tid: int) -> int:
    return tid >> ORIGIN_SHIFT


def by_origin(specs: list[list[Any]]) -> dict[int, list[int]]:
    """The task ids of ``specs``, grouped by origin, in order."""
    out: dict[int, list[int]] = {}
    for spec in specs:
        out.setdefault(spec[0] >> ORIGIN_SHIFT, []).append(spec[0])
    return out


class TaskQueue:
    __slots__ = ("dq",)

    def __init__(self) -> None:
        self.dq: deque[list[Any]] = deque()

    def __len__(self) -> int:
        return len(self.dq)

    def __bool__(self) -> bool:
        return bool(self.dq)

    def head(self) -> list[Any]:
        return self.dq[0]

    def push_tail(self, specs: list[list[Any]]) -> None:
        self.dq.extend(specs)

    def push_head(self, spec: list[Any]) -> None:
        self.dq.appendleft(spec)

    def pop(self) -> list[Any]:
        """The task to run next."""
        return self.dq.popleft()

    def give(self, running: bool, thief_busy: bool = False) -> list[list[Any]]:
        """A thief asks: half of the work, from the tail, oldest first."""
        n = steal_count(len(self.dq), running, thief_busy)
        loot = [self.dq.pop() for _ in range(n)]
        loot.reverse()
        return loot

    def forget_origin(self, origin: int) -> None:
        """Rank ``origin`` is gone: nobody waits for its queued tasks."""
        keep = [s for s in self.dq if s[0] >> ORIGIN_SHIFT != origin]
        self.dq.clear()
        self.dq.extend(keep)

    def clear(self) -> None:
        self.dq.clear()
