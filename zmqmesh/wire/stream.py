"""The same-host stream: messages framed on one AF_UNIX byte stream.

A link carries, in this order, all little-endian::

    hello     u32 the connecting rank's world rank (once, first)
    message   u32 frame count n (1 .. MAX_FRAMES)
              n x u64 the length of each frame
              the n frames, back to back
    message   ...

The first frame is the message's header frame (envelope and payload), the
others its buffer frames. Lengths are u64s, so the format itself caps no
frame below what memory allows; the reader's ``max_message`` is the only
limit, and :func:`encode` applies the same one on the writer's side.

A reader reads the fixed-size parts with these functions and the frames
into buffers of its own: :func:`header_missing`
says how many bytes a partial header still needs, :func:`parse_header`
turns a whole one into the frame lengths, checking the limits before the
reader commits memory to them. :func:`decode` is the reference reader of
whole streams (tests and fuzzing use it); it copies, a link's reader
does not.

Every malformed input raises :class:`DecodeError` naming what is wrong.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from ..errors import DecodeError
from .show import brief

__all__ = [
    "COUNT_SIZE",
    "HELLO_SIZE",
    "LENGTH_SIZE",
    "MAX_FRAMES",
    "decode",
    "encode",
    "encode_joined",
    "header_missing",
    "header_size",
    "pack_hello",
    "parse_header",
    "parse_hello",
]

_U32 = struct.Struct("<I")
HELLO_SIZE: int = _U32.size
COUNT_SIZE: int = _U32.size
LENGTH_SIZE = 8
MAX_FRAMES = 1 << 16
"""Most frames one message may have (the codec's arrays and pickle buffers)."""

# Headers of up to 8 frames, the common case, are packed and parsed by
# precompiled structs (struct's own cache is keyed by a format string, which
# would be built per message); more frames build theirs.
_HEADS = tuple(struct.Struct(f"<I{n}Q") for n in range(9))
_LENGTHS = tuple(struct.Struct(f"<{n}Q") for n in range(9))

Buffer = Any  # bytes, bytearray, memoryview, mmap: what the buffer protocol reads


def pack_hello(rank: int) -> bytes:
    """The hello of a link from world rank ``rank``. ``ValueError`` if it
    is not a u32."""
    try:
        return _U32.pack(rank)
    except struct.error:
        raise ValueError(f"a rank is a u32, not {brief(rank)}") from None


def parse_hello(data: Buffer) -> int:
    """The rank in a hello of exactly ``HELLO_SIZE`` bytes; :class:`DecodeError`
    for any other length."""
    if len(data) != HELLO_SIZE:
        raise DecodeError(f"a link's hello is {HELLO_SIZE} bytes, not {len(data)}")
    rank: int = _U32.unpack(data)[0]
    return rank


def header_size(count: int) -> int:
    """Bytes of the header of a message of ``count`` frames."""
    return COUNT_SIZE + count * LENGTH_SIZE


def encode(
    frames: Sequence[Buffer],
    *,
    max_message: int | None = None,
    sizes: Sequence[int] | None = None,
) -> list[Buffer]:
    """The buffers to write for one message: its header, then ``frames``
    themselves (not copied). ``sizes``: the frames' byte sizes, when the
    caller has them already. ``ValueError`` for no frames, more than
    ``MAX_FRAMES``, or more than ``max_message`` bytes in all (the limit
    the reader applies in :func:`parse_header`; None: no limit), so that the
    sender learns it rather than the reader dropping the link."""
    if not 0 < len(frames) <= MAX_FRAMES:
        raise ValueError(f"a message has 1 to {MAX_FRAMES} frames, not {len(frames)}")
    if sizes is None:
        sizes = [f.nbytes if type(f) is memoryview else len(f) for f in frames]
    if max_message is not None and sum(sizes) > max_message:
        raise ValueError(
            f"a message of {sum(sizes)} bytes is over the same-host link's limit "
            f"(max_message, {max_message} bytes)"
        )
    n = len(sizes)
    head = _HEADS[n] if n < 9 else struct.Struct(f"<I{n}Q")
    return [head.pack(n, *sizes), *frames]


def encode_joined(
    frames: Sequence[Buffer], sizes: Sequence[int], *, max_message: int, total: int | None = None
) -> bytes:
    """``encode``'s buffers joined into one ``bytes`` (a copy: for small
    messages, written in one system call); ``total``: ``sum(sizes)``, when
    the caller has it. Raises as ``encode``."""
    n = len(sizes)
    if 0 < n < 9 and (sum(sizes) if total is None else total) <= max_message:
        return b"".join((_HEADS[n].pack(n, *sizes), *frames))
    return b"".join(encode(frames, max_message=max_message, sizes=sizes))


def _count(data: Buffer, offset: int) -> int:
    count: int = _U32.unpack_from(data, offset)[0]
    if not 0 < count <= MAX_FRAMES:
        raise _bad_count(count)
    return count


def _bad_count(count: int) -> DecodeError:
    return DecodeError(f"a message of {count} frames (1 to {MAX_FRAMES} allowed)")


def header_missing(data: Buffer) -> int:
    """How many more bytes the start of a header in ``data`` needs to be
    whole: 0 when it is (bytes past the header are left alone). Raises
    :class:`DecodeError` once the frame count is known to be out of range."""
    if len(data) < COUNT_SIZE:
        return COUNT_SIZE - len(data)
    return max(0, header_size(_count(data, 0)) - len(data))


def parse_header(data: Buffer, *, max_message: int, offset: int = 0) -> tuple[int, ...] | None:
    """The frame lengths in the header at ``offset`` in ``data``, or None
    when ``data`` ends before it does.

    Raises :class:`DecodeError` for a frame count out of range and for
    frames of more than ``max_message`` bytes in all: a reader allocates
    what a header announces.
    """
    # Inline, not through _count and header_size: every message on a link
    # comes through here, and calls are most of the cost of a small one.
    # (4 is COUNT_SIZE, 8 LENGTH_SIZE, 9 len(_LENGTHS).)
    size = len(data) - offset
    if size < 4:
        return None
    count: int = _U32.unpack_from(data, offset)[0]
    if not 0 < count <= MAX_FRAMES:
        raise _bad_count(count)
    if size < 4 + 8 * count:
        return None
    if count < 9:
        lengths: tuple[int, ...] = _LENGTHS[count].unpack_from(data, offset + 4)
    else:
        lengths = struct.unpack_from(f"<{count}Q", data, offset + 4)
    if sum(lengths) > max_message:
        raise DecodeError(f"a message of {sum(lengths)} bytes (at most {max_message} allowed)")
    return lengths


def decode(data: Buffer, *, max_message: int) -> tuple[list[list[bytes]], int]:
    """The whole messages at the start of ``data`` (a stream after its
    hello), each a list of frames, and how many bytes they took: the rest
    is a message still arriving. :class:`DecodeError` as :func:`parse_header`."""
    view = memoryview(data).cast("B")
    messages: list[list[bytes]] = []
    pos = 0
    while True:
        lengths = parse_header(view, max_message=max_message, offset=pos)
        if lengths is None:
            return messages, pos
        start = pos + header_size(len(lengths))
        if len(view) - start < sum(lengths):
            return messages, pos
        frames = []
        for n in lengths:
            frames.append(bytes(view[start : start + n]))
            start += n
        messages.append(frames)
        pos = start
