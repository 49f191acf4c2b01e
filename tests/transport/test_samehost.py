"""The same-host link's stream parser, fed any message mix in any chunking."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from zmqmesh.errors import DecodeError
from zmqmesh.transport.samehost import _DIRECT, LocalLinks, _Reader
from zmqmesh.wire import stream


class FakeTransport:
    def __init__(self) -> None:
        self.aborted = False

    def abort(self) -> None:
        self.aborted = True

    def pause_reading(self) -> None:
        pass


def wire(frames: list[bytes]) -> bytes:
    head = struct.pack("<I", len(frames)) + b"".join(struct.pack("<Q", len(f)) for f in frames)
    return head + b"".join(frames)


def reader(got: list[Any], max_message: int = 1 << 30) -> tuple[_Reader, FakeTransport]:
    loop = asyncio.new_event_loop()
    links = LocalLinks(
        loop, 0, lambda s, h, b: got.append((s, h, [bytes(x) for x in b])), max_message=max_message
    )
    links.paths.update({1: "/peer/1.link", 3: "/peer/3.link"})  # the ranks that may say hello
    r = _Reader(links)
    t = FakeTransport()
    r.transport = t  # type: ignore[assignment]
    loop.close()
    return r, t


def feed(r: _Reader, data: bytes, cuts: list[int]) -> None:
    pos = 0
    sizes = [*cuts, len(data)]
    while pos < len(data):
        want = max(1, sizes.pop(0) if sizes else len(data))
        buf = r.get_buffer(-1)
        n = min(want, len(buf), len(data) - pos)
        buf[:n] = data[pos : pos + n]
        r.buffer_updated(n)
        pos += n


frame = st.one_of(
    st.binary(max_size=40), st.integers(0, 3 * _DIRECT).map(lambda n: bytes([n % 251]) * n)
)
message = st.lists(frame, min_size=1, max_size=5)


@settings(max_examples=60, deadline=None)
@given(st.lists(message, min_size=1, max_size=6), st.lists(st.integers(1, 200_000), max_size=30))
def test_messages_come_out_whole_in_any_chunking(msgs: list[list[bytes]], cuts: list[int]) -> None:
    got: list[Any] = []
    r, t = reader(got)
    feed(r, struct.pack("<I", 3) + b"".join(wire(m) for m in msgs), cuts)
    assert not t.aborted
    assert got == [(3, m[0], m[1:]) for m in msgs]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(message, max_size=3),
    st.binary(max_size=48),
    st.lists(st.integers(1, 64), max_size=12),
)
def test_the_reader_takes_and_refuses_what_the_stream_format_does(
    msgs: list[list[bytes]], garbage: bytes, cuts: list[int]
) -> None:
    """Whatever follows the hello, in any chunking: the link delivers the
    messages ``stream.decode`` finds and is closed exactly when it raises."""
    data = b"".join(wire(m) for m in msgs) + garbage
    limit = 1 << 20  # frames of any size the garbage claims stay cheap
    try:
        expected, _ = stream.decode(data, max_message=limit)
        refused = False
    except DecodeError:
        expected, refused = [], True
    got: list[Any] = []
    r, t = reader(got, max_message=limit)
    feed(r, struct.pack("<I", 3) + data, cuts)
    assert t.aborted is refused
    # what came before the garbage arrived either way
    assert got == [(3, m[0], m[1:]) for m in (msgs if refused else expected)]


def test_absurd_headers_close_the_link() -> None:
    for bad in (
        struct.pack("<I", 0),  # no frames
        struct.pack("<I", 1 << 20),  # too many frames
        struct.pack("<IQ", 1, 1 << 40),  # more bytes than a message may have
    ):
        got: list[Any] = []
        r, t = reader(got, max_message=1 << 30)
        feed(r, struct.pack("<I", 1) + bad, [])
        assert t.aborted
        assert got == []


def test_a_link_from_no_rank_of_the_job_is_closed() -> None:
    got: list[Any] = []
    r, t = reader(got)
    feed(r, struct.pack("<I", 77) + wire([b"hello"]), [])
    assert t.aborted
    assert got == []


def test_a_second_link_from_one_rank_is_closed_and_costs_little() -> None:
    got: list[Any] = []
    first, _ = reader(got)
    feed(first, struct.pack("<I", 1), [])
    second, t = reader(got)
    assert len(second.scratch) <= 8  # no read buffer for a link not yet known
    second.links.readers.add(first)
    feed(second, struct.pack("<I", 1) + wire([b"hello"]), [])
    assert t.aborted
    assert got == []


def test_a_large_frame_gets_memory_as_its_bytes_arrive() -> None:
    """A header may claim up to the frame limit; only what arrives costs memory."""
    got: list[Any] = []
    r, t = reader(got)
    before = rss()
    claim = 1 << 30  # as much as a message may have here
    feed(r, struct.pack("<I", 1) + struct.pack("<IQ", 1, claim) + b"x" * 10, [])
    assert not t.aborted
    assert len(r.frames) == 1
    assert len(r.frames[0]) == claim
    assert rss() - before < 64 << 20  # a zeroed buffer would be the whole GiB
    assert got == []


def rss() -> int:
    with open("/proc/self/status") as f:
        line = next(ln for ln in f if ln.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def linked(tmp_path: Any, accept: Any) -> tuple[LocalLinks, LocalLinks]:
    """Rank 0's links and rank 1's (which calls ``accept`` for what it reads
    and takes links from rank 0 only), on the running loop."""
    loop = asyncio.get_running_loop()
    a = LocalLinks(loop, 0, lambda s, h, b: None, max_message=1 << 20)
    b = LocalLinks(loop, 1, accept, max_message=1 << 20)
    b.listen(str(tmp_path / "1.link"))
    b.start()
    a.paths[1] = str(tmp_path / "1.link")
    b.paths[0] = str(tmp_path / "0.link")
    return a, b


def test_poll_spins_until_a_link_has_input(tmp_path) -> None:
    """``poll`` is what a receive does before its rank sleeps: once a link
    has bytes it reads them there and then, without the event loop, and
    returns True; False when its budget runs out (or at once while reading
    is paused)."""
    import time

    async def body() -> None:
        got: list[Any] = []
        arrived = asyncio.Event()

        def accept(sender: int, header: bytes, bufs: list[Any]) -> None:
            got.append(header)
            arrived.set()

        a, b = linked(tmp_path, accept)
        assert not b.poll(0.01)  # no link yet
        a.send(1, [b"first"])
        await asyncio.wait_for(arrived.wait(), 10)  # connect, hello, first message
        arrived.clear()
        start = time.perf_counter()
        assert not b.poll(0.002)  # nothing sent: the whole budget, then False
        assert time.perf_counter() - start >= 0.002
        assert a.send(1, [b"second"]) is None  # the kernel took it at once
        assert not b.poll(5.0, peer=5)  # rank 5 is not known as a same-host rank: no spin
        assert b.poll(5.0, peer=0)  # read there and then: the loop has not run
        assert got == [b"first", b"second"]
        arrived.clear()
        assert a.send(1, [b"third"]) is None
        b.pause()
        assert not b.poll(5.0)  # paused: reading waits for receives, spinning is useless
        assert got == [b"first", b"second"]
        b.resume()
        await asyncio.wait_for(arrived.wait(), 10)  # the loop reads it
        assert got == [b"first", b"second", b"third"]
        a.close()
        b.close()

    asyncio.run(body())


def test_small_messages_keep_their_order_when_the_socket_fills(tmp_path) -> None:
    """Small messages are written straight to the socket while the link is
    idle; once the kernel's buffer is full, a partly written one finishes
    through the event loop and later ones wait behind it. Every message
    arrives whole and in order, and a send returns a future exactly when
    its message was not all taken at once."""
    import random

    async def body() -> None:
        got: list[bytes] = []
        rng = random.Random(7)
        # sizes around the joined-write limit, enough bytes to fill the socket many times
        msgs = [
            bytes([i % 251]) * rng.choice((0, 1, 9, 1000, 9000, 16_000, 17_000)) for i in range(600)
        ]
        first, every = asyncio.Event(), asyncio.Event()

        def accept(sender: int, header: bytes, bufs: list[Any]) -> None:
            got.append(header + b"".join(bytes(x) for x in bufs))
            first.set()
            if len(got) == len(msgs):
                every.set()

        a, b = linked(tmp_path, accept)
        msgs.insert(0, b"hello")
        a.send(1, [b"hello"])  # connects the link
        await asyncio.wait_for(first.wait(), 20)
        b.pause()  # nothing is read until every message was sent: the socket fills
        waited = 0
        pending = []
        for i, m in enumerate(msgs[1:]):
            # split some messages into two frames, the way the codec sends an array
            frames = [m[:3], m[3:]] if i % 2 else [m]
            fut = a.send(1, frames)
            if fut is not None:
                waited += 1
                pending.append(fut)
        assert waited > 0  # the socket did fill
        assert a.links[1].fd >= 0  # and the first ones went straight to it
        b.resume()
        await asyncio.wait_for(every.wait(), 20)
        await asyncio.wait_for(asyncio.gather(*pending), 20)
        assert got == msgs
        a.close()
        b.close()

    asyncio.run(body())
