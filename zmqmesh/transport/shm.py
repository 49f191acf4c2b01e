"""Same-host fast path for large frames: shared memory instead of the socket.

Theory of operation. Between two ranks on one host, a frame of at least
``SHM_MIN`` bytes does not go through the ipc socket (a copy into the
kernel, a copy out, and a fresh allocation on the receiver for every
message). The sender copies it once into a segment of its own pool, a file
in the job's private directory under ``/dev/shm``, and sends a short
descriptor instead. The receiver maps the segment (once; mappings are
cached) and hands the codec a view of it, so arrays arrive without another
copy. When the last array viewing a segment is gone, a finalizer queues the
segment's id, and a *release* goes back to the sender, whose pool reuses
the segment for a later message.

Invariants: a segment is written only while it is free in its sender's
pool; it stays busy from the moment it is handed out until its receiver
releases it. Segment files live in a directory that the launcher creates
(0700) and removes when the job ends, however the ranks end, so none can
leak past the job. The sender's ``send`` returns as soon as its copy is
done: the caller may reuse its array at once.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import mmap
import os
import weakref
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from zmqmesh.wire import Kind, shmdesc, unpack_envelope
from zmqmesh.wire.shmdesc import SharedFrame

__all__ = ["SHM_MIN", "SharedMemory", "ShmPool", "ShmReader"]

# Frames at least this large go through shared memory to same-host peers.
SHM_MIN = 256 * 1024
# Segments come in power-of-two sizes from this one up, so they can be reused.
_MIN_SEGMENT = 1 << 20
# Frames at least this large are copied in by two threads when a core is
# spare: 16 MiB takes 0.74 ms instead of 1.25 ms here.
SPLIT_MIN = 2 * 2**20
# ... unless the receiver holds this many of the sender's frames already.
STREAM_HELD = 2
# At most this many bytes of segments wait for their receivers at once. A
# descriptor is a tiny message, so ZeroMQ's high-water marks and the kernel's
# socket buffers would let thousands queue up; past the cap, large frames go
# through the socket instead, where those bounds count bytes.
SHM_BUSY_MAX = 128 * 2**20


@dataclass(slots=True)
class _Segment:
    ident: int
    name: str
    capacity: int
    mm: mmap.mmap
    view: np.ndarray  # the whole segment as uint8, for fast copies in
    lent_to: int = -1  # the rank it was sent to while busy


class ShmPool:
    """The sender's segments (in ``directory``, named ``<rank>-<n>``)."""

    def __init__(self, directory: str, rank: int) -> None:
        self.directory = directory
        self.rank = rank
        self._free: dict[int, list[_Segment]] = defaultdict(list)
        self._busy: dict[int, _Segment] = {}
        self._busy_bytes = 0
        self._held_by: dict[int, int] = {}  # rank -> its busy segments
        self._count = 0
        self._exported: dict[int, _Segment] = {}  # result segments by address
        self._starts: list[int] = []  # their addresses, sorted
        self._lent: dict[int, int] = {}  # lend id -> the rank it went to
        # A thread that copies half of each large frame, for ranks with a
        # core to spare (``use_helper``).
        self.helper: ThreadPoolExecutor | None = None

    def use_helper(self, on: bool) -> None:
        """Copy large frames in with two threads (``on``) or one."""
        if on and self.helper is None:
            self.helper = ThreadPoolExecutor(1, thread_name_prefix="zmqmesh-copy")
        elif not on and self.helper is not None:
            self.helper.shutdown(wait=False)
            self.helper = None

    def _new(self, capacity: int) -> _Segment:
        self._count += 1
        name = f"{self.rank}-{self._count}"
        path = os.path.join(self.directory, name)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            # Reserve the pages now: a full /dev/shm then fails here with
            # ENOSPC (the frame takes the socket) rather than with SIGBUS at
            # the first write into the mapping.
            os.posix_fallocate(fd, 0, capacity)
            mm = mmap.mmap(fd, capacity, flags=mmap.MAP_SHARED)
        except OSError:
            os.close(fd)
            os.unlink(path)
            raise
        os.close(fd)
        return _Segment(self._count, name, capacity, mm, np.frombuffer(mm, np.uint8))

    def has_room(self, nbytes: int) -> bool:
        """Whether a frame of ``nbytes`` may go through shared memory now."""
        return self._busy_bytes + nbytes <= SHM_BUSY_MAX

    def swap_out(
        self, frames: Sequence[Any], peer: int, *, lend: bool = False
    ) -> tuple[list[Any] | None, list[int]]:
        """``frames`` with each large one moved into a segment for ``peer``
        (left empty) and a descriptor frame (``wire/shmdesc.py``) appended,
        None if none moved; and the ids of frames lent rather than copied
        (only with ``lend``, for frames that lie in a result segment)."""
        out: list[Any] | None = None
        desc: list[SharedFrame] = []
        lent: list[int] = []
        for i, frame in enumerate(frames[1:]):
            n = len(frame)
            if n < SHM_MIN:
                continue
            loan = self._lend(frame, peer) if lend else None
            if loan is not None:
                lent.append(loan[0])
                desc.append(SharedFrame(i, loan[0], loan[1], n, loan[2], lent=True))
            elif self.has_room(n):
                # Not for collectives: every rank copies at the same time, and
                # two threads per rank would only contend for the cores. Nor
                # for a stream: a peer that holds two or more of our frames is
                # still copying them out, on the core the helper would take.
                split = (
                    n >= SPLIT_MIN
                    and self.helper is not None
                    and self._held_by.get(peer, 0) < STREAM_HELD
                    and unpack_envelope(frames[0]).kind != Kind.COLL
                )
                try:
                    ident, name = self.put(memoryview(frame), peer, split=split)
                except OSError:  # no room in /dev/shm: this frame takes the socket
                    continue
                desc.append(SharedFrame(i, ident, name, n))
            else:
                continue
            if out is None:
                out = list(frames)
            out[1 + i] = b""
        if out is not None:
            out.append(shmdesc.encode(desc))
        return out, lent

    def _lend(self, frame: Any, peer: int) -> tuple[int, str, int] | None:
        """``(lend id, segment name, offset)`` if ``frame`` lies in a result
        segment, else None."""
        if not self._starts:
            return None
        data = np.frombuffer(frame, np.uint8)
        addr = data.__array_interface__["data"][0]
        at = bisect.bisect_right(self._starts, addr) - 1
        if at < 0:
            return None
        seg = self._exported[self._starts[at]]
        offset = addr - self._starts[at]
        if offset + data.nbytes > seg.capacity:
            return None
        self._count += 1
        self._lent[self._count] = peer
        return self._count, seg.name, offset

    def put(self, data: memoryview, peer: int = -1, *, split: bool = False) -> tuple[int, str]:
        """Copy ``data`` into a free segment lent to rank ``peer``; returns
        ``(id, name)``. ``split``: the helper thread, if any, copies half."""
        n = data.nbytes
        capacity = max(_MIN_SEGMENT, 1 << (n - 1).bit_length())
        free = self._free[capacity]
        seg = free.pop() if free else self._new(capacity)
        src = np.frombuffer(data, np.uint8)
        if split and self.helper is not None and n >= SPLIT_MIN:
            # NumPy copies without the GIL: a second thread takes one half.
            half = (n // 2) & ~4095
            other = self.helper.submit(_copy, seg.view, src, half, n)
            seg.view[:half] = src[:half]
            other.result()
        else:
            seg.view[:n] = src
        seg.lent_to = peer
        self._busy[seg.ident] = seg
        self._busy_bytes += seg.capacity
        self._held_by[peer] = self._held_by.get(peer, 0) + 1
        return seg.ident, seg.name

    def release(self, idents: list[int], peer: int = -1) -> list[int]:
        """Rank ``peer`` is done with these segments: they may be reused.
        Returns the ids among them of frames lent to ``peer``. Ids of
        segments not lent to ``peer`` are ignored: no other rank can free a
        segment a receiver still reads."""
        returned = []
        for ident in idents:
            if self._lent.get(ident, -2) == peer:
                del self._lent[ident]
                returned.append(ident)
                continue
            seg = self._busy.get(ident)
            if seg is not None and seg.lent_to == peer:
                del self._busy[ident]
                self._busy_bytes -= seg.capacity
                self._held_by[peer] -= 1
                self._free[seg.capacity].append(seg)
        return returned

    def forget(self, peer: int) -> list[int]:
        """Rank ``peer`` is gone: the ids of the frames lent to it."""
        gone = [ident for ident, to in self._lent.items() if to == peer]
        for ident in gone:
            del self._lent[ident]
        return gone

    # -- backing for collective results (the runtime's results pool) --------
    def alloc(self, capacity: int) -> np.ndarray | None:
        """A new result segment of ``capacity`` bytes as a uint8 array, or
        None when /dev/shm has no room."""
        try:
            seg = self._new(capacity)
        except OSError:
            return None
        start = seg.view.__array_interface__["data"][0]
        self._exported[start] = seg
        bisect.insort(self._starts, start)
        return seg.view

    def drop(self, raw: np.ndarray) -> None:
        """The results pool does not keep ``raw`` (from ``alloc``) any more."""
        start = raw.__array_interface__["data"][0]
        seg = self._exported.pop(start, None)
        if seg is not None:
            self._starts.remove(start)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.directory, seg.name))

    @property
    def busy(self) -> int:
        return len(self._busy)

    def close(self) -> None:
        """Unmap every segment and remove the free ones (idempotent). Busy
        segments stay: a receiver may not have mapped them yet, and the
        launcher removes the job's directory when the job ends."""
        for seg in self._busy.values():
            with contextlib.suppress(BufferError):
                seg.mm.close()
        for seg in (*self._exported.values(), *(s for f in self._free.values() for s in f)):
            with contextlib.suppress(BufferError):  # a view is still exported: GC unmaps it
                seg.mm.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.directory, seg.name))
        self._busy.clear()
        self._busy_bytes = 0
        self._held_by.clear()
        self._free.clear()
        self._exported.clear()
        self._starts.clear()
        self._lent.clear()
        self.use_helper(False)


