"""Zero-copy sends: hand frames to ZeroMQ, learn when it lets go of them.

Part of the transport (``transport.py``), kept apart because it is the one
piece with a thread pool. A frame of at least ``copy_below`` bytes is sent
with ``copy=False, track=True``: ZeroMQ reads it from the caller's memory,
and the caller may reuse that memory only once ZeroMQ has released it.
Smaller frames are copied, which costs less than tracking them (see
``SEND_COPY_BELOW``). pyzmq signals a release with a ``threading.Event``
from its garbage-collector thread; waiting for that event in a helper
thread wakes the loop as soon as the frame is free, with no polling.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import zmq

__all__ = ["Releases", "send_now"]


def send_now(
    sock: zmq.Socket[Any], frames: Sequence[Any], copy_below: int
) -> zmq.MessageTracker | None:
    """Send all frames or raise ``Again`` having sent none (only the first
    frame can meet ``Again``: ZeroMQ accepts a multipart message whole once
    its first part is in). Returns a tracker of the frames sent zero-copy
    that ZeroMQ still holds, or None when it holds none."""
    trackers: list[zmq.MessageTracker] = []
    last = len(frames) - 1
    for i, frame in enumerate(frames):
        flags = zmq.NOBLOCK if i == last else zmq.NOBLOCK | zmq.SNDMORE
        if len(frame) < copy_below:
            sock.send(frame, flags, copy=True)
        else:
            tracker = sock.send(frame, flags, copy=False, track=True)
            if not tracker.done:
                trackers.append(tracker)
    if not trackers:
        return None
    return trackers[0] if len(trackers) == 1 else zmq.MessageTracker(*trackers)


class Releases:
    """Completes futures when ZeroMQ releases tracked frames."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._pool: ThreadPoolExecutor | None = None

    def watch(self, tracker: zmq.MessageTracker, fut: asyncio.Future[None]) -> None:
        """Complete ``fut`` once ``tracker`` is done (unless it is done already)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(4, thread_name_prefix="zmqmesh-tracker")
        done = self._loop.run_in_executor(self._pool, tracker.wait)

        def finish(d: asyncio.Future[Any]) -> None:
            if fut.done():
                return
            exc = None if d.cancelled() else d.exception()
            if exc is not None:
                fut.set_exception(exc)
            else:
                fut.set_result(None)

        done.add_done_callback(finish)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
