"""One peer's outbound ZeroMQ connection: a DEALER and what waits for it.

Theory of operation. Every frame is sent with ``NOBLOCK``, so a send never
blocks the loop. When the peer's queue is full (``Again``), the message and
every later one to that peer wait in the backlog, flushed in order once the
DEALER is writable again (its ``ZMQ_FD`` is edge-triggered: a wake-up means
"look", so each wake-up also schedules a look of its own). Frames ZeroMQ
sends zero-copy are released later: the message's future completes once
ZeroMQ is done with them (``zerocopy.Releases``).

Invariants: messages leave in ``send`` order; a message is handed to ZeroMQ
whole or not at all; after ``close`` nothing waits here.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import Any

import zmq

from zmqmesh.transport.zerocopy import Releases, send_now

__all__ = ["Outbound"]


class Outbound:
    """The DEALER to one peer, its backlog and its liveness watch."""

    __slots__ = (
        "_copy_below",
        "_loop",
        "_releases",
        "backlog",
        "bye",
        "monitor",
        "sent",
        "sock",
        "suspect",
        "waiting",
    )

    def __init__(self, sock: zmq.Socket[Any], releases: Releases, copy_below: int) -> None:
        self.sock = sock
        self._loop = asyncio.get_running_loop()
        self._releases = releases  # zero-copy frames ZeroMQ holds
        self._copy_below = copy_below  # smaller frames are copied into ZeroMQ
        self.monitor: zmq.Socket[Any] | None = None
        self.suspect: asyncio.TimerHandle | None = None  # lost the connection at
        # (frames, future set when handed to zmq + released) in send order
        self.backlog: deque[tuple[Sequence[Any], asyncio.Future[None]]] = deque()
        self.waiting = False  # a reader on the DEALER's FD is registered
        self.sent = False  # messages went out since the peer last said it read them
        self.bye: asyncio.Future[None] | None = None  # waiting for that word

    def send(self, frames: Sequence[Any]) -> asyncio.Future[None] | None:
        """Hand one message to ZeroMQ, or queue it behind those waiting.
        None when the caller may reuse its buffers at once, else a future
        for that moment."""
        self.sent = True
        if self.backlog:
            fut: asyncio.Future[None] = self._loop.create_future()
            self.backlog.append((frames, fut))
            return fut
        try:
            tracker = send_now(self.sock, frames, self._copy_below)
        except zmq.Again:
            fut = self._loop.create_future()
            self.backlog.append((frames, fut))
            self._wait_writable()
            return fut
        if tracker is None:
            return None
        fut = self._loop.create_future()
        self._releases.watch(tracker, fut)
        return fut

    def _wait_writable(self) -> None:
        if not self.waiting:
            self.waiting = True
            self._loop.add_reader(self.sock.FD, self._flush)
        # Edge-triggered FD: the state may already be writable.
        self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        if self.sock.closed:
            return
        while self.backlog:
            frames, fut = self.backlog[0]
            try:
                tracker = send_now(self.sock, frames, self._copy_below)
            except zmq.Again:
                if int(self.sock.getsockopt(zmq.EVENTS)) & zmq.POLLOUT:
                    continue
                return
            self.backlog.popleft()
            if fut.done():  # the sender gave up waiting; the message still went
                continue
            if tracker is None:
                fut.set_result(None)
            else:
                self._releases.watch(tracker, fut)
        if self.waiting:
            self.waiting = False
            self._loop.remove_reader(self.sock.FD)

    def close(self, why: Exception | None, *, linger: bool) -> None:
        """Close the socket; sends still waiting in the backlog fail with
        ``why``, or end quietly when it is None (the peer is gone)."""
        loop_open = not self._loop.is_closed()
        if self.suspect is not None:
            self.suspect.cancel()
        if self.monitor is not None:
            if loop_open:
                self._loop.remove_reader(self.monitor.FD)
            self.sock.disable_monitor()
            self.monitor.close(linger=0)
        if self.waiting and loop_open:
            self._loop.remove_reader(self.sock.FD)
        if not linger:
            self.sock.linger = 0
        for _, fut in self.backlog:
            if fut.done() or not loop_open:
                continue
            if why is None:
                fut.set_result(None)
            else:
                fut.set_exception(why)
                # an isend nobody awaited, or a release: no "never retrieved" noise
                fut.add_done_callback(lambda f: f.exception())
        self.backlog.clear()
        self.sock.close()
