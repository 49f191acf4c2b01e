"""``python -m bench fuzz [--minutes M]``: fuzz every pure decoder of ``zmqmesh.wire``.

One input drives one decoder: its first byte picks the target, the rest is
that target's bytes.

| byte 0 % 5 | target | the rest |
| --- | --- | --- |
| 0 | ``codec.decode`` | options (bit 0: ``copy``); frames: u16 length, bytes |
| 1 | ``control.decode`` | byte: buffer frame count (% 4), then the header |
| 2 | ``stream.decode`` and ``stream.parse_hello`` | the stream's bytes |
| 3 | ``shmdesc.decode`` | byte: frame count (% 4), each frame 64 bytes; then the descriptor |
| 4 | ``rendezvous.decode_hello``, ``decode_reply``, ``decode_notice`` | the message |

A decoder must return or raise ``DecodeError``; anything else escaping is a
crash. Pickle stays off: with it on, the bytes would be code. With atheris
installed the run is coverage-guided (libFuzzer, in a child process, over a
copy of the corpus); otherwise Hypothesis mutates the corpus and draws
random bytes. Either way it ends after ``--minutes`` and prints the inputs
run, the slowest input's time and every crash. Exit status: 0 when nothing
crashed.

The seed corpus is ``bench/fuzz_corpus/``, written by ``--make-corpus``
(deterministic: the same files every time).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).with_name("fuzz_corpus")
_LEN = struct.Struct("<H")
TARGETS = ("codec", "control", "stream", "shmdesc", "rendezvous")


def _frames(data: bytes) -> list[bytes]:
    frames, pos = [], 0
    while pos < len(data):
        (n,) = _LEN.unpack_from(data.ljust(pos + 2, b"\0"), pos)
        frames.append(data[pos + 2 : pos + 2 + n])
        pos += 2 + n
    return frames


def one_input(data: bytes) -> None:
    """Run the decoder that ``data`` picks; only DecodeError may escape."""
    from zmqmesh.errors import DecodeError
    from zmqmesh.wire import codec, control, rendezvous, shmdesc, stream

    if not data:
        return
    target, rest = data[0] % len(TARGETS), data[1:]
    try:
        if target == 0:
            codec.decode(_frames(rest[1:]), copy=bool(rest[:1] and rest[0] & 1))
        elif target == 1:
            control.decode(rest[1:], rest[0] % 4 if rest else 0)
        elif target == 2:
            stream.decode(rest, max_message=1 << 20)
            if len(rest) >= 4:
                stream.parse_hello(rest[:4])
        elif target == 3:
            count = rest[0] % 4 if rest else 0
            shmdesc.decode(rest[1:], [64] * count)
        else:
            for decoder in (
                rendezvous.decode_hello,
                rendezvous.decode_reply,
                rendezvous.decode_notice,
            ):
                with contextlib.suppress(DecodeError):
                    decoder(rest)
    except DecodeError:
        pass


def seeds() -> dict[str, bytes]:
    """Valid and hostile inputs for every target, by file name."""
    import msgpack  # type: ignore[import-untyped]
    import numpy as np

    from zmqmesh.wire import Envelope, Kind, codec, control, rendezvous, shmdesc, stream

    def message(frames: list[Any], copy: bool = False) -> bytes:
        out = bytearray([0, int(copy)])
        for frame in frames:
            out += _LEN.pack(len(frame)) + bytes(frame)
        return bytes(out)

    env = Envelope(Kind.P2P, 1, 2, 3)
    header = codec.encode(env, None)[0][:-1]
    big = 2**61 - 1
    payloads: dict[str, object] = {
        "none": None,
        "scalars": [1, -(2**70), 2.5, 1 + 2j, "x\udc80", b"\x00", True],
        "dict": {"a": (1, (2, [3])), 4: [5, 6], (7,): "t", -(2**70): None},
        "int-keys": {i * big: i for i in range(1, 33)},  # as many as may collide
        "tuple-keys": {(i * big,): i for i in range(1, 33)},
        "c-array": np.arange(12, dtype="<i4").reshape(3, 4),
        "f-array": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "big-endian": np.arange(4, dtype=">f8"),
        "bool-complex": [np.ones(3, dtype=bool), np.ones(2, dtype=np.complex64)],
        "0d": np.array(1.5),
        "empty": np.zeros((0, 5)),
        "np-scalars": [np.float32(1.5), np.int64(-3), np.bool_(True)],
    }
    out = {f"codec-{name}": message(codec.encode(env, p)) for name, p in payloads.items()}
    out["codec-copy"] = message(codec.encode(env, payloads["c-array"]), copy=True)
    m_array = b"\xc7\x00\x13"
    hostile = {
        "deep": b"\x91" * 1100 + b"\xc0",
        "map-claim": b"\xdf\x7f\xff\xff\xff\xc0",
        "v0-2**62": b"\x95" + m_array + b"\x00\xa3|V0\x91\xcf\x40" + bytes(7) + b"\xc2",
        "zero-dim": b"\x95" + m_array + b"\x00\xa3<f8\x92\xcf\x40" + bytes(7) + b"\x00\xc2",
        "set": b"\x92\xc7\x00\x11\x01",
        "timestamp": b"\xd6\xff\x00\x00\x00\x05",
        "colliding": msgpack.packb({i * big: 0 for i in range(1, 9)}),  # 64-bit keys
    }
    for name, body in hostile.items():
        out[f"codec-{name}"] = message([header + body, b""])
    shared = control.mark_shared(codec.encode(env, b"x")[0])
    out |= {
        "control-shared": bytes([1, 1]) + shared,
        "control-release": bytes([1, 0]) + control.Release((1, 2, 2**64 - 1)).encode(),
        "control-bye": bytes([1, 0]) + control.Goodbye(False).encode(),
        "control-bye-ack": bytes([1, 0]) + control.Goodbye(True).encode(),
        "control-plain": bytes([1, 0]) + header + b"\xc0",
    }
    streamed = b"".join(bytes(b) for b in stream.encode([b"head", b"x" * 10]))
    out |= {
        "stream-one": bytes([2]) + stream.pack_hello(3) + streamed,
        "stream-two": bytes([2]) + streamed * 2,
        "stream-cut": bytes([2]) + streamed[:-3],
        "stream-claims": bytes([2]) + b"\xff" * 24,
    }
    frames = [shmdesc.SharedFrame(0, 7, "zm-1", 64), shmdesc.SharedFrame(1, 8, "zm-2", 64)]
    out |= {
        "shmdesc-one": bytes([3, 1]) + shmdesc.encode(frames[:1]),
        "shmdesc-two": bytes([3, 2]) + shmdesc.encode(frames),
        "shmdesc-lent": bytes([3, 1])
        + shmdesc.encode([shmdesc.SharedFrame(0, 1, "a", 64, 0, True)]),
    }
    out |= {
        "rendezvous-hello": bytes([4]) + rendezvous.Hello(1, 4, "job", {"host": "h"}).encode(),
        "rendezvous-table": bytes([4]) + rendezvous.Table([{"a": 1}, None]).encode(),
        "rendezvous-refusal": bytes([4]) + rendezvous.Refusal("no").encode(),
        "rendezvous-failed": bytes([4]) + rendezvous.Failed(2, "gone").encode(),
        "rendezvous-timestamps": bytes([4])
        + msgpack.packb({"failed": 1, "x": msgpack.Timestamp(1, 0)}),
    }
    return out


def make_corpus(path: Path) -> int:
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("seed-*"):
        old.unlink()
    made = seeds()
    for name, data in made.items():
        (path / f"seed-{name}").write_bytes(data)
    return len(made)


def _corpus(path: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(path.iterdir()) if p.is_file()]


class Stats:
    """Inputs run, the slowest one, and the crashes."""

    def __init__(self) -> None:
        self.execs = 0
        self.max_seconds = 0.0
        self.slowest = b""
        self.crashes: list[tuple[bytes, str]] = []

    def run(self, data: bytes) -> None:
        start = time.perf_counter()
        try:
            one_input(data)
        except Exception:
            self.crashes.append((data, traceback.format_exc(limit=6)))
        elapsed = time.perf_counter() - start
        self.execs += 1
        if elapsed > self.max_seconds:
            self.max_seconds, self.slowest = elapsed, data

    def as_dict(self) -> dict[str, Any]:
        return {
            "execs": self.execs,
            "max_seconds": self.max_seconds,
            "slowest_target": TARGETS[self.slowest[0] % len(TARGETS)] if self.slowest else "",
            "slowest_bytes": len(self.slowest),
            "crashes": [{"hex": d[:4096].hex(), "traceback": t} for d, t in self.crashes[:20]],
            "crash_count": len(self.crashes),
        }


def _mutations(corpus: list[bytes]) -> Iterator[Callable[[random.Random], bytes]]:
    def flip(rng: random.Random) -> bytes:
        data = bytearray(rng.choice(corpus))
        for _ in range(rng.randint(1, 4)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)

    def splice(rng: random.Random) -> bytes:
        a, b = rng.choice(corpus), rng.choice(corpus)
        return a[: rng.randint(0, len(a))] + b[rng.randint(0, len(b)) :]

    def repeat(rng: random.Random) -> bytes:
        data = rng.choice(corpus)
        i, j = sorted(rng.randrange(len(data) + 1) for _ in range(2))
        return data[:i] + data[i:j] * rng.randint(2, 64) + data[j:]

    yield from (flip, splice, repeat)


def run_hypothesis(corpus: list[bytes], seconds: float, stats: Stats) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    mutators = list(_mutations(corpus))
    inputs = st.one_of(
        st.sampled_from(corpus),
        st.tuples(st.sampled_from(mutators), st.randoms(use_true_random=False)).map(
            lambda mr: mr[0](mr[1])
        ),
        st.tuples(st.integers(0, len(TARGETS) - 1), st.binary(max_size=512)).map(
            lambda tb: bytes([tb[0]]) + tb[1]
        ),
    )
    deadline = time.monotonic() + seconds

    @settings(
        max_examples=2000,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(inputs)
    def batch(data: bytes) -> None:
        if time.monotonic() < deadline:
            stats.run(data)

    while time.monotonic() < deadline:
        batch()


def _atheris_child(argv: list[str]) -> int:
    """Run under libFuzzer; write the stats to ``ZMQMESH_FUZZ_STATS`` as it goes."""
    import atheris  # type: ignore[import-not-found, unused-ignore]

    with atheris.instrument_imports(include=["zmqmesh"]):
        import zmqmesh.wire.codec
        import zmqmesh.wire.control
        import zmqmesh.wire.rendezvous
        import zmqmesh.wire.shmdesc
        import zmqmesh.wire.stream  # noqa: F401

    stats, out = Stats(), os.environ["ZMQMESH_FUZZ_STATS"]
    last = [time.monotonic()]

    def test_one(data: bytes) -> None:
        start = time.perf_counter()
        one_input(data)  # a crash escapes: libFuzzer saves the input and stops
        elapsed = time.perf_counter() - start
        stats.execs += 1
        if elapsed > stats.max_seconds:
            stats.max_seconds, stats.slowest = elapsed, data
        if time.monotonic() - last[0] > 1.0:
            last[0] = time.monotonic()
            Path(out).write_text(json.dumps(stats.as_dict()))

    atheris.Setup(argv, test_one)
    atheris.Fuzz()
    return 0


def run_atheris(corpus_dir: Path, seconds: float) -> tuple[dict[str, Any], int, str]:
    with tempfile.TemporaryDirectory(prefix="zmqmesh-fuzz-") as tmp:
        work = Path(tmp) / "corpus"
        shutil.copytree(corpus_dir, work)  # libFuzzer adds what it finds
        artifacts = Path(tmp) / "crashes"
        artifacts.mkdir()
        stats_file = Path(tmp) / "stats.json"
        env = {**os.environ, "ZMQMESH_FUZZ_STATS": str(stats_file)}
        cmd = [
            sys.executable,
            "-m",
            "bench.fuzz",
            "--atheris-child",
            f"-max_total_time={int(seconds)}",
            "-timeout=5",
            "-rss_limit_mb=2048",
            f"-artifact_prefix={artifacts}/",
            str(work),
        ]
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 120)
        stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
        found = sorted(p.name for p in artifacts.iterdir())
        if found:
            keep = Path("fuzz-crashes")
            keep.mkdir(exist_ok=True)
            for name in found:
                shutil.copy(artifacts / name, keep / name)
            stats["artifacts"] = [str(keep / n) for n in found]
        tail = "\n".join(res.stderr.splitlines()[-12:])
        return stats, res.returncode, tail


def main(argv: list[str]) -> int:
    if argv[:1] == ["--atheris-child"]:
        return _atheris_child([sys.argv[0], *argv[1:]])
    doc = (__doc__ or "").split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m bench fuzz", description=doc)
    parser.add_argument("--minutes", type=float, default=1.0, help="how long to run (default 1)")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="seed corpus directory")
    parser.add_argument(
        "--engine", choices=["auto", "atheris", "hypothesis"], default="auto", help="default: auto"
    )
    parser.add_argument("--make-corpus", action="store_true", help="(re)write the seed corpus")
    args = parser.parse_args(argv)
    if args.make_corpus:
        print(f"wrote {make_corpus(args.corpus)} seeds to {args.corpus}")
        return 0
    corpus = _corpus(args.corpus)
    if not corpus:
        print(f"no seeds in {args.corpus}: run with --make-corpus first", file=sys.stderr)
        return 2
    seconds = args.minutes * 60
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # type: ignore[import-not-found, unused-ignore]  # noqa: F401

            engine = "atheris"
        except ImportError:
            engine = "hypothesis"
    # The seeds themselves first, in this process: a quick check and a baseline.
    seeded = Stats()
    for data in corpus:
        seeded.run(data)
    print(f"seeds: {seeded.execs} inputs, slowest {seeded.max_seconds * 1e3:.2f} ms")
    started = time.monotonic()
    if engine == "atheris":
        result, code, tail = run_atheris(args.corpus, seconds)
        crashed = code != 0 or bool(result.get("artifacts"))
        if crashed:
            print(tail)
    else:
        stats = Stats()
        run_hypothesis(corpus, seconds, stats)
        result = stats.as_dict()
        crashed = bool(stats.crashes)
    result["crash_count"] = result.get("crash_count", 0) + len(seeded.crashes)
    crashed = crashed or bool(seeded.crashes)
    elapsed = time.monotonic() - started
    execs = result.get("execs", 0)
    rate = execs / max(elapsed, 1e-9)
    print(
        f"engine: {engine}; {execs} inputs in {elapsed:.0f} s ({rate:.0f}/s); "
        f"slowest input {result.get('max_seconds', 0) * 1e3:.1f} ms "
        f"({result.get('slowest_target', '')}, {result.get('slowest_bytes', 0)} bytes); "
        f"crashes: {'yes' if crashed else 'none'}"
    )
    for crash in result.get("crashes", []):
        print(crash["traceback"])
    for path in result.get("artifacts", []):
        print(f"crash input saved: {path}")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
