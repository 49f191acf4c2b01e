"""``--report`` on a terminal: a live one-line status of the job.

Every second the ranks write a small ``rank-N.live`` file (see
``runtime/profile.py``); the launcher sums them into one line on stderr
(ranks alive, collectives done, bytes moved), cleared before any rank's
output is written so the two never mix. Off when stderr is not a terminal.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable

from zmqmesh.launcher.output import Sink
from zmqmesh.launcher.report import human_size

__all__ = ["LiveStatus"]

_CLEAR = b"\r\x1b[K"


class LiveStatus:
    def __init__(
        self, directory: str, size: int, err: Sink, sinks: list[Sink], alive: Callable[[], int]
    ) -> None:
        self.directory = directory
        self.size = size
        self.err = err
        self.alive = alive
        self.shown = False
        self._timer: asyncio.TimerHandle | None = None
        for sink in sinks:
            sink.before = self.clear

    def start(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(1.0, self._tick)

    def line(self) -> str:
        collectives = moved = 0
        for rank in range(self.size):
            try:
                with open(os.path.join(self.directory, f"rank-{rank}.live")) as f:
                    live = json.load(f)
                collectives += int(live["collectives"])
                moved += int(live["bytes"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return (
            f"zmqmesh: {self.alive()}/{self.size} ranks alive, {collectives} collectives, "
            f"{human_size(moved)} moved"
        )

    def _tick(self) -> None:
        self.err.write(_CLEAR + self.line().encode(), flush_only=True)
        self.shown = True
        self._timer = asyncio.get_running_loop().call_later(1.0, self._tick)

    def clear(self) -> None:
        if self.shown:
            self.shown = False
            self.err.write(_CLEAR, flush_only=True)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.clear()