class ShmReader:
    """The receiver's side: maps senders' segments and reports releases.

    ``on_release(peer, ids)`` is called (through ``schedule``, on the event
    loop) with the ids of segments no received array views any more.
    """

    def __init__(
        self,
        directory: str,
        on_release: Callable[[int, list[int]], None],
        schedule: Callable[[Callable[[], None]], object],
    ) -> None:
        self.directory = directory
        self._maps: dict[str, mmap.mmap] = {}
        self._on_release = on_release
        self._schedule = schedule
        self._pending: dict[int, list[int]] = defaultdict(list)
        self._views: dict[int, weakref.finalize[Any, Any]] = {}  # id(holder) -> its finalizer
        self._closed = False

    def swap_in(self, msg: list[Any], raw: Any, sender: int) -> None:
        """Put back in ``msg`` (``[header, *frames]``) the frames the
        descriptor frame ``raw`` says are in ``sender``'s segments. Raises
        ``DecodeError`` for a malformed descriptor (``shmdesc.decode``), and
        ``OSError`` or ``ValueError`` for a segment it cannot map."""
        for place in shmdesc.decode(raw, [len(frame) for frame in msg[1:]]):
            msg[1 + place.index] = self.view(
                sender, place.ident, place.name, place.nbytes, place.offset
            )

    def view(self, peer: int, ident: int, name: str, nbytes: int, offset: int = 0) -> memoryview:
        """A read-write view of ``nbytes`` at ``offset`` in segment ``name``,
        released to ``peer`` once nothing refers to it. ``DecodeError`` for
        a ``name`` that is no plain file name (``shmdesc.check_name``)."""
        shmdesc.check_name(name)
        end = offset + nbytes
        mm = self._maps.get(name)
        if mm is None or len(mm) < end:
            fd = os.open(os.path.join(self.directory, name), os.O_RDWR)
            try:
                size = os.fstat(fd).st_size
                if size < end:
                    raise ValueError(f"segment {name} holds {size} bytes, not {end}")
                mm = mmap.mmap(fd, size, flags=mmap.MAP_SHARED | mmap.MAP_POPULATE)
            finally:
                os.close(fd)
            self._forget_deleted()
            self._maps[name] = mm
        holder = np.frombuffer(mm, np.uint8, count=nbytes, offset=offset)
        self._views[id(holder)] = weakref.finalize(holder, self._released, peer, ident, id(holder))
        return memoryview(holder)  # type: ignore[arg-type]

    def _forget_deleted(self) -> None:
        """Unmap the segments their senders have deleted (results pools let
        them go) once no received array views them: they are never sent
        again, and a mapping would keep their memory for the whole job."""
        for name in [n for n in self._maps if not os.path.exists(os.path.join(self.directory, n))]:
            try:
                self._maps[name].close()
            except BufferError:  # a received array still views it: later
                continue
            del self._maps[name]

    def _released(self, peer: int, ident: int, key: int) -> None:
        self._views.pop(key, None)
        if self._closed:
            return
        first = not self._pending
        self._pending[peer].append(ident)
        if first:  # one flush per burst of finalizers
            self._schedule(self._flush)

    def consumed(self, msg: list[Any]) -> None:
        """The receiver has copied what it needs from ``msg``: give back its
        segments now, whatever still refers to the views (an event loop may
        hold the future that carried them until its next turn)."""
        for frame in msg[1:]:
            fin = self._views.pop(id(frame.obj), None) if type(frame) is memoryview else None
            got = fin.detach() if fin is not None else None
            if got is not None:
                self._released(*got[2])
        self.flush()

    def flush(self) -> None:
        """Send the queued releases now. Called at safe points (each posted
        receive), because a loop that takes queued messages without ever
        yielding never runs the scheduled flush."""
        if self._pending:
            self._flush()

    def _flush(self) -> None:
        pending, self._pending = self._pending, defaultdict(list)
        for peer, idents in pending.items():
            self._on_release(peer, idents)

    def close(self) -> None:
        self._closed = True
        for mm in self._maps.values():
            with contextlib.suppress(BufferError):
                mm.close()
        self._maps.clear()


