"""Text for error messages about untrusted values: short, cheap, and never raising.

Internal to ``zmqmesh.wire``. ``f"{value!r:.200}"`` builds the whole repr
before cutting it, and a hostile value makes that slow or makes it fail:
``repr`` of an int above 4300 digits raises ``ValueError`` (and is
quadratic where the limit is lifted), ``repr`` of a payload nested hundreds
of levels deep raises ``RecursionError``. :func:`brief` bounds the depth, the
items shown per container and the size of the ints it converts, so a
``DecodeError`` message costs little whatever the sender put in it.
"""

from __future__ import annotations

import reprlib

__all__ = ["brief", "describe"]

_MAX_INT_BITS = 256  # larger ints are shown by size, never converted to decimal


class _Brief(reprlib.Repr):
    def repr_int(self, x: int, level: int) -> str:
        bits = x.bit_length()
        if bits > _MAX_INT_BITS:
            return f"<{'-' if x < 0 else ''}int of {bits} bits>"
        return repr(x)


_BRIEF = _Brief()
_BRIEF.maxlevel = 4
_BRIEF.maxlist = _BRIEF.maxtuple = _BRIEF.maxset = _BRIEF.maxfrozenset = 12
_BRIEF.maxdict = 6
_BRIEF.maxstring = _BRIEF.maxother = 80


def brief(value: object, limit: int = 200) -> str:
    """A repr of ``value`` of at most ``limit`` characters, cheap to build."""
    try:
        text = _BRIEF.repr(value)
    except Exception:  # a hostile __repr__ cannot get here from msgpack, but be sure
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(exc: BaseException, limit: int = 300) -> str:
    """``"TypeName: message"`` of an exception, cut to ``limit`` characters."""
    try:
        text = str(exc)
    except Exception:
        text = "<unprintable>"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}"
