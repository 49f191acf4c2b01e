"""Coverage-guided fuzzing of ``zmqmesh.wire.decode`` with atheris (libFuzzer).

The fuzzer's bytes become one message::

    [options: 1 byte] ([length: u16 little-endian] [frame: length bytes])*

Options bit 0 decodes with ``copy=True``; bits 1-2 choose the frame type
(``bytes``, writable ``bytearray``, ``memoryview``: what ZeroMQ and a
rank's self-sends hand to the decoder). A length running past the end takes
what is left. ``decode`` must return or raise DecodeError; anything else
escaping is a crash, and so is a decoded array that claims more bytes than
the message holds or that carries Python objects. Pickle stays off: with it
on, the bytes would be code.

Run (libFuzzer flags pass through; see tests/fuzz/README.md)::

    python tests/fuzz/atheris_decoder.py --make-corpus CORPUS   # seed messages
    python tests/fuzz/atheris_decoder.py --make-dict wire.dict    # wire tokens
    python tests/fuzz/atheris_decoder.py -dict=wire.dict -max_total_time=600 \\
        -timeout=5 -rss_limit_mb=2048 CORPUS

Without atheris installed it says so and exits 0. The framing helpers
(``to_input``/``from_input``) import without it, for the tests.
"""

from __future__ import annotations

import os
import struct
import sys
from collections.abc import Iterator, Sequence
from typing import Any

try:
    import atheris  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # pragma: no cover - depends on the environment
    atheris = None

if atheris is not None and __name__ == "__main__":
    with atheris.instrument_imports(include=["zmqmesh"]):
        import zmqmesh.wire  # noqa: F401  (instrumented for coverage)

import numpy as np

from zmqmesh.errors import DecodeError
from zmqmesh.wire import Envelope, Kind, decode, encode

_LEN = struct.Struct("<H")
_TYPES = (bytes, bytearray, memoryview)


def to_input(frames: Sequence[bytes | memoryview], *, copy: bool = False, kind: int = 0) -> bytes:
    """The fuzzer input that ``from_input`` turns back into ``frames``."""
    out = bytearray([int(copy) | (kind % len(_TYPES)) << 1])
    for frame in frames:
        data = bytes(frame)
        if len(data) > 0xFFFF:
            raise ValueError("frames of the corpus are at most 65535 bytes")
        out += _LEN.pack(len(data)) + data
    return bytes(out)


def from_input(data: bytes) -> tuple[list[Any], bool]:
    """``(frames, copy)`` from fuzzer bytes (see the module docstring)."""
    if not data:
        return [], False
    options, pos = data[0], 1
    kind = _TYPES[min((options >> 1) & 3, len(_TYPES) - 1)]
    frames: list[Any] = []
    while pos < len(data):
        if pos + _LEN.size > len(data):  # a dangling length byte: a frame of its own
            frames.append(kind(data[pos:]))
            break
        (n,) = _LEN.unpack_from(data, pos)
        pos += _LEN.size
        frames.append(kind(data[pos : pos + n]))
        pos += n
    return frames, bool(options & 1)


def _walk(obj: object) -> Iterator[object]:
    """Every value inside a decoded payload, iteratively (payloads may nest
    1000 levels deep)."""
    stack = [obj]
    while stack:
        item = stack.pop()
        yield item
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)


def check(data: bytes) -> None:
    """One fuzz case: decode, and judge what came back."""
    frames, copy = from_input(data)
    try:
        _, obj = decode(frames, copy=copy)
    except DecodeError:
        return
    for item in _walk(obj):
        if isinstance(item, np.ndarray):
            assert not item.dtype.hasobject, item.dtype
            assert item.nbytes <= len(data), (item.dtype, item.shape)
            assert item.size == int(np.prod(item.shape, dtype=object)), item.shape


