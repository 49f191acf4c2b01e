"""Fuzz the receive path of a live rank, through its own ROUTER socket.

A 3-rank job (``launch`` from tests/conftest.py) runs real traffic between
ranks 0 and 1: checked ``sendrecv`` of small arrays every round, of a 320 KB
array (the shared-memory path) every 8th round, and rank 0's decision to
stop. Rank 2 only waits for rank 1's word at the end and never connects to
rank 0, whose ROUTER drops what comes from a connection that names no other
rank: this process takes rank 2's place there. It connects a raw DEALER with
rank 2's routing id to rank 0's ROUTER (the endpoint is read from
``comm._engine.transport.endpoints``, a test-only peek) and sends a few
thousand hostile multipart messages: random bytes, truncated
and bit-flipped valid messages, wrong magic/version/kind bytes, absurd array
meta and msgpack bombs in CTRL messages (which the engine decodes on
arrival), P2P/COLL messages for contexts nobody receives, and transport flag
bits with bogus shared-memory descriptors and releases. Last comes a sentinel
on rank 0's own context; per-connection FIFO order means that when rank 0
takes it, every fuzz message before it has been through the receive path.

The job must exit 0 with every round's results correct; rank 0 must log the
messages it drops; its memory growth (VmRSS from /proc/self/status, printed
at start and end) must stay under ``RSS_GROWTH_LIMIT``.

Valid envelopes are only ever sent for contexts the job does not use (the
world communicator's are 0 and 1): a rank may act on what another rank
sends it, and this test checks robustness, not authentication between
ranks (see tests/fuzz/README.md).

``ZMQMESH_FUZZ_LIVE_MESSAGES`` (default 4000), ``ZMQMESH_FUZZ_SEED`` and
``ZMQMESH_FUZZ_LIVE_RSS_MIB`` (default 64) change the run; a failure prints
the seed.
"""

from __future__ import annotations

import os
import random
import re
import struct
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import msgpack  # type: ignore[import-untyped]
import numpy as np
import pytest
import zmq
from conftest import launch

from zmqmesh.errors import DecodeError
from zmqmesh.wire import ENVELOPE_SIZE, Envelope, Kind, encode, peek_envelope
from zmqmesh.wire.tags import ARRAY, EXT_BIGINT, SCALAR, SET, TUPLE

MESSAGES = int(os.environ.get("ZMQMESH_FUZZ_LIVE_MESSAGES", "4000"))
SEED = int(os.environ.get("ZMQMESH_FUZZ_SEED", "20240611"))
SENTINEL = 7_777_777
# VmRSS growth allowed to rank 0, bytes. Measured: ~10 MiB for 4,000 messages,
# ~30 MiB for 40,000; it grows with the unreceived messages a rank must keep.
RSS_GROWTH_LIMIT = int(os.environ.get("ZMQMESH_FUZZ_LIVE_RSS_MIB", "64")) * 2**20
JOB_DEADLINE = 60.0  # the job stops by itself this long after start, sentinel or not
JOB_LEAST = 3.0  # and runs at least this long: traffic goes on after the flood

