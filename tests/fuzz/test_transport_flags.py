"""Hostile values of the envelope's transport-flags byte, at the code that owns it.

Byte 3 of the envelope belongs to the transport (``transport/transport.py``):
bit 0 says the message's large frames are in shared memory and lists them in
a trailing descriptor frame ``[(index, ident, name, nbytes), ...]``; bit 1
marks a *release*, whose payload is a list of segment ids to hand back to the
sender's pool. ``decode`` never looks at the byte
(test_decoder_fuzz.py::test_flags_byte_is_opaque_to_the_decoder), so these
tests drive ``Transport._unpack``, the code that owns it, with a real
``ShmPool``/``ShmReader`` over a temporary directory, and ``Transport._drain``
over a real ROUTER.

The contract: a message with flag bits is consumed (``None``), rejected (an
``Exception``, which ``_drain`` logs, dropping the message) or delivered
with its shared-memory frames swapped in, quickly and within a small
allocation bound, and what is delivered decodes or raises DecodeError.

The tests at the end are regression tests for defects this fuzzing found in
``_unpack`` (fixed in "Validate transport-level shared-memory messages"):
releases were accepted from any routing id and ids went through ``int()``,
and descriptor entries were not checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import struct
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack  # type: ignore[import-untyped]
import numpy as np
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zmqmesh.errors import DecodeError
from zmqmesh.transport.shm import ShmPool
from zmqmesh.transport.transport import Transport
from zmqmesh.wire import ENVELOPE_SIZE, Envelope, Kind, decode, encode

SCALE = max(1, int(os.environ.get("ZMQMESH_FUZZ_SCALE", "1")))
pytestmark = pytest.mark.timeout(120 * SCALE)
PEAK_LIMIT = 64 * 2**20
TIME_LIMIT = 2.0

FLAG_SHM, FLAG_RELEASE = 1, 2
PEER = 1  # the same-host peer the pool's segment is lent to
ANON = b"\x00\x6b\x8b\x45\x67"  # a ROUTER-assigned routing id: not a rank
NOT_A_PEER = struct.pack("!I", 7)  # a 4-byte id: reads as rank 7, which is not in the job


def rank_id(rank: int) -> bytes:
    return struct.pack("!I", rank)


@dataclass
class Harness:
    transport: Transport
    pool: ShmPool
    ident: int  # a segment of the pool, busy: lent to PEER
    name: str

    def unpack(self, routing_id: bytes, *frames: bytes) -> list[Any] | None:
        return unpack(self.transport, [zmq.Frame(routing_id), *(zmq.Frame(f) for f in frames)])


def unpack(transport: Transport, frames: list[zmq.Frame]) -> list[Any] | None:
    """What ``_drain`` does with ``[routing id, header, *buffers]`` from ZeroMQ."""
    sender = Transport._sender(frames[0])
    return transport._unpack(sender, frames[1].bytes, [f.buffer for f in frames[2:]])


@contextlib.contextmanager
def unbound_transport() -> Iterator[Transport]:
    """Rank 0's transport of a 2-rank job, never bound: ``_unpack`` needs no socket."""
    loop = asyncio.new_event_loop()
    zctx: zmq.Context[Any] = zmq.Context()

    async def make() -> Transport:
        return Transport(zctx, 0, lambda msg, _sender: None)

    transport = loop.run_until_complete(make())
    try:
        yield transport
    finally:
        transport.close()  # closes the reader first: finalizers that run later are no-ops
        gc.collect()
        zctx.term()
        loop.close()


@contextlib.contextmanager
def harness(directory: Path) -> Iterator[Harness]:
    """Rank 0's transport with shared memory to rank 1 set up in
    ``directory`` and one segment (1 MiB of float64 1.5) lent out to it."""
    with unbound_transport() as transport:
        transport.set_peers(
            ["ipc://unused-0", "ipc://unused-1"], same_host=[0, PEER], shm_dir=str(directory)
        )
        pool = transport.shm.pool if transport.shm is not None else None
        assert pool is not None
        ident, name = pool.put(memoryview(np.full(2**17, 1.5)), PEER)
        yield Harness(transport, pool, ident, name)


def header(flags: int, kind: Kind = Kind.P2P) -> bytes:
    raw = bytearray(encode(Envelope(kind, 99, 1, 5), [1, "two"])[0])
    raw[3] = flags
    return bytes(raw)


def release_header() -> bytes:
    return header(FLAG_RELEASE, Kind.CTRL)[:ENVELOPE_SIZE]


def bounded_unpack(h: Harness, routing_id: bytes, frames: list[bytes]) -> Any:
    """``_unpack``'s result or its exception, checked for time and memory; a
    delivered message is also decoded (DecodeError allowed)."""
    tracemalloc.start()
    try:
        start = time.perf_counter()
        try:
            outcome: Any = h.unpack(routing_id, *frames)
        except Exception as exc:  # _drain logs these and drops the message
            outcome = exc
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < PEAK_LIMIT, f"_unpack allocated {peak / 2**20:.1f} MiB"
    assert elapsed < TIME_LIMIT, f"_unpack took {elapsed:.2f} s"
    if isinstance(outcome, list):
        with contextlib.suppress(DecodeError):
            decode(outcome)
    return outcome


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


