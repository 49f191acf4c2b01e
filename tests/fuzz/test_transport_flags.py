"""Hostile values of the envelope's transport-flags byte and what it carries.

Byte 3 of the envelope belongs to the transport; its format is
``wire/control.py``'s: SHM says the message's large frames are in shared
memory and lists them in a trailing descriptor frame (``wire/shmdesc.py``),
RELEASE marks a notice whose payload is a list of segment ids to hand back
to the sender's pool, BYE and BYE_ACK the goodbye and its answer. ``decode``
(the codec) never looks at the byte
(test_decoder_fuzz.py::test_flags_byte_is_opaque_to_the_decoder).

The first half drives the pure decoders the transport calls on every
flagged message, ``control.decode`` and then ``shmdesc.decode``: each input
is decoded or raises DecodeError, and nothing else, quickly and within a
small allocation bound. The second half runs rank 0's real transport on an
event loop, with raw DEALERs as its peers, for what needs the transport's
state: what reaches the engine, what the shared-memory pool does with a
release, and which connections may speak at all. Those tests wait for the
delivery or the logged drop they expect, never for a time.

The regression tests are for defects this fuzzing found (fixed in
"Validate transport-level shared-memory messages"): releases were accepted
from any routing id and ids went through ``int()``, and descriptor entries
were not checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import struct
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgpack  # type: ignore[import-untyped]
import numpy as np
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zmqmesh.errors import DecodeError
from zmqmesh.transport.transport import Transport
from zmqmesh.wire import ENVELOPE_SIZE, Envelope, Kind, control, decode, encode, shmdesc

from .limits import bounded

SCALE = max(1, int(os.environ.get("ZMQMESH_FUZZ_SCALE", "1")))
pytestmark = pytest.mark.timeout(120 * SCALE)
WAIT = 20.0  # seconds the live tests wait for what they expect

FLAG_SHM, FLAG_RELEASE = 1, 2
PEER = 1  # the same-host peer the pool's segment is lent to
OTHER = 2  # another rank of the job, which was lent nothing
ANON = b"\x00\x6b\x8b\x45\x67"  # a ROUTER-assigned routing id: not a rank
NOT_A_PEER = struct.pack("!I", 7)  # a 4-byte id: reads as rank 7, which is not in the job


def rank_id(rank: int) -> bytes:
    return struct.pack("!I", rank)


def header(flags: int, kind: Kind = Kind.P2P) -> bytes:
    raw = bytearray(encode(Envelope(kind, 99, 1, 5), [1, "two"])[0])
    raw[3] = flags
    return bytes(raw)


def release_header() -> bytes:
    return header(FLAG_RELEASE, Kind.CTRL)[:ENVELOPE_SIZE]


# -- the pure decoders -----------------------------------------------------------


def transport_bytes(frames: list[bytes]) -> object:
    """What the transport reads of ``[header, *buffers]`` with flags set:
    the notice, or the shared-memory entries of a data message."""
    head, buffers = frames[0], frames[1:]
    what = control.decode(head, len(buffers))
    if isinstance(what, control.Shared):
        return shmdesc.decode(buffers[-1], [len(b) for b in buffers[:-1]])
    return what


names = st.one_of(
    st.sampled_from(["", ".", "..", "../x", "a/b", ".hidden", "nope", "0-999", "1-1", "\x00"]),
    st.text(max_size=6),
    st.integers(-(2**63), 2**64 - 1),  # what msgpack packs
    st.binary(max_size=4),
    st.none(),
)
small_or_absurd = st.one_of(
    st.integers(-3, 70),
    st.sampled_from([-(2**63), 2**31, 2**40, 2**63 - 1, 2**64 - 1]),
    st.floats(),
    st.text(max_size=2),
    st.none(),
)
descriptors = st.one_of(
    st.lists(
        st.one_of(
            st.tuples(small_or_absurd, small_or_absurd, names, small_or_absurd),
            st.lists(small_or_absurd, max_size=5),
            small_or_absurd,
        ),
        max_size=4,
    ).map(lambda d: msgpack.packb(d, use_bin_type=True)),
    st.binary(max_size=24),
    st.integers(1, 2000).map(lambda n: b"\x91" * n + b"\x90"),  # nested deep
    st.just(b"\xdd\x7f\xff\xff\xff\x00"),  # claims 2**31 descriptors
)


@settings(
    max_examples=400 * SCALE,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    flags=st.integers(1, 255),
    buffers=st.lists(st.sampled_from([b"", b"x" * 8, bytes(64)]), max_size=3),
    descriptor=st.one_of(
        descriptors,
        st.lists(
            st.tuples(st.integers(-3, 4), st.integers(0, 3), names, small_or_absurd),
            min_size=1,
            max_size=3,
        ).map(msgpack.packb),
    ),
    kind=st.sampled_from(Kind),
)
def test_flag_bits_with_bogus_descriptors(
    flags: int, buffers: list[bytes], descriptor: bytes, kind: Kind
) -> None:
    frames = [header(flags, kind), *buffers, descriptor]
    outcome = bounded(lambda: transport_bytes(frames))
    if isinstance(outcome, tuple):  # what the reader would map: checked entries
        sizes = [len(b) for b in frames[1:-1]]
        for entry in outcome:
            assert isinstance(entry, shmdesc.SharedFrame)
            assert 0 <= entry.index < len(sizes)
            assert sizes[entry.index] == 0
            assert entry.nbytes >= 0
            assert entry.offset >= 0
            assert shmdesc.check_name(entry.name) == entry.name
    else:
        assert isinstance(outcome, (control.Release, control.Goodbye, DecodeError))


@settings(max_examples=300 * SCALE, deadline=None, database=None)
@given(payload=st.one_of(st.binary(max_size=40), descriptors))
def test_release_messages_with_garbage_payloads(payload: bytes) -> None:
    # A release, or rejected as malformed; never a data message.
    outcome = bounded(lambda: control.decode(release_header() + payload, 0))
    assert isinstance(outcome, (control.Release, DecodeError))
    if isinstance(outcome, control.Release):
        assert all(type(i) is int and 0 <= i < 2**64 for i in outcome.idents)


@settings(max_examples=300 * SCALE, deadline=None, database=None)
@given(routing_id=st.binary(max_size=8))
def test_routing_ids_name_a_u32_rank_or_none(routing_id: bytes) -> None:
    outcome = bounded(lambda: control.parse_routing_id(routing_id))
    if len(routing_id) == 4:
        assert outcome == int.from_bytes(routing_id, "big")
    else:
        assert isinstance(outcome, DecodeError)


@pytest.mark.parametrize(
    ("flags", "frames"),
    [
        (4, [b""]),  # a goodbye with a buffer frame
        (0x80, [b""]),  # an unknown bit alone
        (FLAG_SHM, []),  # shared memory, but no descriptor frame
        (FLAG_SHM | 4, [b"", msgpack.packb([[0, 1, "nope", 8]])]),
        (FLAG_RELEASE | FLAG_SHM, []),  # no two flags at once
    ],
)
def test_unknown_or_incomplete_flags_are_rejected(flags: int, frames: list[bytes]) -> None:
    outcome = bounded(lambda: transport_bytes([header(flags, Kind.CTRL), *frames]))
    assert isinstance(outcome, DecodeError)


# -- regressions: defects this fuzzing found (see the module docstring) -------------


@pytest.mark.parametrize("ids", ["1", [True], [1.0], ["1"], [-1]], ids=repr)
def test_release_ids_must_be_ints(ids: Any) -> None:
    with pytest.raises(DecodeError, match="segment id"):
        control.decode(release_header() + msgpack.packb(ids), 0)


@pytest.mark.parametrize(
    ("index", "nbytes", "buffers"),
    [(-1, 64, [b""]), (-2, 64, [b""]), (0, -1, [b""]), (0, 16, [b"real data"])],
    ids=["index-1", "index-2", "nbytes-1", "non-empty-frame"],
)
def test_descriptors_are_validated(index: int, nbytes: int, buffers: list[bytes]) -> None:
    descriptor = msgpack.packb([[index, 1, "0-1", nbytes]])
    with pytest.raises(DecodeError, match="descriptor"):
        transport_bytes([header(FLAG_SHM), *buffers, descriptor])


# -- rank 0's transport, live ----------------------------------------------------


class Rank0:
    """Rank 0's transport of a 3-rank job, bound on this loop, with shared
    memory to ranks 1 and 2 (in ``directory``) and one segment (1 MiB of
    float64 1.5) lent out to rank 1. Raw DEALERs play the peers."""

    def __init__(self, directory: Path) -> None:
        self.zctx: zmq.Context[Any] = zmq.Context()
        self.delivered: list[list[Any]] = []
        self.dropped: list[str] = []
        self.changed = asyncio.Event()
        self.transport = Transport(self.zctx, 0, self._deliver)
        self.endpoint = self.transport.bind(f"ipc://{directory}/0.sock")
        self.transport.set_peers(
            [self.endpoint, None, None], same_host=[0, PEER, OTHER], shm_dir=str(directory)
        )
        assert self.transport.shm is not None
        self.pool = self.transport.shm.pool
        self.ident, self.name = self.pool.put(memoryview(np.full(2**17, 1.5)), PEER)

    def _deliver(self, msg: list[Any], _sender: int) -> None:
        self.delivered.append(msg)
        self.changed.set()

    def logged(self, line: str) -> None:
        if "dropped an inbound message" in line:
            self.dropped.append(line)
            self.changed.set()

    def dealer(self, routing_id: bytes) -> zmq.Socket[Any]:
        """A peer's DEALER, connected (ZeroMQ names an ``ANON`` one itself)."""
        sock: zmq.Socket[Any] = self.zctx.socket(zmq.DEALER)
        sock.linger = 0
        if routing_id != ANON:
            sock.setsockopt(zmq.ROUTING_ID, routing_id)
        sock.connect(self.endpoint)
        return sock

    async def until(self, done: Callable[[], bool]) -> None:
        """Wait until ``done()``, re-checked at each delivery and drop."""
        deadline = asyncio.get_running_loop().time() + WAIT
        while not done():
            self.changed.clear()
            left = deadline - asyncio.get_running_loop().time()
            await asyncio.wait_for(self.changed.wait(), max(left, 0.0))

    def payloads(self) -> list[object]:
        return [decode(m)[1] for m in self.delivered]