PROGRAM = """
import gc, os, sys, time
import numpy as np
import zmqmesh

SENTINEL = %(sentinel)d
STOP = 5000
endpoint_file, deadline, least = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])


def mem():
    out = {}
    with open(f"/proc/{os.getpid()}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
    return " ".join(f"{k}={v}" for k, v in out.items())


async def main(comm):
    if comm.rank == 2:  # its place at rank 0 is the fuzzer's: it never talks to 0
        print("rank 2:", await comm.recv(1, tag=STOP), flush=True)
        return
    peer = 1 - comm.rank
    print("MEM start", mem(), flush=True)
    if comm.rank == 0:
        with open(endpoint_file + ".tmp", "w") as f:
            f.write(comm._engine.transport.endpoints[0])
        os.replace(endpoint_file + ".tmp", endpoint_file)
    start = time.monotonic()
    rounds = big = 0
    while True:
        rounds += 1
        tag = rounds %% 1000
        mine = np.arange(1000, dtype=np.int64) * (comm.rank + 1) + rounds
        got = await comm.sendrecv(mine, peer, sendtag=tag, source=peer, recvtag=tag)
        assert np.array_equal(got, np.arange(1000) * (peer + 1) + rounds), rounds
        if rounds %% 8 == 0:  # 320 KB: through shared memory
            big += 1
            got = await comm.sendrecv(np.full(40_000, rounds + 0.5), peer, sendtag=tag,
                                      source=peer, recvtag=tag)
            assert got.shape == (40_000,) and bool((got == rounds + 0.5).all()), rounds
        if comm.rank == 0:
            elapsed = time.monotonic() - start
            done = comm.iprobe(2, SENTINEL) is not None and elapsed > least
            stop = bool(done or elapsed > deadline)
            await comm.send((rounds, stop), 1, tag=STOP)
        else:
            seen, stop = await comm.recv(0, tag=STOP)
            assert seen == rounds, (seen, rounds)
        if stop:
            break
    if comm.rank == 1:
        await comm.send("done", 2, tag=STOP)
    if comm.rank == 0:
        note = await comm.recv(2, SENTINEL) if comm.iprobe(2, SENTINEL) else None
        print("SENTINEL", repr(note), flush=True)
        count = comm._engine.matcher.unexpected_count
        print("UNEXPECTED", count() if callable(count) else count, flush=True)
    gc.collect()
    print("MEM end", mem(), flush=True)
    print("ROUNDS", rounds, "BIG", big, flush=True)


zmqmesh.run(main)
"""

# -- the message generator ---------------------------------------------------------

MARK = {code: msgpack.ExtType(code, b"") for code in (TUPLE, SET, ARRAY, SCALAR)}
DTYPES = ["<f8", "|u1", "|S0", "<U0", "|V0", "|O", "O8", "|V9999999999", "<U1073741824", "", "x"]
DIMS = [0, 1, 3, -1, 2**31, 2**60, 2**63 - 1, 2**64 - 1]
BOMBS = [
    b"\x91" * 100_000 + b"\xc0",  # 10**5 levels deep
    b"\xdf\x7f\xff\xff\xff" + b"\xc0" * 8,  # a map claiming 2**31 entries
    b"\xdd\xff\xff\xff\xff" + b"\xc0" * 8,
    b"\xdb\xff\xff\xff\xff" + b"a" * 8,  # a 4 GiB str over 8 bytes
    b"\xc6\xff\xff\xff\xff" + b"a" * 8,
    b"\xc9\xff\xff\xff\xff\x02" + b"a" * 8,
    b"\xdd\x00\x01\x00\x00" + b"\x90" * 65536,  # wide: 64 Ki empty lists
    b"\x95" + msgpack.packb(MARK[ARRAY]) + b"\x91" * 1000 + b"\x00\xa3<f8\x91\x01\xc2",
]
SEGMENT_NAMES = ["0-1", "0-2", "1-1", "1-2", "nope", "", "..", "../x", ".x", "a/b"]


