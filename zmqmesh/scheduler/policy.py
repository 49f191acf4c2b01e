"""Pure work-stealing policy: whom to rob, how much, how long to wait.

Follows the randomized work stealing of Blumofe and Leiserson ("Scheduling
multithreaded computations by work stealing", JACM 1999): an idle worker
picks a victim uniformly at random and takes half of its queued tail (the
oldest, in fork-join the largest, pieces of work); a refused thief backs off
exponentially so idle workers do not flood busy ones with requests.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

__all__ = ["Backoff", "choose_victim", "may_spin", "result_now", "steal_count"]


def steal_count(queued: int, running: bool) -> int:
    """How many of ``queued`` tasks a victim gives a thief: half of all the
    work it holds (its running task counts), never the task it would run
    next when it is idle."""
    if queued < 0:
        raise ValueError(f"queued must be >= 0, got {queued}")
    return min(queued, (queued + int(running)) // 2)


def choose_victim(rng: random.Random, me: int, workers: Sequence[int]) -> int | None:
    """A random worker other than ``me``, or None if there is none."""
    others = [w for w in workers if w != me]
    return rng.choice(others) if others else None


class Backoff:
    """Exponential back-off between refused steal attempts: ``first``
    seconds, doubling up to ``limit``; a successful steal resets it."""

    __slots__ = ("delay", "first", "limit")

    def __init__(self, first: float = 0.0005, limit: float = 0.02) -> None:
        if not 0 < first <= limit:
            raise ValueError(f"need 0 < first <= limit, got {first}, {limit}")
        self.first = first
        self.limit = limit
        self.delay = first

    def refused(self) -> float:
        """The wait before the next attempt; the one after is longer."""
        delay = self.delay
        self.delay = min(2 * self.delay, self.limit)
        return delay

    def succeeded(self) -> None:
        self.delay = self.first


def may_spin(in_flight: int, cores: int) -> bool:
    """Whether an origin waiting on ``in_flight`` tasks may poll for their
    results rather than sleep: only while it and one busy worker per task
    fit on the ``cores``, so its polling takes no core a task needs."""
    return 0 < in_flight < cores


def result_now(queued: int, local: bool, ticking: bool) -> bool:
    """Whether a result the runner thread just made wakes the event loop to
    leave at once, rather than at the loop's next collection tick (at most
    ``worker.RESULT_EVERY`` later): at once when the worker has nothing
    queued (it goes idle: nobody is kept waiting), when the result's origin
    is this rank (a task on this loop awaits it), or when no tick is due."""
    return queued == 0 or local or not ticking
