"""Rank output: pipes read on the event loop, cut into whole prefixed lines,
written to the launcher's stdout and stderr.

Ranks write whatever they like to their pipes, in pieces of any size. The
launcher re-emits only whole lines, each write holding complete lines only, so
the lines of different ranks never interleave mid-line on the launcher's
stdout or stderr. Everything is bytes: output that is not UTF-8 passes through.
"""

from __future__ import annotations

import asyncio
import os
import select
from collections.abc import Callable
from typing import IO, BinaryIO

__all__ = ["LineSplitter", "Pump", "Sink"]

_CHUNK = 1 << 16


class LineSplitter:
    """Cuts a byte stream into whole lines, each starting with ``prefix``.

    :meth:`feed` returns the complete lines available so far (``b""`` when
    none) and holds a trailing partial line, however long, until its newline
    arrives; :meth:`close` returns that partial line with a newline added.
    """

    def __init__(self, prefix: bytes = b"", *, live: bool = False) -> None:
        self.prefix = prefix
        self._partial = bytearray()
        # For a terminal: lines drawn with carriage returns end as their last
        # drawing (else every byte passes through), and ``in_place`` draws
        # the partial line; ``shown`` says it has.
        self.live = live
        self.shown = False

    def __repr__(self) -> str:
        return f"<LineSplitter prefix={self.prefix!r} held={len(self._partial)}>"

    def feed(self, data: bytes) -> bytes:
        """Take the next bytes of the stream; return the lines they complete."""
        end = data.rfind(b"\n")
        if end < 0:
            # Only the tail is searched, so a line of many MB arriving in
            # small reads costs linear time, not quadratic.
            self._partial += data
            return b""
        if self._partial:
            self._partial += data[: end + 1]
            lines = bytes(self._partial)
            self._partial = bytearray(data[end + 1 :])
        else:
            lines = data[: end + 1]
            self._partial = bytearray(data[end + 1 :])
        return self._prefixed(lines)

    def close(self) -> bytes:
        """End of stream: the held partial line with a newline, or ``b""``."""
        if not self._partial:
            return b""
        rest = bytes(self._partial) + b"\n"
        self._partial = bytearray()
        return self._prefixed(rest)

    def _prefixed(self, lines: bytes) -> bytes:
        # ``lines`` ends with a newline: prefix its start and every line
        # start after an inner newline, but not the empty string at the end.
        over = b""
        if self.live and b"\r" in lines:  # a line redrawn in place ends as last drawn
            lines = b"\n".join(_last_drawn(ln) for ln in lines[:-1].split(b"\n")) + b"\n"
        if self.shown:  # over what ``in_place`` drew
            self.shown, over = False, b"\r"
        if not self.prefix:
            return over + lines
        return over + self.prefix + lines[:-1].replace(b"\n", b"\n" + self.prefix) + b"\n"

    def in_place(self) -> bytes:
        """For a terminal: the held partial line as drawn so far (``\r``, the
        prefix, the text after its last carriage return), when it has one,
        else ``b""``: a rank's progress line redrawn in place."""
        if not self.live or b"\r" not in self._partial:
            return b""
        self.shown = True
        return b"\r" + self.prefix + _last_drawn(bytes(self._partial))


def _last_drawn(line: bytes) -> bytes:
    """What a terminal shows of ``line`` drawn with carriage returns: the
    text after the last one that is followed by any (a good enough model
    for progress lines, which redraw the whole line each time)."""
    parts = [p for p in line.split(b"\r") if p]
    return parts[-1] if parts else b""


class Sink:
    """Writes whole lines to a binary stream, all of each, flushing after each write.

    The stream may be buffered or raw (``python -u`` makes ``sys.stdout.buffer``
    raw), blocking or not: partial writes, which a signal such as SIGCHLD can
    cause in the middle of a large write, are resumed. When the reader goes
    away (``BrokenPipeError``, as with ``| head``) the stream's descriptor is
    pointed at ``/dev/null`` and later output is dropped: the job goes on, and
    the interpreter does not fail on its final flush.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.broken = False
        self.before: Callable[[], None] | None = None  # e.g. clear a status line

    def __repr__(self) -> str:
        return f"<Sink {getattr(self.stream, 'name', '?')!r} broken={self.broken}>"

    def write(self, data: bytes, *, flush_only: bool = False) -> None:
        """Write all of ``data`` (whole lines, unless ``flush_only``: a status
        line's own bytes) and flush; ``b""`` is a no-op."""
        if not data or self.broken:
            return
        if self.before is not None and not flush_only:
            self.before()
        view = memoryview(data)
        try:
            while view:
                written: int | None
                try:
                    written = self.stream.write(view)
                except BlockingIOError as exc:
                    written = exc.characters_written
                    self._wait_writable()
                if written is None:  # a raw non-blocking stream took nothing
                    self._wait_writable()
                    written = 0
                view = view[written:]
            while True:
                try:
                    self.stream.flush()
                    break
                except BlockingIOError:
                    self._wait_writable()
        except BrokenPipeError:
            self.broken = True
            self._silence()

    def _wait_writable(self) -> None:
        select.select([], [self.stream.fileno()], [])

    def _silence(self) -> None:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self.stream.fileno())
            finally:
                os.close(devnull)
        except (OSError, ValueError):
            pass  # not backed by a descriptor: nothing will flush to it at exit either


class Pump:
    """Moves one pipe of one rank to a sink, whole lines at a time."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        pipe: IO[bytes],
        prefix: bytes,
        sink: Sink,
        watch: Callable[[bytes], None] | None = None,
        *,
        live: bool = False,
    ) -> None:
        self._loop = loop
        self._watch = watch  # sees every batch of whole (prefixed) lines
        self._pipe = pipe
        self._fd = pipe.fileno()
        self._splitter = LineSplitter(prefix, live=live)  # live: the sink is a terminal
        self._sink = sink
        self.closed: asyncio.Future[None] = loop.create_future()
        os.set_blocking(self._fd, False)
        loop.add_reader(self._fd, self.drain, 1)

    def drain(self, reads: int) -> None:
        """Read at most ``reads`` chunks that are ready; close at end of stream."""
        for _ in range(reads):
            if self.closed.done():
                return
            try:
                data = os.read(self._fd, _CHUNK)
            except BlockingIOError:
                return
            except OSError:
                data = b""  # a pipe that errors is as good as closed
            if not data:
                self.close()
                return
            lines = self._splitter.feed(data)
            if lines and self._watch is not None:
                self._watch(lines)
            self._sink.write(lines)
            if drawn := self._splitter.in_place():
                self._sink.write(drawn, flush_only=True)

    def close(self) -> None:
        """Stop reading; emit a held partial line (idempotent)."""
        if self.closed.done():
            return
        self._loop.remove_reader(self._fd)
        self._pipe.close()
        rest = self._splitter.close()
        if rest and self._watch is not None:
            self._watch(rest)
        self._sink.write(rest)
        self.closed.set_result(None)
