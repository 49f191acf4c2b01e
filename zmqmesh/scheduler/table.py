"""Pure bookkeeping of the tasks one rank submitted: where each one is.

The rank that submits a task (the root, or a worker whose task submits
nested ones) is its *origin* and owns its entry here. It learns every move
(a victim reports what it gave to whom) and every result, so when a worker
is lost it knows which of its tasks were queued or running there and runs
them again elsewhere, up to ``max_retries`` times. A result that comes
twice (a task re-run whose first run was not lost after all) is taken once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Entry", "TaskTable"]


@dataclass
class Entry:
    """One pending task: what to send again and where it is now."""

    spec: list[object]  # the task as sent: [tid, fn, args, kwargs]
    where: int  # the worker holding it (queued or running)
    attempts: int = 1


@dataclass
class TaskTable:
    max_retries: int
    pending: dict[int, Entry] = field(default_factory=dict)
    lost: set[int] = field(default_factory=set)  # workers known gone

    def placed(self, tid: int, spec: list[object], where: int) -> None:
        self.pending[tid] = Entry(spec, where)

    def moved(self, tids: Iterable[int], to: int) -> list[int]:
        """Tasks went to worker ``to``; returns those that must run again
        because ``to`` is already gone."""
        again = []
        for tid in tids:
            entry = self.pending.get(tid)
            if entry is not None:
                entry.where = to
                if to in self.lost:
                    again.append(tid)
        return again

    def done(self, tid: int) -> bool:
        """A result came; False if it is a duplicate (already taken)."""
        return self.pending.pop(tid, None) is not None

    def worker_lost(self, rank: int) -> list[int]:
        """Worker ``rank`` is gone: the tasks it held, to run again."""
        self.lost.add(rank)
        return [tid for tid, e in self.pending.items() if e.where == rank]

    def rerun(self, tid: int, where: int) -> list[object] | None:
        """Place task ``tid`` again at ``where``; None (and the entry is
        dropped) when it has used up its attempts."""
        entry = self.pending[tid]
        if entry.attempts > self.max_retries:
            del self.pending[tid]
            return None
        entry.attempts += 1
        entry.where = where
        return entry.spec
