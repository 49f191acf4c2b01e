"""Pure work-stealing policy: whom to rob, how much, how long to wait.

Follows the randomized work stealing of Blumofe and Leiserson ("Scheduling
multithreaded computations by work stealing", JACM 1999): an idle worker
picks a victim at random and takes half of its queued tail (the oldest, in
fork-join the largest, pieces of work). A worker asks already while it runs
its last task (``steal_ahead``), so a steal's round trip does not leave it
idle. A refused thief asks the peers that have not refused it yet (a
:class:`Sweep`), and backs off exponentially only once all of them have, so
idle workers do not flood busy ones with requests.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Sequence
from typing import Any

__all__ = [
    "EARLY",
    "KEEP_ABOVE",
    "Backoff",
    "Sweep",
    "batch_due",
    "choose_victim",
    "kept_size",
    "may_spin",
    "result_now",
    "steal_ahead",
    "steal_count",
]


def steal_count(queued: int, running: bool, thief_busy: bool = False) -> int:
    """How many of ``queued`` tasks a victim gives a thief: enough that the
    thief holds half of the work the two hold (a running task counts, the
    thief's too when it asks ahead of running dry), never the task an idle
    victim would run next."""
    if queued < 0:
        raise ValueError(f"queued must be >= 0, got {queued}")
    busy = int(thief_busy)
    return max(0, min(queued, (queued + int(running) + busy) // 2 - busy))


# A steal's round trip between two busy workers: about 0.1 ms on idle cores;
# on 4 workers on 2 cores under other load, 2-25 ms (the victim's loop
# thread must get the GIL and a core). Asking ahead pays for tasks longer
# than the first; past the second the ask hides little against the task,
# and the loot would only wait behind it.
AHEAD_ABOVE = 0.001
AHEAD_BELOW = 0.1


def steal_ahead(runs: int, mean: float) -> bool:
    """Whether a worker whose deque ran dry asks for work while its last
    task runs, so the steal's round trip hides behind the task: when tasks
    of the function have taken ``AHEAD_ABOVE`` to ``AHEAD_BELOW`` seconds on
    average (``mean`` over ``runs``), or are not known yet. Not for quick
    ones, where the ask would only add messages to a lone task's round trip,
    nor for long ones, where the loot would wait behind the task."""
    return runs < 3 or AHEAD_ABOVE <= mean <= AHEAD_BELOW


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


class Sweep:
    """Whom a hungry worker asks for work next, and how long it waits first.

    It asks the other workers in random order, each at most once per sweep:
    one that refused had nothing queued, and asking it again before the
    others (as picking uniformly does) costs a round trip while the loaded
    worker waits to be found: with 4 workers after the others ran dry, two
    picks in three. Between two asks it waits the back-off, as before, so
    idle workers poll no more often than one ask per back-off each, however
    many workers there are. A successful steal, or work dealt to it in a
    batch (:meth:`reset`), starts a new sweep with the back-off reset. A
    ``busy`` thief (asking ahead of running dry) that every peer refused
    asks again once idle."""

    __slots__ = ("backoff", "me", "refused", "rng")

    def __init__(self, rng: random.Random, me: int, backoff: Backoff | None = None) -> None:
        self.rng = rng
        self.me = me
        self.backoff = backoff or Backoff()
        self.refused: set[int] = set()

    def victim(self, workers: Sequence[int]) -> int | None:
        """The next worker to ask, or None if there is no other."""
        fresh = [w for w in workers if w not in self.refused]
        got = choose_victim(self.rng, self.me, fresh)
        if got is None:  # every one left refused (the workers changed): afresh
            self.refused.clear()
            got = choose_victim(self.rng, self.me, workers)
        return got

    def answered(self, victim: int, got: int, workers: Sequence[int], busy: bool = False) -> float:
        """``victim`` gave ``got`` tasks: seconds to wait before asking
        again; ``math.inf`` for a ``busy`` thief that every peer refused."""
        if got:
            self.reset()
            return 0.0
        self.refused.add(victim)
        if not any(w != self.me and w not in self.refused for w in workers):
            self.refused.clear()
            if busy:
                return math.inf
        return self.backoff.refused()

    def reset(self) -> None:
        """Work came: the next time this worker runs dry starts afresh."""
        self.refused.clear()
        self.backoff.succeeded()


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


# How many tasks a worker gets ahead of the end of a loop turn.
EARLY = 4


def batch_due(queued: int, sent: int, first_of_turn: bool) -> bool:
    """Whether the ``queued`` tasks for one worker leave now rather than at
    the end of the loop turn, which has already sent that worker ``sent``:
    the turn's very first task at once (a lone task's round trip does not
    wait), and each worker's first ``EARLY`` tasks as soon as there are that
    many, so no worker idles until the submitter's turn ends (400 submits by
    map: 20-40 ms on a loaded host). All else leaves at the turn's end in
    large batches: a message that finds its worker asleep wakes it, which
    costs the submitter its core for a while; with batches growing 1, 1, 2,
    4, ... through the turn instead, no-op tasks/s on 2 workers fell 15%."""
    return first_of_turn or sent < EARLY <= sent + queued


# A result at least this large (estimated, see ``kept_size``) stays on the
# worker that made it until someone needs it; smaller ones travel back with
# the task's completion, as Ray inlines objects under its
# ``max_direct_call_object_size`` (100 KiB) into the owner's reply.
KEEP_ABOVE = 100 * 1024
_SCALARS = frozenset({int, float, bool, complex, type(None)})


def kept_size(value: object, limit: int = KEEP_ABOVE) -> int:
    """The estimated size in bytes of a result when it is at least
    ``limit`` (it stays where it was made), else 0. The walk over
    containers stops as soon as the estimate reaches ``limit``, so it costs
    at most ``limit / 8`` steps."""
    if type(value) in _SCALARS:
        return 0
    n = _size(value, limit)
    return n if n >= limit else 0


def _size(value: object, limit: int) -> int:
    t = type(value)
    if t in _SCALARS:
        return 8
    if t is str or t is bytes or t is bytearray:
        return len(value)  # type: ignore[arg-type]
    if t is list or t is tuple or t is dict:
        items: Any = value.items() if t is dict else value  # type: ignore[attr-defined]
        total = 0
        for x in items:
            total += _size(x, limit - total)
            if total >= limit:
                break
        return total
    nbytes = getattr(value, "nbytes", None)
    if type(nbytes) is int:
        return nbytes
    return sys.getsizeof(value)