class Lines(logging.Handler):
    """Hands each record's message to ``to`` (on the thread that logs it:
    the transport logs on the loop's)."""

    def __init__(self, to: Callable[[str], None]) -> None:
        super().__init__(logging.ERROR)
        self.to = to

    def emit(self, record: logging.LogRecord) -> None:
        self.to(record.getMessage())


@contextlib.asynccontextmanager
async def rank_0(directory: Path) -> AsyncIterator[Rank0]:
    """A ``Rank0``, closed with its context and every socket a test opened
    in it, however the test ends."""
    r = Rank0(directory)
    handler = Lines(r.logged)
    logger = logging.getLogger("zmqmesh.transport")
    logger.addHandler(handler)
    try:
        yield r
    finally:
        logger.removeHandler(handler)
        r.transport.close()  # closes the reader first: finalizers that run later are no-ops
        gc.collect()
        r.zctx.destroy(linger=0)


def sentinel(text: str) -> list[bytes]:
    return [bytes(f) for f in encode(Envelope(Kind.P2P, 99, 1, 5), text)]


def test_garbage_is_dropped_by_the_receive_loop(tmp_path: Path) -> None:
    """Every bad message from a rank of the job is logged and dropped,
    nothing escapes the loop, and the next good one arrives."""
    bad = [
        [header(4)],  # a goodbye that is no CTRL message
        [header(FLAG_SHM)],
        [header(FLAG_SHM), b"", b"\xc1"],
        [header(FLAG_SHM), b"", msgpack.packb([[0, 1, "../etc/passwd", 8]])],
        [header(FLAG_SHM), b"", msgpack.packb([[5, 1, "nope", 8]])],
        [header(FLAG_SHM), b"", msgpack.packb(7)],
        [header(FLAG_SHM), b"", msgpack.packb([[0, 1, "0-404", 8]])],  # no such segment
        [release_header() + b"\x91" * 3000],
        [release_header() + msgpack.packb(["1"])],
        [header(0x80)],
    ]

    async def body() -> None:
        async with rank_0(tmp_path) as r:
            peer = r.dealer(rank_id(PEER))
            for frames in [*bad, sentinel("still here")]:
                peer.send_multipart(frames)
            await r.until(lambda: bool(r.delivered))
            assert r.payloads() == ["still here"]
            assert len(r.dropped) == len(bad)  # one line each, all before the sentinel
            assert all("from rank 1" in line for line in r.dropped)
            assert r.pool.busy == 1

    asyncio.run(body())


