"""When a waiting rank busy-polls: by what spinning has been earning.

Theory of operation. A receive that must wait may busy-poll the same-host
links for a short budget before its event loop sleeps (``Engine.spin``),
because being woken by the kernel costs about 30 us per message on a
virtual machine. That pays only while the reply comes within the budget,
which needs the peer to be running: on a machine whose cores are taken by
other work, a spinning rank takes the core its peer waits for, and the
same 8 B ping-pong got 1.2x slower than plain zmq.asyncio (0.8x without
spinning). The core count cannot tell the two apart; the spins can.

So the governor keeps the recent rate of spins that ended with input (an
exponentially weighted average over about ``1 / WEIGHT`` spins) and lets a
wait spin only while that rate is at least ``KEEP``. A wait that may not
spin still spins once in ``PROBE_EVERY`` (a *probe*), so a machine that
became idle again is noticed. A spin that ended at once without having
polled (the links were not idle) teaches nothing and is not counted.

Invariants: ``rate`` stays in [0, 1]; a wait spins for ``limit`` or not
at all; pure (no clock, no I/O): the caller reports each spin's outcome.
"""

from __future__ import annotations

__all__ = ["KEEP", "PROBE_EVERY", "WEIGHT", "SpinGovernor"]

WEIGHT = 1 / 8  # how much one spin's outcome moves the rate
KEEP = 0.5  # spin while at least this share of recent spins found input
PROBE_EVERY = 16  # waits that may not spin between two probes


class SpinGovernor:
    """Decides, wait by wait, whether to spin (see the module docstring)."""

    __slots__ = ("_skipped", "rate")

    def __init__(self) -> None:
        self.rate = 1.0  # spins are assumed to pay until they do not
        self._skipped = 0

    def __repr__(self) -> str:
        return f"<SpinGovernor rate={self.rate:.2f} spinning={self.rate >= KEEP}>"

    def budget(self, limit: float) -> float:
        """Seconds the next wait may spin: ``limit`` or 0."""
        if limit <= 0:
            return 0.0
        if self.rate >= KEEP:
            return limit
        self._skipped += 1
        if self._skipped >= PROBE_EVERY:
            self._skipped = 0
            return limit
        return 0.0

    def spun(self, found: bool) -> None:
        """A spin given by :meth:`budget` ended, with input or without."""
        self.rate += WEIGHT * (float(found) - self.rate)
