"""The shared-memory descriptor: which frames of a message are in shared memory.

Between ranks on one host the transport moves each large buffer frame into
a segment, a file in the job's private directory, sends an empty frame in
its place and appends one more frame, the descriptor: a msgpack list with
one entry per moved frame::

    [index, ident, name, nbytes]           a frame copied into a pool segment
    [index, ident, name, nbytes, offset]   a frame lent from a result segment

``index`` counts the buffer frames from 0 (the first after the header),
``ident`` is the sender's id for the segment or loan (handed back in a
release, ``control.py``), ``name`` the segment's file name and ``nbytes``
the frame's length at ``offset`` bytes into the segment.

:func:`decode` trusts nothing: it raises :class:`DecodeError` for anything
but a list of well-formed entries, each naming a different frame that is
empty in the message as received.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import msgpack  # type: ignore[import-untyped]

from ..errors import DecodeError
from .show import brief, describe

__all__ = ["MAX_NAME", "SharedFrame", "check_name", "decode", "encode"]

MAX_NAME = 255
"""Longest segment name (a file name)."""

_MAX_U64 = 2**64 - 1


@dataclass(frozen=True, slots=True)
class SharedFrame:
    """Where buffer frame ``index`` of a message is: ``nbytes`` at ``offset``
    in segment ``name`` (id ``ident``). ``lent``: the frame lies in one of
    the sender's result segments rather than a copy in its pool."""

    index: int
    ident: int
    name: str
    nbytes: int
    offset: int = 0
    lent: bool = False


def check_name(name: str) -> str:
    """``name`` if it is a plain file name: 1 to ``MAX_NAME`` characters, no
    ``/`` or NUL, not hidden (so neither ``.`` nor ``..``). Raises
    :class:`DecodeError` otherwise."""
    if not 0 < len(name) <= MAX_NAME or "/" in name or "\0" in name or name.startswith("."):
        raise DecodeError(f"bad shared-memory segment name {brief(name)}")
    return name


def _u64(value: object) -> bool:
    return type(value) is int and 0 <= value <= _MAX_U64


def encode(frames: Sequence[SharedFrame]) -> bytes:
    """The descriptor frame for ``frames``. Raises ``ValueError`` for a
    field out of range, a bad name, an offset on a frame that is not lent,
    or two entries for one frame."""
    entries: list[tuple[object, ...]] = []
    seen: set[int] = set()
    for f in frames:
        if not all(_u64(x) for x in (f.index, f.ident, f.nbytes, f.offset)):
            raise ValueError(f"shared-memory descriptor fields are u64s: {brief(f)}")
        check_name(f.name)
        if f.index in seen:
            raise ValueError(f"two shared-memory descriptor entries for frame {f.index}")
        seen.add(f.index)
        if f.lent:
            entries.append((f.index, f.ident, f.name, f.nbytes, f.offset))
        elif f.offset:
            raise ValueError(f"only a lent frame has an offset: {brief(f)}")
        else:
            entries.append((f.index, f.ident, f.name, f.nbytes))
    packed: bytes = msgpack.packb(entries)
    return packed


def decode(raw: bytes | bytearray | memoryview, sizes: Sequence[int]) -> tuple[SharedFrame, ...]:
    """The entries of descriptor frame ``raw`` of a message whose other
    buffer frames have ``sizes`` bytes.

    Raises :class:`DecodeError` when ``raw`` is not msgpack, not a list, or
    has an entry that is not ``[index, ident, name, nbytes(, offset)]`` with
    u64 numbers and a plain file name (:func:`check_name`), or whose index
    is out of range, repeated, or names a frame that carries data.
    """
    try:
        # Each entry names a different frame: no valid list is longer.
        items = msgpack.unpackb(raw, max_array_len=max(len(sizes), 5))
    except Exception as exc:  # msgpack's errors for garbage are of several types
        raise DecodeError(
            f"a shared-memory descriptor that does not decode: {describe(exc)}"
        ) from None
    if type(items) is not list:
        raise DecodeError(f"a shared-memory descriptor is a list, not {brief(items)}")
    out = []
    seen: set[int] = set()
    for item in items:
        if (
            type(item) is not list
            or len(item) not in (4, 5)
            or not all(_u64(x) for x in (item[0], item[1], *item[3:]))
            or type(item[2]) is not str
        ):
            raise DecodeError(f"bad shared-memory descriptor entry {brief(item)}")
        index = item[0]
        if index >= len(sizes):
            raise DecodeError(f"a shared-memory descriptor entry for frame {index} of {len(sizes)}")
        if index in seen or sizes[index]:
            raise DecodeError(
                f"a shared-memory descriptor entry for frame {index}, "
                "which it names twice or which carries data"
            )
        seen.add(index)
        lent = len(item) == 5
        out.append(
            SharedFrame(index, item[1], check_name(item[2]), item[3], item[4] if lent else 0, lent)
        )
    return tuple(out)