def test_a_genuine_release_frees_the_segment(tmp_path: Path) -> None:
    async def body() -> None:
        async with rank_0(tmp_path) as r:
            peer = r.dealer(rank_id(PEER))
            assert r.pool.busy == 1
            peer.send_multipart([control.Release((r.ident,)).encode()])
            peer.send_multipart(sentinel("after the release"))
            await r.until(lambda: bool(r.delivered))
            assert r.payloads() == ["after the release"]
            assert r.pool.busy == 0
            assert r.dropped == []

    asyncio.run(body())


def test_a_release_from_a_rank_the_segment_was_not_lent_to_is_ignored(tmp_path: Path) -> None:
    # A freed segment is reused by the next large send while PEER still reads
    # it: silent corruption of a received array (test_live_rank.py shows it
    # end to end).
    async def body() -> None:
        async with rank_0(tmp_path) as r:
            other = r.dealer(rank_id(OTHER))
            other.send_multipart([control.Release((r.ident,)).encode()])
            other.send_multipart(sentinel("after the forged release"))
            await r.until(lambda: bool(r.delivered))
            assert r.payloads() == ["after the forged release"]
            assert r.pool.busy == 1
            assert r.dropped == []  # a well-formed release: taken, and changes nothing

    asyncio.run(body())


@pytest.mark.parametrize(
    "routing_id", [ANON, NOT_A_PEER, rank_id(0)], ids=["anonymous", "rank-7", "self"]
)
def test_a_connection_that_is_no_other_rank_cannot_speak_for_one(
    tmp_path: Path, routing_id: bytes
) -> None:
    """A well-formed message for the job's own context, or a release, from a
    connection whose routing id names no other rank of the job, is dropped
    before it is read: it could otherwise claim to be any rank's."""

    async def body() -> None:
        async with rank_0(tmp_path) as r:
            intruder, peer = r.dealer(routing_id), r.dealer(rank_id(PEER))
            intruder.send_multipart(encode(Envelope(Kind.P2P, 0, 1, 5), "forged"))
            intruder.send_multipart([control.Release((r.ident,)).encode()])
            peer.send_multipart(encode(Envelope(Kind.P2P, 0, 1, 5), "genuine"))
            await r.until(lambda: bool(r.delivered) and len(r.dropped) == 2)
            assert [decode(m)[1] for m in r.delivered] == ["genuine"]
            assert all("no other rank's" in line for line in r.dropped)
            assert r.pool.busy == 1

    asyncio.run(body())
