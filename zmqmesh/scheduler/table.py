"""Pure bookkeeping of the tasks one rank submitted: where each one is.

The rank that submits a task (the root, or a worker whose task submits
nested ones) is its *origin* and owns its entry here. It learns every move
(a victim reports what it gave to whom) and every result, so when a worker
is lost it knows which of its tasks were queued or running there and runs
them again elsewhere, up to ``max_retries`` times. Reports of one task's
moves come from different victims, so they may arrive out of order (3 gives
it to 1, which gives it back to 3, and 1's report comes first): a report
from a victim that does not hold the task yet waits in ``early`` until the
move that brings it there. A victim's report may also arrive while the
tasks it gave are still on their way to the thief (the two messages go to
two ranks): if the victim dies then, the tasks may be lost with it, so the
tasks it last gave (``via``) run again too; a duplicate run's result is
taken once. A result that comes
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
    via: int = -1  # the victim that gave it to ``where``, if any


@dataclass
class TaskTable:
    max_retries: int
    pending: dict[int, Entry] = field(default_factory=dict)
    lost: set[int] = field(default_factory=set)  # workers known gone
    early: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # (victim, thief)

    def placed(self, tid: int, spec: list[object], where: int) -> None:
        self.pending[tid] = Entry(spec, where)
        self.early.pop(tid, None)

    def moved(self, tids: Iterable[int], to: int, victim: int = -1) -> list[int]:
        """Victim ``victim`` (-1: whoever holds them) gave tasks to worker
        ``to``; returns those that must run again because where they are
        now is already gone."""
        again = []
        for tid in tids:
            entry = self.pending.get(tid)
            if entry is None:
                continue
            if victim >= 0 and entry.where != victim:
                self.early.setdefault(tid, []).append((victim, to))
                continue
            entry.where, entry.via = to, entry.where
            hops = self.early.get(tid)
            while hops:  # the reports that came before this one
                nxt = next((h for h in hops if h[0] == entry.where), None)
                if nxt is None:
                    break
                hops.remove(nxt)
                entry.where, entry.via = nxt[1], entry.where
            if hops is not None and not hops:
                del self.early[tid]
            if entry.where in self.lost:
                again.append(tid)
        return again

    def done(self, tid: int) -> bool:
        """A result came; False if it is a duplicate (already taken)."""
        return self.take(tid) is not None

    def take(self, tid: int) -> Entry | None:
        """Task ``tid`` is no longer placed: its entry, if it was."""
        self.early.pop(tid, None)
        return self.pending.pop(tid, None)

    def worker_lost(self, rank: int) -> list[int]:
        """Worker ``rank`` is gone: the tasks it held, or last gave away
        (they may have been on their way), to run again."""
        self.lost.add(rank)
        return [tid for tid, e in self.pending.items() if rank in (e.where, e.via)]

    def rerun(self, tid: int, where: int) -> list[object] | None:
        """Place task ``tid`` again at ``where``; None (and the entry is
        dropped) when it has used up its attempts."""
        entry = self.pending[tid]
        if entry.attempts > self.max_retries:
            del self.pending[tid]
            return None
        entry.attempts += 1
        entry.where, entry.via = where, -1
        self.early.pop(tid, None)  # reports of the lost copy's moves
        return entry.spec