def test_flag_bits_with_bogus_descriptors(tmp_path: Path) -> None:
    with harness(tmp_path) as h:
        real_names = st.sampled_from([h.name, "0-1"])

        @settings(
            max_examples=400 * SCALE,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(
            flags=st.integers(1, 255),
            routing_id=st.sampled_from([ANON, NOT_A_PEER, rank_id(0), b"", b"\x00\x00\x01"]),
            buffers=st.lists(st.sampled_from([b"", b"x" * 8, bytes(64)]), max_size=3),
            descriptor=st.one_of(
                descriptors,
                st.lists(
                    st.tuples(st.integers(-3, 4), st.integers(0, 3), real_names, small_or_absurd),
                    min_size=1,
                    max_size=3,
                ).map(msgpack.packb),
            ),
            kind=st.sampled_from(Kind),
        )
        def run(
            flags: int,
            routing_id: bytes,
            buffers: list[bytes],
            descriptor: bytes,
            kind: Kind,
        ) -> None:
            outcome = bounded_unpack(h, routing_id, [header(flags, kind), *buffers, descriptor])
            assert outcome is None or isinstance(outcome, (list, Exception))

        run()


@pytest.mark.parametrize("shm", [False, True], ids=["no-shm", "shm"])
def test_release_messages_with_garbage_payloads(tmp_path: Path, shm: bool) -> None:
    # Consumed, or rejected as malformed; never delivered to the engine.
    with contextlib.ExitStack() as stack:
        if shm:
            transport = stack.enter_context(harness(tmp_path)).transport
        else:
            transport = stack.enter_context(unbound_transport())
            transport.set_peers(["ipc://unused-0", "ipc://unused-1"])

        @settings(max_examples=150 * SCALE, deadline=None, database=None)
        @given(
            payload=st.one_of(st.binary(max_size=40), descriptors),
            routing_id=st.sampled_from([rank_id(PEER), NOT_A_PEER, ANON]),
        )
        def run(payload: bytes, routing_id: bytes) -> None:
            frames = [zmq.Frame(routing_id), zmq.Frame(release_header() + payload)]
            # a malformed payload may raise what msgpack raises; no other error
            with contextlib.suppress(ValueError, TypeError, msgpack.UnpackException):
                assert unpack(transport, frames) is None

        run()


@pytest.mark.parametrize(
    ("flags", "frames"),
    [
        (4, []),  # an unknown bit alone
        (0x80, [b""]),
        (FLAG_SHM, []),  # shared memory, but no descriptor frame
        (FLAG_SHM | 4, [b"", msgpack.packb([[0, 1, "nope", 8]])]),
    ],
)
def test_unknown_or_incomplete_flags_are_rejected(
    tmp_path: Path, flags: int, frames: list[bytes]
) -> None:
    with harness(tmp_path) as h:
        outcome = bounded_unpack(h, ANON, [header(flags), *frames])
        assert isinstance(outcome, Exception)


def test_shared_memory_flag_without_shared_memory_is_rejected() -> None:
    with unbound_transport() as transport:
        transport.set_peers(["ipc://unused-0", "ipc://unused-1"])
        frames = [zmq.Frame(ANON), zmq.Frame(header(FLAG_SHM)), zmq.Frame(b""), zmq.Frame(b"")]
        with pytest.raises(ValueError, match="unexpected transport flags"):
            unpack(transport, frames)


def test_a_genuine_release_frees_the_segment(tmp_path: Path) -> None:
    with harness(tmp_path) as h:
        assert h.pool.busy == 1
        assert h.unpack(rank_id(PEER), release_header() + msgpack.packb([h.ident])) is None
        assert h.pool.busy == 0


@contextlib.contextmanager
def rank_0_router() -> Iterator[tuple[zmq.Context[Any], Transport, list[list[Any]]]]:
    """Rank 0's transport on a loop of its own, with the messages it
    delivers; closed, with its context and every socket the test opened in
    it, however the test ends."""
    loop = asyncio.new_event_loop()
    zctx: zmq.Context[Any] = zmq.Context()
    delivered: list[list[Any]] = []

    async def make() -> Transport:
        return Transport(zctx, 0, lambda msg, _sender: delivered.append(msg))

    transport = loop.run_until_complete(make())
    try:
        yield zctx, transport, delivered
    finally:
        transport.close()
        gc.collect()
        zctx.destroy(linger=0)
        loop.close()


def test_garbage_is_dropped_by_the_receive_loop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Through the real ROUTER and ``_drain``: every bad message is logged
    and dropped, nothing escapes the loop, and the next good one arrives."""
    with rank_0_router() as (zctx, transport, delivered):
        dealer = zctx.socket(zmq.DEALER)
        endpoint = transport.bind(f"ipc://{tmp_path}/0.sock")
        transport.set_peers([endpoint, None], same_host=[0, PEER], shm_dir=str(tmp_path))
        dealer.linger = 0
        dealer.setsockopt(zmq.ROUTING_ID, rank_id(PEER))  # through the gate: rank 1
        dealer.connect(endpoint)
        bad = [
            [header(4)],
            [header(FLAG_SHM)],
            [header(FLAG_SHM), b"", b"\xc1"],
            [header(FLAG_SHM), b"", msgpack.packb([[0, 1, "../etc/passwd", 8]])],
            [header(FLAG_SHM), b"", msgpack.packb([[5, 1, "nope", 8]])],
            [header(FLAG_SHM), b"", msgpack.packb(7)],
            [release_header() + b"\x91" * 3000],
        ]
        good = encode(Envelope(Kind.P2P, 99, 1, 5), "still here")
        for frames in [*bad, good]:
            dealer.send_multipart(frames)
        caplog.set_level(logging.ERROR, logger="zmqmesh.transport")
        deadline = time.monotonic() + 10
        while not delivered and time.monotonic() < deadline:
            transport._router.poll(100)
            transport._drain()
        assert len(delivered) == 1
        assert decode(delivered[0])[1] == "still here"
        dropped = [r for r in caplog.records if "dropped an inbound message" in r.getMessage()]
        # the release from rank 1 is consumed, or rejected as malformed
        assert len(bad) - 1 <= len(dropped) <= len(bad)


# -- regressions: defects this fuzzing found in _unpack (see the module docstring) -------


@pytest.mark.parametrize("routing_id", [NOT_A_PEER, rank_id(0)], ids=["rank-7", "self"])
def test_a_release_from_a_rank_the_segment_was_not_lent_to_is_ignored(
    tmp_path: Path, routing_id: bytes
) -> None:
    # A freed segment is reused by the next large send while PEER still reads
    # it: silent corruption of a received array (test_live_rank.py shows it
    # end to end).
    with harness(tmp_path) as h:
        assert h.unpack(routing_id, release_header() + msgpack.packb([h.ident])) is None
        assert h.pool.busy == 1


@pytest.mark.parametrize("ids", ["1", [True], [1.0], ["1"]], ids=repr)
def test_release_ids_must_be_ints(tmp_path: Path, ids: Any) -> None:
    with harness(tmp_path) as h:
        assert h.ident == 1
        with contextlib.suppress(Exception):
            h.unpack(rank_id(PEER), release_header() + msgpack.packb(ids))
        assert h.pool.busy == 1


@pytest.mark.parametrize(
    ("index", "nbytes", "buffers"),
    [(-1, 64, [b""]), (-2, 64, [b""]), (0, -1, [b""]), (0, 16, [b"real data"])],
    ids=["index-1", "index-2", "nbytes-1", "non-empty-frame"],
)
def test_descriptors_are_validated(
    tmp_path: Path, index: int, nbytes: int, buffers: list[bytes]
) -> None:
    with harness(tmp_path) as h:
        descriptor = msgpack.packb([[index, h.ident, h.name, nbytes]])
        with pytest.raises(ValueError, match="descriptor"):
            h.unpack(ANON, header(FLAG_SHM), *buffers, descriptor)


@pytest.mark.parametrize(
    "routing_id", [ANON, NOT_A_PEER, rank_id(0)], ids=["anonymous", "rank-7", "self"]
)
def test_a_connection_that_is_no_other_rank_cannot_speak_for_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, routing_id: bytes
) -> None:
    """A well-formed message for the job's own context, from a connection
    whose routing id names no other rank of the job, is dropped before it
    is read: it could otherwise claim to be any rank's."""
    with rank_0_router() as (zctx, transport, delivered):
        intruder, peer = zctx.socket(zmq.DEALER), zctx.socket(zmq.DEALER)
        endpoint = transport.bind(f"ipc://{tmp_path}/0.sock")
        transport.set_peers([endpoint, None])
        for sock, ident in ((intruder, routing_id), (peer, rank_id(PEER))):
            sock.linger = 0
            if ident != ANON:
                sock.setsockopt(zmq.ROUTING_ID, ident)
            sock.connect(endpoint)
        caplog.set_level(logging.ERROR, logger="zmqmesh.transport")
        intruder.send_multipart(encode(Envelope(Kind.P2P, 0, 1, 5), "forged"))
        peer.send_multipart(encode(Envelope(Kind.P2P, 0, 1, 5), "genuine"))
        deadline = time.monotonic() + 10
        while not delivered and time.monotonic() < deadline:
            transport._router.poll(100)
            transport._drain()
        time.sleep(0.1)
        transport._drain()
        assert [decode(m)[1] for m in delivered] == ["genuine"]
        assert any("no other rank's" in r.getMessage() for r in caplog.records)