class SharedMemory:
    """The transport's shared memory with its same-host ``peers``: the pool
    it sends from (which also backs large collective results while it is
    open), the reader of what they send, and the sends waiting for a lent
    frame to come back."""

    def __init__(
        self,
        directory: str,
        rank: int,
        peers: frozenset[int],
        send_release: Callable[[int, list[int]], None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.peers = peers
        self.pool = ShmPool(directory, rank)
        self.reader = ShmReader(directory, send_release, loop.call_soon)
        self._loop = loop
        self._loans: dict[int, asyncio.Future[None]] = {}  # lend id -> the send waiting on it

    def swap_out(
        self, frames: Sequence[Any], peer: int, lend: bool
    ) -> tuple[list[Any] | None, asyncio.Future[None] | None]:
        """``ShmPool.swap_out``, and for lent frames a future that completes
        when ``peer`` has given all of them back."""
        out, lent = self.pool.swap_out(frames, peer, lend=lend)
        if not lent:
            return out, None
        fut = self._loop.create_future()
        for ident in lent:
            self._loans[ident] = fut
        return out, fut

    def released(self, idents: list[int], peer: int) -> None:
        """``peer`` sent a release for ``idents``."""
        self._settle(self.pool.release(idents, peer))

    def gone(self, peer: int) -> None:
        """``peer`` is gone: nothing lent to it is read any more."""
        self._settle(self.pool.forget(peer))

    def _settle(self, idents: list[int]) -> None:
        for ident in idents:
            fut = self._loans.pop(ident)
            if not fut.done() and all(f is not fut for f in self._loans.values()):
                fut.set_result(None)

    def close(self) -> None:
        self.reader.close()
        self.pool.close()
        for fut in self._loans.values():
            if not fut.done() and not self._loop.is_closed():
                fut.set_exception(ConnectionError("transport closed before a lent frame came back"))
                fut.add_done_callback(lambda f: f.exception())
        self._loans.clear()


def _copy(dst: np.ndarray, src: np.ndarray, lo: int, hi: int) -> None:
    dst[lo:hi] = src[lo:hi]
