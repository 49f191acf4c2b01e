"""Cutting rank output into prefixed whole lines, and writing them all."""

from __future__ import annotations

import io
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zmqmesh.launcher.output import LineSplitter, Sink

pytestmark = pytest.mark.timeout(60)


def test_whole_lines_come_out_prefixed_and_partial_lines_wait() -> None:
    splitter = LineSplitter(b"[3] ")
    assert splitter.feed(b"he") == b""
    assert splitter.feed(b"llo\nwor") == b"[3] hello\n"
    assert splitter.feed(b"ld\n\nlast") == b"[3] world\n[3] \n"
    assert splitter.close() == b"[3] last\n"
    assert splitter.close() == b""


def test_without_a_prefix_bytes_pass_unchanged() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"\xff\xfe\n\r\n") == b"\xff\xfe\n\r\n"
    assert splitter.close() == b""


@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\x00", b"\n")), max_size=30))
def test_any_chunking_gives_the_stream_back_line_by_line(chunks: list[bytes]) -> None:
    splitter = LineSplitter(b"[0] ")
    pieces = [splitter.feed(chunk) for chunk in chunks]
    pieces.append(splitter.close())
    for piece in pieces:  # every write holds whole lines only
        assert piece == b"" or piece.endswith(b"\n")
    out = b"".join(pieces)
    stream = b"".join(chunks)
    expected = stream if stream.endswith(b"\n") or not stream else stream + b"\n"
    lines = out.split(b"\n")[:-1]
    assert all(line.startswith(b"[0] ") for line in lines)
    assert b"".join(line[4:] + b"\n" for line in lines) == expected


def test_a_line_of_megabytes_fed_in_small_pieces_is_held_whole() -> None:
    splitter = LineSplitter(b"[1] ")
    for _ in range(1000):
        assert splitter.feed(b"x" * 4096) == b""
    assert splitter.feed(b"\n") == b"[1] " + b"x" * 4_096_000 + b"\n"


class PartialRawStream(io.RawIOBase):
    """A raw stream that takes at most 3 bytes a call and sometimes none
    (``None``, as a full non-blocking descriptor does)."""

    def __init__(self, fd: int) -> None:
        self.data = bytearray()
        self.calls = 0
        self.fd = fd

    def writable(self) -> bool:
        return True

    def write(self, b: object) -> int | None:
        self.calls += 1
        if self.calls % 4 == 0:
            return None
        chunk = bytes(memoryview(b))[:3]  # type: ignore[arg-type]
        self.data += chunk
        return len(chunk)

    def fileno(self) -> int:
        return self.fd  # the sink waits on it with select() after a None


def test_the_sink_resumes_partial_writes() -> None:
    read_end, write_end = os.pipe()  # an empty pipe: always writable
    try:
        raw = PartialRawStream(write_end)
        Sink(raw).write(b"[0] a line of some length\n")  # type: ignore[arg-type]
        assert bytes(raw.data) == b"[0] a line of some length\n"
        assert raw.calls > 9
    finally:
        os.close(read_end)
        os.close(write_end)


def test_the_sink_survives_a_reader_that_went_away() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    with os.fdopen(write_end, "wb") as stream:
        sink = Sink(stream)
        sink.write(b"[0] nobody reads this\n")  # BrokenPipeError inside
        assert sink.broken
        sink.write(b"[0] nor this\n")
        stream.write(b"the descriptor now leads to /dev/null\n")
        stream.flush()
    assert "broken=True" in repr(sink)


def test_a_progress_line_is_drawn_in_place_and_ends_as_drawn_last() -> None:
    splitter = LineSplitter(b"[0] ", live=True)
    assert splitter.feed(b"\rtasks 1/3") == b""
    assert splitter.in_place() == b"\r[0] tasks 1/3"
    assert splitter.feed(b"\rtasks 2/3") == b""
    assert splitter.in_place() == b"\r[0] tasks 2/3"
    # the newline: the line as last drawn, over what was drawn in place
    assert splitter.feed(b"\rtasks 3/3\nnext\n") == b"\r[0] tasks 3/3\n[0] next\n"
    assert splitter.in_place() == b""


def test_on_a_terminal_carriage_returns_leave_the_last_drawing() -> None:
    splitter = LineSplitter(b"[1] ", live=True)
    assert splitter.feed(b"a\rb\rc\n\r\rd\r\n") == b"[1] c\n[1] d\n"
    plain = LineSplitter(b"[1] ")  # not a terminal: every byte passes through
    assert plain.feed(b"a\rb\n") == b"[1] a\rb\n"
    assert plain.in_place() == b""