def seeds() -> list[bytes]:
    """Valid and hostile messages to start from."""
    env = Envelope(Kind.P2P, 1, 2, 3)
    payloads: list[object] = [
        None,
        [1, -(2**70), 2.5, 1 + 2j, "x\udc80", b"\x00", bytearray(b"ab")],
        {"a": (1, (2, [3])), 4: {5, 6}, (7,): frozenset({8})},
        np.arange(12, dtype="<i4").reshape(3, 4),
        np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        np.zeros(3, dtype=[("a", "u1"), ("b", ">f8", (2,))]),
        np.zeros(2, dtype=np.dtype({"names": ["a"], "formats": ["<i4"], "itemsize": 12})),
        np.array(["ab", "c"]),
        np.array([b"ab"]),
        np.array(["2020-01-01"], dtype="M8[D]"),
        np.zeros((0, 5)),
        np.zeros(4, dtype=[]),
        [np.float32(1.5), np.datetime64(1, "s"), np.bytes_(b""), np.void(b"\x01\x02")],
        [np.ones(3), np.ones(2, dtype=np.complex64)],
    ]
    out = [to_input(encode(env, p, allow_pickle=True), kind=i) for i, p in enumerate(payloads)]
    out += [to_input(encode(env, p, allow_pickle=True), copy=True) for p in payloads[3:6]]
    header = encode(env, None)[0][:-1]  # the envelope, then a payload to replace
    for body in (
        b"\x91" * 1100 + b"\xc0",
        b"\xdf\x7f\xff\xff\xff\xc0",
        b"\xdb\xff\xff\xff\xff" + b"a" * 8,
        b"\x95\xc7\x00\x13\x00\xa3<U0\x91\xce\x80\x00\x00\x00\xc2",  # <U0 x 2**31
        b"\x95\xc7\x00\x13\x00\xa3|V0\x92" + (b"\xcf\x40" + bytes(7)) * 2 + b"\xc2",
    ):
        out.append(to_input([header + body, b""]))
    return out


# Tokens for libFuzzer's -dict: msgpack's parser is C, invisible to atheris's
# coverage, so the mutator gets the wire vocabulary spelled out.
TOKENS = [
    b"Z\x01\x00\x00",  # envelopes: magic, version, kind, flags
    b"Z\x01\x01\x00",
    b"Z\x01\x02\x00",
    *(b"\xc7\x00" + bytes([code]) for code in range(16, 22)),  # markers
    b"\xd4\x02\x01",  # a big int (ext 2)
    b"\xd4\x03\x00",  # a bytearray (ext 3)
    b"\xd8\x01",  # a complex (fixext 16, ext 1)
    *(b"\xa3" + dt for dt in (b"<f8", b"|V0", b"<U0", b"|S0", b"|b1", b"|u1", b"<M8", b">i4")),
    b"\xa2|O",
    b"\xa7<M8[ms]",
    b"\xcf\x40\x00\x00\x00\x00\x00\x00\x00",  # 2**62
    b"\xce\x80\x00\x00\x00",  # 2**31
    b"\xdd\x7f\xff\xff\xff",  # an array claiming 2**31 - 1 items
    b"\xdf\x7f\xff\xff\xff",  # a map claiming as many
]


def write_dict(path: str) -> None:
    with open(path, "w") as f:
        for token in TOKENS:
            f.write('"' + "".join(f"\\x{b:02x}" for b in token) + '"\n')


def main(argv: list[str]) -> int:
    if len(argv) > 2 and argv[1] == "--make-dict":
        write_dict(argv[2])
        print(f"wrote {len(TOKENS)} tokens to {argv[2]}")
        return 0
    if len(argv) > 2 and argv[1] == "--make-corpus":
        os.makedirs(argv[2], exist_ok=True)
        for i, seed in enumerate(seeds()):
            with open(os.path.join(argv[2], f"seed-{i:03d}"), "wb") as f:
                f.write(seed)
        print(f"wrote {len(seeds())} seeds to {argv[2]}")
        return 0
    if atheris is None:
        print("atheris is not installed (pip install atheris): nothing to fuzz", file=sys.stderr)
        return 0
    atheris.Setup(argv, check)
    atheris.Fuzz()
    return 0  # not reached: libFuzzer exits the process


if __name__ == "__main__":
    sys.exit(main(sys.argv))
