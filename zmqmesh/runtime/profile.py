"""What a rank did: messages per peer, time in each call, for ``--report``
and ``--trace``.

Theory of operation. The launcher sets ``ZMQMESH_PROFILE`` to a directory
when asked for a report or a trace; ``init`` then calls :func:`install`,
which wraps the communicator's blocking calls (point to point and
collectives) to time them, and the transport's send and receive paths to
count messages and bytes per peer. ``finalize`` writes the rank's record
as ``rank-N.json`` in that directory; the launcher merges the records into
its report and its Chrome trace (``launcher/report.py``). Without the
variable nothing is wrapped, so an ordinary job pays nothing.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from zmqmesh.collectives.plan import COLLECTIVES

if TYPE_CHECKING:
    from zmqmesh.runtime.engine import Engine

__all__ = ["Recorder", "install"]

P2P_CALLS = ("send", "recv", "sendrecv", "probe")
COLLECTIVE_CALLS = (*COLLECTIVES, "neighbor_allgather", "neighbor_alltoall")
# Spans kept for the trace; past this the trace says how many were dropped.
_MAX_SPANS = 200_000


def _nbytes(frames: Sequence[Any]) -> int:
    return sum(f.nbytes if type(f) is memoryview else len(f) for f in frames)


class Recorder:
    """One rank's counters and spans."""

    def __init__(self, rank: int, path: str | None, trace: bool) -> None:
        self.rank = rank
        self.path = path
        self.trace = trace
        self.start = time.time()
        self.clock0 = time.perf_counter()
        self.peers: dict[int, list[int]] = {}  # world rank -> [sent, bytes, received, bytes]
        self.calls: dict[str, list[float]] = {}  # call -> [count, seconds]
        self.spans: list[tuple[str, float, float]] = []  # (call, start s, seconds)
        self.dropped = 0
        self.depth = 0  # nested calls (a collective's sends) count once
        self.waiting = 0.0

    def sent(self, dest: int, frames: Sequence[Any]) -> None:
        row = self.peers.setdefault(dest, [0, 0, 0, 0])
        row[0] += 1
        row[1] += _nbytes(frames)

    def received(self, source: int, frames: Sequence[Any]) -> None:
        row = self.peers.setdefault(source, [0, 0, 0, 0])
        row[2] += 1
        row[3] += _nbytes(frames)

    def timed(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            outer = self.depth == 0
            self.depth += 1
            t = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                took = time.perf_counter() - t
                self.depth -= 1
                if outer:
                    self.waiting += took
                    row = self.calls.setdefault(name, [0, 0.0])
                    row[0] += 1
                    row[1] += took
                    if self.trace:
                        if len(self.spans) < _MAX_SPANS:
                            self.spans.append((name, t - self.clock0, took))
                        else:
                            self.dropped += 1

        return wrapper

    def snapshot(self) -> dict[str, Any]:
        """The counters now (copies), as ``Comm.stats`` returns them."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        # ru_maxrss is KiB on Linux, bytes on macOS
        peak = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
        return {
            "rank": self.rank,
            "wall": time.perf_counter() - self.clock0,
            "waiting": self.waiting,
            "peak_rss": peak,
            "peers": {k: list(v) for k, v in sorted(self.peers.items())},
            "calls": {k: list(v) for k, v in self.calls.items()},
        }

    def dump(self) -> None:
        """Write the record for the launcher (nothing without a directory)."""
        if self.path is None:
            return
        record = self.snapshot()
        record["peers"] = {str(k): v for k, v in record["peers"].items()}
        record.update(start=self.start, spans=self.spans, dropped=self.dropped)
        tmp = f"{self.path}.tmp"
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.replace(tmp, self.path)


def install(
    engine: Engine,
    directory: str | None,
    *,
    trace: bool,
    classes: Sequence[type],
    live: bool = False,
) -> Recorder:
    """Start recording this rank's calls and messages (for ``directory``,
    if given, at ``dump``): the blocking calls of every communicator class
    in ``classes`` (their own methods and those they inherit, each
    timed once) and every message the engine sends or receives. With
    ``live`` and a directory, also write the counters the launcher's status
    line shows, every second."""
    path = os.path.join(directory, f"rank-{engine.rank}.json") if directory else None
    rec = Recorder(engine.rank, path, trace)
    engine.recorder = rec
    for cls in classes:
        for name in (*P2P_CALLS, *COLLECTIVE_CALLS):
            fn = getattr(cls, name, None)  # its own or inherited
            if fn is not None and not getattr(fn, "_zmqmesh_timed", False):
                wrapped = rec.timed(name, fn)
                wrapped._zmqmesh_timed = True  # type: ignore[attr-defined]
                setattr(cls, name, wrapped)
    send = engine.send

    def counting_send(dest: int, frames: Sequence[Any], *, lend: bool = False) -> Any:
        if dest != engine.rank:
            rec.sent(dest, frames)
        return send(dest, frames, lend=lend)

    engine.send = counting_send  # type: ignore[method-assign]
    if directory and live:
        _tick_live(rec, os.path.join(directory, f"rank-{engine.rank}.live"))
    transport = engine.transport
    if transport is not None:
        deliver = transport._on_message

        def counting_deliver(msg: list[Any], sender: int) -> None:
            rec.received(sender, msg)
            deliver(msg, sender)

        transport._on_message = counting_deliver
    return rec


def _tick_live(rec: Recorder, path: str) -> None:
    """Every second, what the launcher's live status line sums up."""
    import asyncio

    def tick() -> None:
        collectives = sum(int(c[0]) for name, c in rec.calls.items() if name in COLLECTIVE_CALLS)
        moved = sum(v[1] + v[3] for v in rec.peers.values())
        try:
            with open(f"{path}.tmp", "w") as f:
                json.dump({"collectives": collectives, "bytes": moved}, f)
            os.replace(f"{path}.tmp", path)
        except OSError:
            return
        loop.call_later(1.0, tick)

    loop = asyncio.get_running_loop()
    loop.call_later(1.0, tick)
