"""Same-host links: one AF_UNIX stream per pair of ranks on one host.

Theory of operation. A ZeroMQ message between two processes crosses two
I/O threads (the sender's and the receiver's) besides the two application
threads; for small messages those hand-offs are most of the latency
(measured: 8 B ping-pong half round trip 97 us with zmq.asyncio against
39 us for a plain AF_UNIX stream driven by uvloop). MPI libraries keep
intra-node traffic on a separate shared-memory channel for the same reason.
So ranks on one host send each other messages over a Unix stream socket in
the job's private 0700 directory, read by the event loop itself; large
frames still go through shared memory (``shm.py``), and ZeroMQ keeps its
role for other hosts and for liveness (heartbeats, socket monitors).

All messages from one rank to another on one host take this link, so the
order of a pair's messages is the stream's order. The stream's format
(a hello with the connecting rank, then each message's frame count and
lengths and its frames) is ``wire/stream.py``'s. The reader allocates each
frame's buffer once and, for large frames, has the kernel read straight
into it.

Flow control: the writer never lets its stream buffer grow past one
message; later sends wait in the link's backlog, in order, and ``send``
returns a future that completes once the kernel has taken the message (the
caller may then reuse its buffers). A receiver over its unexpected-message
limit stops reading its links (``pause``) until receives catch up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mmap
import os
import select
import socket
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, cast

from zmqmesh.wire import stream

__all__ = ["LocalLinks", "link_path"]

log = logging.getLogger("zmqmesh.transport")

_SCRATCH = 256 * 1024  # read size while parsing small frames
_DIRECT = 64 * 1024  # a frame with at least this much left is read in place
_LAZY = 256 * 1024  # frames from this size on get pages only as data arrives (_frame)
_JOIN = 16 * 1024  # a message up to this size is written in one system call, joined


def link_path(ipc_endpoint: str) -> str:
    """Where the rank with ZeroMQ endpoint ``ipc_endpoint`` takes same-host links."""
    return ipc_endpoint[len("ipc://") :] + ".link"


# (sender rank, header bytes, buffers) for every message read
Accept = Callable[[int, bytes, list[Any]], None]


def _frame(nbytes: int) -> bytearray | mmap.mmap:
    """A buffer for a frame of ``nbytes`` that a header announced. A large
    one is an anonymous mapping, whose pages the kernel provides only as
    data fills them: a header claiming gigabytes costs nothing until the
    bytes arrive (a bytearray would be zeroed, so committed, at once).
    Raises ``OSError`` (or ``OverflowError``) for a size no mapping can have.

    The mapping is private, with transparent huge pages asked for: filling
    a shared one (``mmap``'s default) faults in and zeroes shmem pages one
    4 KiB page at a time, which was most of a 3 GiB message's receive time
    (63% of the receiver's samples in the kernel's clear_page) and made it
    arrive at about half the rate per byte of a 1 GiB one."""
    if nbytes < _LAZY:
        return bytearray(nbytes)
    mm = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE)
    if _HUGEPAGE is not None:
        with contextlib.suppress(OSError):  # a kernel without THP: plain pages
            mm.madvise(_HUGEPAGE)
    return mm


_HUGEPAGE: int | None = getattr(mmap, "MADV_HUGEPAGE", None)


class _Reader(asyncio.BufferedProtocol):
    """The accepting side of a link: parses messages as they stream in."""

    def __init__(self, links: LocalLinks) -> None:
        self.links = links
        self.transport: asyncio.Transport | None = None
        self.sender = -1
        self.scratch = bytearray(stream.HELLO_SIZE)  # the full size once the hello is good
        self.view = memoryview(self.scratch)
        self.pending = bytearray()  # parsed-not-yet bytes of the current header
        self.frames: list[bytearray | mmap.mmap] = []
        self.lengths: tuple[int, ...] = ()
        self.filled = 0  # bytes of frames[len(frames) - 1] received
        self.direct: memoryview | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.links.watch(self, True)
        if self.links.reading_paused:
            self.transport.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.links.watch(self, False)

    def get_buffer(self, sizehint: int) -> memoryview:
        if self.frames and self.filled < self.lengths[len(self.frames) - 1]:
            left = self.lengths[len(self.frames) - 1] - self.filled
            if left >= _DIRECT:  # straight into the frame's own buffer
                self.direct = memoryview(self.frames[-1])[self.filled :]
                return self.direct
        self.direct = None
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        if self.direct is not None:
            self.filled += nbytes
            self.direct = None
            if self.filled == self.lengths[len(self.frames) - 1]:
                self._next_frame()
            return
        try:
            data = self.view[:nbytes]
            if self.sender >= 0 and not self.lengths and not self.pending:
                # _parse's common case first: whole small messages
                whole = self._whole(data)
                if whole is None or whole:
                    self._parse(data if whole is None else whole)
            else:
                self._parse(data)
        except (ValueError, OSError, OverflowError) as exc:  # OSError: no memory
            # ValueError: a hello from no rank it may come from, or a DecodeError
            who = f" from rank {self.sender}" if self.sender >= 0 else ""
            log.error("rank %d: closed a same-host link%s: %s", self.links.rank, who, exc)
            assert self.transport is not None
            self.transport.abort()
            if self.sender >= 0:
                # What that rank sent next is lost with the stream: its
                # receives must fail rather than wait for it.
                self.links.broken(self.sender, f"closed its same-host link: {exc}")

    def read_now(self, fd: int) -> bool:
        """Read what the socket ``fd`` holds now, as the event loop would
        (``LocalLinks.poll``: a waiting receive need not sleep for it). An
        error or the end of the stream is left for the loop to find."""
        if self.frames:  # in a message's frames: perhaps straight into one
            buf = self.get_buffer(-1)
        else:  # get_buffer's common case, inline: every spin comes here
            self.direct = None
            buf = self.view
        try:
            n = os.readv(fd, [buf])
        except OSError:  # nothing there after all, or an error the loop reports
            n = 0
        if n:
            self.buffer_updated(n)
            return True
        self.direct = None
        return False

    def _parse(self, data: memoryview) -> None:
        while data:
            if self.sender < 0:  # the hello: the connecting rank
                need = stream.HELLO_SIZE - len(self.pending)
                self.pending += data[:need]
                data = data[need:]
                if len(self.pending) == stream.HELLO_SIZE:
                    sender = stream.parse_hello(self.pending)
                    if sender not in self.links.paths:  # no same-host rank of the job
                        raise ValueError(f"a link announced rank {sender}")
                    if any(r.sender == sender for r in self.links.readers if r is not self):
                        raise ValueError(f"a second link announced rank {sender}")
                    self.sender = sender
                    self.pending.clear()
                    self.scratch = bytearray(_SCRATCH)
                    self.view = memoryview(self.scratch)
                continue
            if not self.lengths:  # a message header
                if not self.pending:
                    whole = self._whole(data)
                    if whole is not None:
                        data = whole
                        continue
                data = self._header(data)
                continue
            i = len(self.frames) - 1
            take = min(len(data), self.lengths[i] - self.filled)
            self.frames[i][self.filled : self.filled + take] = data[:take]
            self.filled += take
            data = data[take:]
            if self.filled == self.lengths[i]:
                self._next_frame()

    def _whole(self, data: memoryview) -> memoryview | None:
        """The common case, a small message wholly in ``data``: taken in one
        go (returns the rest), or None to parse it piece by piece."""
        lengths = stream.parse_header(data, max_message=self.links.max_message)
        if lengths is None:
            return None
        start = stream.COUNT_SIZE + stream.LENGTH_SIZE * len(lengths)  # header_size
        end = start + sum(lengths)
        if len(data) < end:
            return None
        header = bytes(data[start : start + lengths[0]])
        start += lengths[0]
        frames = []
        for n in lengths[1:]:
            frames.append(bytearray(data[start : start + n]))
            start += n
        self.links.accept(self.sender, header, frames)
        return data[end:]

    def _header(self, data: memoryview) -> memoryview:
        """Take from ``data`` what the message header in ``pending`` still
        needs (returns the rest); once whole, start the message's frames."""
        buf = self.pending
        need = stream.header_missing(buf)
        while need and data:
            buf += data[:need]
            data = data[need:]
            need = stream.header_missing(buf)
        if need:
            return data
        lengths = stream.parse_header(buf, max_message=self.links.max_message)
        assert lengths is not None  # whole
        buf.clear()
        self.lengths = lengths
        self.frames = [_frame(lengths[0])]
        self.filled = 0
        if lengths[0] == 0:
            self._next_frame()
        return data

    def _next_frame(self) -> None:
        while len(self.frames) < len(self.lengths):
            self.frames.append(_frame(self.lengths[len(self.frames)]))
            self.filled = 0
            if self.lengths[len(self.frames) - 1]:
                return
        frames, self.frames, self.lengths, self.filled = self.frames, [], (), 0
        self.links.accept(self.sender, bytes(frames[0]), frames[1:])


class _Writer(asyncio.Protocol):
    """The connecting side of a link: this rank's messages to one peer."""

    def __init__(self, link: _Link, me: int) -> None:
        self.link = link
        self.me = me

    def connection_made(self, base: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, base)
        transport.set_write_buffer_limits(high=0)  # told as soon as anything waits
        transport.write(stream.pack_hello(self.me))
        self.link.ready(transport)

    def pause_writing(self) -> None:
        self.link.full = True

    def resume_writing(self) -> None:
        self.link.full = False
        self.link.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.link.lost(exc)


class _Link:
    __slots__ = ("backlog", "dead", "fd", "full", "rank", "transport", "waiter")

    def __init__(self, rank: int) -> None:
        self.rank = rank
        self.dead = False  # the connection is lost: nothing more can go
        self.transport: asyncio.Transport | None = None
        self.fd = -1  # the socket's, for writes that need not go through the loop
        self.full = True  # nothing may be written now (not connected, or buffer in use)
        # messages not yet written, with the futures their senders wait on
        self.backlog: deque[tuple[list[Any], asyncio.Future[None]]] = deque()
        self.waiter: asyncio.Future[None] | None = None  # of the message being written

    def ready(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        self.fd = sock.fileno() if sock is not None else -1
        self.full = transport.get_write_buffer_size() > 0
        self.flush()

    def flush(self) -> None:
        """The stream took everything: finish that message, write the next."""
        if self.waiter is not None:
            if not self.waiter.done():
                self.waiter.set_result(None)
            self.waiter = None
        while self.backlog and not self.full:
            parts, fut = self.backlog.popleft()
            assert self.transport is not None
            self.transport.writelines(parts)
            if self.full:
                self.waiter = fut
                return
            if not fut.done():
                fut.set_result(None)

    def lost(self, exc: Exception | None) -> None:
        """The peer is gone: what waits here will never go (the failure
        machinery tells the ranks waiting on it)."""
        self.dead = self.full = True
        self.transport = None
        self.fd = -1
        for _, fut in self.backlog:
            if not fut.done():
                fut.set_result(None)
        self.backlog.clear()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)
        self.waiter = None

    @property
    def idle(self) -> bool:
        return not self.backlog and self.waiter is None


class LocalLinks:
    """This rank's same-host links: one listener, one writer per peer.

    ``max_message``: the most bytes one message may have, both ways (a
    longer one is refused at ``send`` and closes a link it comes on).
    ``on_broken(rank, why)``: called when the link from ``rank`` is closed
    for breaking the stream's rules."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        rank: int,
        accept: Accept,
        *,
        max_message: int,
        on_broken: Callable[[int, str], None] | None = None,
    ) -> None:
        self.loop = loop
        self._on_broken = on_broken
        self.rank = rank
        self.accept = accept
        self.max_message = max_message
        self.paths: dict[int, str] = {}  # peer rank -> its listening path
        self.links: dict[int, _Link] = {}
        self.readers: set[_Reader] = set()
        self._poller = select.poll()  # the readers' sockets, for ``poll``
        self._fds: dict[_Reader, int] = {}
        self._by_fd: dict[int, _Reader] = {}  # the newest reader of each fd
        self._from: dict[int, tuple[_Reader, int]] = {}  # rank -> its link's reader, fd
        self._writing = False  # a link may have a message not yet written
        self.reading_paused = False
        self._listener: socket.socket | None = None
        self._accepting = False
        self._tasks: set[asyncio.Task[Any]] = set()

    def listen(self, path: str) -> None:
        """Accept links at ``path`` (in the job's private directory)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        sock.listen(128)
        sock.setblocking(False)
        self._listener = sock

    def broken(self, rank: int, why: str) -> None:
        """The link from ``rank`` was closed for breaking the stream's rules:
        nothing more can come from it in order."""
        if self._on_broken is not None:
            self._on_broken(rank, why)

    def watch(self, reader: _Reader, live: bool) -> None:
        """A reading link opened (``live``) or closed: keep ``readers`` and
        the poller of ``poll`` up to date."""
        if live:
            self.readers.add(reader)
            sock = reader.transport.get_extra_info("socket") if reader.transport else None
            if sock is not None:
                fd = self._fds[reader] = sock.fileno()
                self._by_fd[fd] = reader
                self._poller.register(fd, select.POLLIN)
        else:
            self.readers.discard(reader)
            self._from.clear()
            fd = self._fds.pop(reader, None)
            if fd is not None and self._by_fd.get(fd) is reader:  # not reused by a newer link
                del self._by_fd[fd]
                self._poller.unregister(fd)

    def poll(self, budget: float, peer: int = -1, *, sleep: bool = False) -> bool:
        """Read what the links hold now, busy-polling them for up to
        ``budget`` seconds (0: look once) until one has input; True when
        something was read. The event loop need not run for it: a receive
        whose message is there does not sleep at all. With ``peer`` (a rank,
        -1 for any), only when that rank's messages come over these links
        and not through ZeroMQ from another host. With ``sleep``, it waits
        in poll(2) instead of spinning (for a caller whose event loop is not
        running while it waits: ``Engine.wait_input``).

        A process asleep in ``epoll_wait`` must be woken by the sender's
        kernel, which costs more than a short spin: measured here, a plain
        AF_UNIX ping-pong takes 31.6 us per one-way trip with blocking reads
        and 2.5 us with polling ones. Only worth it while a core is free for
        each rank, which the caller decides, and while no message of ours is
        half written (the loop must run to finish it: the reply waits on it)."""
        if self.reading_paused or not self._fds or (peer >= 0 and peer not in self.paths):
            return False
        if self._writing and not all(link.idle for link in self.links.values()):
            return False
        self._writing = False
        if peer >= 0:
            link = self._from.get(peer)
            if link is None:
                link = next(((r, fd) for r, fd in self._fds.items() if r.sender == peer), None)
                if link is not None:
                    self._from[peer] = link
            if link is not None:
                # One peer's link: try a read on its socket itself, one
                # system call a look instead of a poll and then a read (the
                # message comes about 1 us sooner: 8 B ping-pong p10 12.1-12.8
                # -> 10.7-11.9 us, interleaved runs on an idle 2-core VM).
                reader, fd = link
                if reader.read_now(fd):
                    return True
                if budget > 0 and not sleep:
                    deadline = time.perf_counter() + budget
                    while time.perf_counter() < deadline:
                        if reader.read_now(fd):
                            return True
                if not sleep:
                    return False
        poll = self._poller.poll
        ready = poll(budget * 1000 if sleep else 0)
        if not ready and budget > 0 and not sleep:
            deadline = time.perf_counter() + budget
            while not (ready := poll(0)) and time.perf_counter() < deadline:
                pass
        got = False
        for fd, events in ready:
            ready_reader = self._by_fd.get(fd)
            if ready_reader is not None and events & select.POLLIN and not self.reading_paused:
                got = ready_reader.read_now(fd) or got
        return got

    def start(self) -> None:
        """Take the links peers opened (and will open) from now on."""
        if self._listener is not None and not self._accepting:
            self._accepting = True
            self.loop.add_reader(self._listener.fileno(), self._accept)

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                conn, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.error("rank %d: accepting a same-host link failed: %s", self.rank, exc)
                return
            conn.setblocking(False)
            self._spawn(self.loop.connect_accepted_socket(lambda: _Reader(self), conn))

    def _spawn(self, coro: Any) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def send(
        self, rank: int, frames: Sequence[Any], sizes: Sequence[int] | None = None
    ) -> asyncio.Future[None] | None:
        """Send one message to ``rank``; None when the kernel took it at once
        (the caller may reuse its buffers), else a future for that moment.
        ``sizes``: the frames' byte sizes, if the caller has them.
        ``ValueError`` for a message the stream cannot carry (no frames,
        more than ``stream.MAX_FRAMES``, or more than ``max_message`` bytes,
        which the reader would refuse), before anything is sent."""
        if sizes is None:
            sizes = [f.nbytes if type(f) is memoryview else len(f) for f in frames]
        link = self.links.get(rank)
        total = sum(sizes)
        if link is not None and link.fd >= 0 and not (link.full or link.backlog) and total <= _JOIN:
            # Small, and nothing waits in the link's buffer: one write of
            # the joined bytes, straight to the socket; what the kernel
            # does not take goes through the loop, in order.
            data = stream.encode_joined(frames, sizes, max_message=self.max_message, total=total)
            try:
                done = os.write(link.fd, data)
            except OSError:  # full after all, or an error the transport reports
                done = 0
            if done < len(data):
                assert link.transport is not None
                link.transport.write(data[done:])
            return self._written(link)
        parts = stream.encode(frames, max_message=self.max_message, sizes=sizes)
        if link is None:
            link = self.links[rank] = _Link(rank)
            self._spawn(self._connect(link))
        if link.dead:
            return None  # the peer is gone; waiting for it would hang
        fut: asyncio.Future[None]
        if link.full or link.backlog:
            fut = self.loop.create_future()
            link.backlog.append((parts, fut))
            self._writing = True
            return fut
        assert link.transport is not None
        link.transport.writelines(parts)
        return self._written(link)

    def _written(self, link: _Link) -> asyncio.Future[None] | None:
        """A message was handed to ``link``'s transport: None if the kernel
        took all of it, else the future of the moment it does."""
        if not link.full:
            return None
        fut = link.waiter = self.loop.create_future()
        self._writing = True
        return fut

    async def _connect(self, link: _Link) -> None:
        try:
            await self.loop.create_unix_connection(
                lambda: _Writer(link, self.rank), self.paths[link.rank]
            )
        except OSError as exc:
            log.debug("rank %d: no same-host link to rank %d: %s", self.rank, link.rank, exc)
            link.lost(exc)

    def pause(self) -> None:
        """Stop reading (flow control); the peers' sends then wait."""
        if not self.reading_paused:
            self.reading_paused = True
            for r in self.readers:
                if r.transport is not None:
                    r.transport.pause_reading()

    def resume(self) -> None:
        if self.reading_paused:
            self.reading_paused = False
            for r in self.readers:
                if r.transport is not None:
                    r.transport.resume_reading()

    async def drain(self, deadline: float, gone: Callable[[], Any]) -> None:
        """Wait until every link to a live peer has handed all it holds to
        the kernel (what the kernel holds survives this process)."""
        while self.loop.time() < deadline:
            lost = gone()
            if all(link.idle or link.rank in lost for link in self.links.values()):
                return
            await asyncio.sleep(0.005)

    def gone(self, rank: int) -> None:
        """``rank`` is gone: its link drops what waits and what comes."""
        link = self.links.get(rank)
        if link is not None:
            if link.transport is not None:
                link.transport.abort()
            link.lost(None)

    @property
    def connected(self) -> set[int]:
        return set(self.links)

    def close(self) -> None:
        # At interpreter exit after asyncio.run() the loop is closed: its
        # transports can no longer be aborted, and the process is about to
        # close their sockets anyway.
        loop_open = not self.loop.is_closed()
        for link in self.links.values():
            if link.transport is not None and loop_open:
                link.transport.abort()
        for r in list(self.readers):
            if r.transport is not None and loop_open:
                r.transport.abort()
        if self._listener is not None:
            if self._accepting and loop_open:
                self.loop.remove_reader(self._listener.fileno())
            self._listener.close()
            self._listener = None
        for task in self._tasks:
            if loop_open:
                task.cancel()