def _bigint(n: int) -> msgpack.ExtType:
    return msgpack.ExtType(EXT_BIGINT, n.to_bytes(n.bit_length() // 8 + 1, "little", signed=True))


def _packb(value: Any) -> bytes:
    def default(o: Any) -> Any:
        if type(o) is tuple:
            return [MARK[TUPLE], *o]
        if type(o) is int:
            return _bigint(o)
        raise TypeError(type(o).__name__)

    return msgpack.Packer(default=default, strict_types=True, use_bin_type=True).pack(value)


class Fuzzer:
    """Hostile multipart messages from a seeded PRNG (reproducible by seed)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.counts: dict[str, int] = {}

    def envelope(self, kind: Kind | None = None, flags: int = 0) -> bytes:
        rng = self.rng
        env = Envelope(
            kind if kind is not None else rng.choice(list(Kind)),
            rng.randrange(2**16, 2**32),  # never a context of the job
            rng.randrange(0, 4),
            rng.randrange(-(2**63), 2**63),
            rng.randrange(0, 2**64),
        )
        raw = bytearray(encode(env, None)[0][:ENVELOPE_SIZE])
        raw[3] = flags
        return bytes(raw)

    def payload(self) -> object:
        rng = self.rng
        return rng.choice(
            [
                None,
                [1, "two", 3.0, b"four"],
                {"k": (1, 2), 3: {4, 5}},
                np.arange(rng.randrange(0, 40), dtype=rng.choice(["<i4", ">f8", "|u1"])),
                [np.ones((2, 3)), np.float32(2.5), 1 + 2j, 2**100],
            ]
        )

    def valid(self, kind: Kind | None = None) -> list[bytes]:
        env = peek_envelope([self.envelope(kind)])
        return [bytes(f) for f in encode(env, self.payload(), allow_pickle=True)]

    def message(self) -> list[bytes]:
        rng = self.rng
        what = rng.choice(
            [
                "random",
                "garbage-payload",
                "truncated",
                "bad-byte",
                "bit-flips",
                "frame-count",
                "array-meta",
                "scalar-meta",
                "bomb",
                "unreceived",
                "shm-flag",
                "release-flag",
                "other-flags",
            ]
        )
        self.counts[what] = self.counts.get(what, 0) + 1
        frames = getattr(self, "_" + what.replace("-", "_"))()
        return self._sanitize(frames)

    def _random(self) -> list[bytes]:
        rng = self.rng
        return [rng.randbytes(rng.randrange(0, 64)) for _ in range(rng.randint(1, 4))]

    def _garbage_payload(self) -> list[bytes]:
        return [self.envelope() + self.rng.randbytes(self.rng.randrange(0, 80))]

    def _truncated(self) -> list[bytes]:
        frames = self.valid(Kind.CTRL)
        i = self.rng.randrange(len(frames))
        frames[i] = frames[i][: self.rng.randrange(len(frames[i]) + 1)]
        return frames

    def _bad_byte(self) -> list[bytes]:
        frames = self.valid()
        pos = self.rng.randrange(3)  # magic, version, kind
        wrong = self.rng.choice([v for v in range(256) if v not in ((0x5A,), (1,), (0, 1, 2))[pos]])
        frames[0] = frames[0][:pos] + bytes([wrong]) + frames[0][pos + 1 :]
        return frames

    def _bit_flips(self) -> list[bytes]:
        frames = self.valid(Kind.CTRL)
        for _ in range(self.rng.randint(1, 3)):
            i = self.rng.randrange(len(frames))
            if frames[i]:
                buf = bytearray(frames[i])
                buf[self.rng.randrange(len(buf))] ^= 1 << self.rng.randrange(8)
                frames[i] = bytes(buf)
        return frames

    def _frame_count(self) -> list[bytes]:
        env = peek_envelope([self.envelope(Kind.CTRL)])
        frames = [bytes(f) for f in encode(env, [np.ones(3), np.ones(2)])]
        if self.rng.random() < 0.5:
            return frames[: self.rng.randrange(1, len(frames))]  # buffers missing
        return [*frames, *[b"extra"] * self.rng.randint(1, 3)]  # buffers nobody claims

    def _array_meta(self) -> list[bytes]:
        rng = self.rng
        shape = [rng.choice(DIMS) for _ in range(rng.choice([0, 1, 2, 3, 65, 3000]))]
        meta = [MARK[ARRAY], rng.choice([0, 1, -1, 2**70]), rng.choice(DTYPES), shape]
        meta.append(rng.choice([False, True, None]))
        buffers = [bytes(rng.choice([0, 1, 8, 64])) for _ in range(rng.randint(0, 2))]
        return [self.envelope(Kind.CTRL) + _packb(meta), *buffers]

    def _scalar_meta(self) -> list[bytes]:
        rng = self.rng
        value = [MARK[SCALAR], rng.choice(DTYPES), rng.randbytes(rng.choice([0, 1, 8, 9]))]
        return [self.envelope(Kind.CTRL) + _packb(value)]

    def _bomb(self) -> list[bytes]:
        return [self.envelope(Kind.CTRL) + self.rng.choice(BOMBS)]

    def _unreceived(self) -> list[bytes]:
        # Valid P2P/COLL messages for contexts nobody receives on: queued as
        # unexpected for good (they count against the engine's flow control).
        return self.valid(self.rng.choice([Kind.P2P, Kind.COLL]))

    def _shm_flag(self) -> list[bytes]:
        rng = self.rng
        frames = self.valid(Kind.CTRL)
        header = bytearray(frames[0])
        header[3] = 1 | rng.choice([0, 0, 4, 0x80])
        descriptor = [
            [
                rng.choice([-2, -1, 0, 1, 2, 7]),
                rng.choice([0, 1, 2, 2**40]),
                rng.choice(SEGMENT_NAMES),
                rng.choice([-1, 0, 8, 64, 2**20, 2**40]),
            ]
            for _ in range(rng.randint(0, 3))
        ]
        tail = rng.choice([_packb(descriptor), rng.randbytes(12), b"\x91" * 5000])
        return [bytes(header), *[b""] * rng.randint(0, 2), *frames[1:], tail]

    def _release_flag(self) -> list[bytes]:
        ids = self.rng.choice([[1, 2, 3], list(range(1000)), ["1"], [True], "12", b"\x91" * 3000])
        body = ids if isinstance(ids, bytes) else _packb(ids)
        return [self.envelope(Kind.CTRL, flags=2 | self.rng.choice([0, 1])) + body]

    def _other_flags(self) -> list[bytes]:
        frames = self.valid()
        header = bytearray(frames[0])
        header[3] = self.rng.randrange(4, 256)
        return [bytes(header), *frames[1:]]

    @staticmethod
    def _sanitize(frames: list[bytes]) -> list[bytes]:
        """Never address the job's own contexts (0 and 1): a valid-looking
        envelope for them would be a forgery the job may rightly act on."""
        if not frames:
            return [b""]
        try:
            env = peek_envelope(frames)
        except DecodeError:
            return frames
        if env.ctx < 2**16:
            frames[0] = frames[0][:4] + struct.pack("<I", 0xDEADBEEF) + frames[0][8:]
        return frames


def fuzz(sock: zmq.Socket[Any], count: int, seed: int) -> dict[str, int]:
    """Send ``count`` hostile messages, then the sentinel, through ``sock``.

    The caller keeps ``sock`` open until the job is over: closing it would
    discard what ZeroMQ has queued but not yet handed to the rank."""
    fuzzer = Fuzzer(seed)
    for _ in range(count):
        sock.send_multipart(fuzzer.message())
    sock.send_multipart(encode(Envelope(Kind.P2P, 0, 2, SENTINEL), {"sent": count, "seed": seed}))
    return fuzzer.counts


def field(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    assert found, f"no {pattern!r} in the job's output:\n{text[-3000:]}"
    return found.group(1)


def mem(stdout: str, when: str) -> dict[str, int]:
    line = next(ln for ln in stdout.splitlines() if ln.startswith(f"[0] MEM {when}"))
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}


def wait_for(path: Path, job: Future[Any], seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return path.read_text()
        if job.done():
            res = job.result()
            pytest.fail(f"the job ended before publishing its endpoint:\n{res.stdout}{res.stderr}")
        time.sleep(0.05)
    pytest.fail("rank 0 never published its endpoint")


@pytest.mark.timeout(180)
def test_live_rank_survives_hostile_messages(tmp_path: Path) -> None:
    program = tmp_path / "live_job.py"
    program.write_text(PROGRAM % {"sentinel": SENTINEL})
    endpoint_file = tmp_path / "endpoint"
    zctx: zmq.Context[Any] = zmq.Context()
    sock = zctx.socket(zmq.DEALER)
    sock.sndtimeo = 30_000  # ms: a rank that stops reading fails the test
    try:
        with ThreadPoolExecutor(1) as pool:
            args = (str(endpoint_file), str(JOB_DEADLINE), str(JOB_LEAST))
            job = pool.submit(launch, 3, program, *args, timeout=150)
            endpoint = wait_for(endpoint_file, job, 60)
            assert endpoint.startswith("ipc://"), endpoint
            sock.setsockopt(zmq.ROUTING_ID, struct.pack("!I", 2))  # rank 2's place
            sock.connect(endpoint)
            start = time.monotonic()
            counts = fuzz(sock, MESSAGES, SEED)
            sent_in = time.monotonic() - start
            res = job.result(timeout=160)
    finally:
        sock.close(linger=0)
        zctx.term()
    out, err = res.stdout, res.stderr
    context = f"seed {SEED}\n--- stdout\n{out[-4000:]}\n--- stderr\n{err[-6000:]}"
    assert res.returncode == 0, context
    assert f"'sent': {MESSAGES}" in out, context  # rank 0 took the sentinel: all went through
    rounds = int(field(r"\[0\] ROUNDS (\d+)", out))
    unexpected = int(field(r"\[0\] UNEXPECTED (\d+)", out))
    assert rounds > 10, context
    dropped = [ln for ln in err.splitlines() if ln.startswith("[0]") and "dropped" in ln]
    assert len(dropped) >= MESSAGES // 4, context  # logged, one line per message
    assert not [ln for ln in err.splitlines() if ln.startswith("[1]") and "dropped" in ln]
    before, after = mem(out, "start"), mem(out, "end")
    growth = after["VmRSS"] - before["VmRSS"]
    print(
        f"\nseed {SEED}: {MESSAGES} messages in {sent_in:.1f} s {counts}; "
        f"rank 0: {rounds} rounds, {len(dropped)} drops logged, "
        f"VmRSS {before['VmRSS'] / 2**20:.1f} -> {after['VmRSS'] / 2**20:.1f} MiB, "
        f"RssAnon {before['RssAnon'] / 2**20:.1f} -> {after['RssAnon'] / 2**20:.1f} MiB, "
        f"{unexpected} messages left unreceived"
    )
    assert growth < RSS_GROWTH_LIMIT, context


# -- a defect found in transport._unpack, end to end (see test_transport_flags.py) ---

FORGED_RELEASE = """
import os, sys
import numpy as np
import zmqmesh

endpoint_file, SENTINEL = sys.argv[1], %(sentinel)d


async def main(comm):
    if comm.rank == 2:  # the test takes its place at rank 0: it never talks to 0
        await comm.recv(1, tag=3)
        return
    if comm.rank == 0:
        await comm.send(np.full(40_000, 1.5), 1, tag=1)  # 320 KB: into shared memory
        pool = comm._engine.transport.shm.pool
        busy = pool.busy
        with open(endpoint_file + ".tmp", "w") as f:
            f.write(comm._engine.transport.endpoints[0])
        os.replace(endpoint_file + ".tmp", endpoint_file)
        # The test's forged release comes before its sentinel on one connection.
        # The sentinel claims a context no communicator has, so the engine,
        # which cannot check its source, queues it; sources are checked for
        # known contexts, where a forged P2P message would be dropped.
        import asyncio
        from zmqmesh.matching import Selector

        while not comm._engine.matcher.scan(Selector(0xDEAD0000, -1, -1)):
            await asyncio.sleep(0.01)
        print("segments busy", busy, "->", pool.busy, flush=True)
        await comm.send(np.full(40_000, 2.5), 1, tag=2)  # into a free segment
    else:
        first = await comm.recv(0, tag=1)  # a view of rank 0's segment, held
        assert bool((first == 1.5).all())
        second = await comm.recv(0, tag=2)
        assert bool((second == 2.5).all())
        print("first array now holds", sorted(set(first.tolist())), flush=True)
        await comm.send("done", 2, tag=3)


zmqmesh.run(main)
"""


@pytest.mark.timeout(90)
def test_a_forged_release_cannot_overwrite_a_received_array(tmp_path: Path) -> None:
    """A release names segments to hand back to their sender's pool. One from
    a rank the segment was not lent to (here rank 2's place, taken by the
    test), while its receiver still holds its array, must change nothing;
    before the fix it freed the segment and rank 1's received array silently
    became the next message."""
    program = tmp_path / "forged_release.py"
    program.write_text(FORGED_RELEASE % {"sentinel": SENTINEL})
    endpoint_file = tmp_path / "endpoint"
    zctx: zmq.Context[Any] = zmq.Context()
    sock = zctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.ROUTING_ID, struct.pack("!I", 2))  # rank 2, which holds nothing
    try:
        with ThreadPoolExecutor(1) as pool:
            job = pool.submit(launch, 3, program, str(endpoint_file), timeout=60)
            sock.connect(wait_for(endpoint_file, job, 30))
            release = bytearray(encode(Envelope(Kind.CTRL, 0, 0, 0), None)[0][:ENVELOPE_SIZE])
            release[3] = 2  # the transport's release flag
            sock.send_multipart([bytes(release) + msgpack.packb(list(range(1, 9)))])
            sock.send_multipart(encode(Envelope(Kind.P2P, 0xDEAD0000, 2, SENTINEL), "released"))
            res = job.result(timeout=60)
    finally:
        sock.close(linger=0)
        zctx.term()
    assert res.returncode == 0, res.stdout + res.stderr
    assert "[0] segments busy 1 -> 1" in res.stdout, res.stdout
    assert "[1] first array now holds [1.5]" in res.stdout, res.stdout
