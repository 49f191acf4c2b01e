"""One environment variable's value, read the one way every reader shares.

Each parser takes the variable's name and its text and returns the value or
raises :class:`zmqmesh.LaunchError` with a single line that names the
variable, repeats the text and says what was expected, so a mistake in a
job script points at itself. Pure: no I/O.
"""

from __future__ import annotations

import math
import re

from zmqmesh.errors import LaunchError

__all__ = ["flag", "integer", "non_negative", "port", "seconds"]

_DIGITS = re.compile(r"[0-9]+")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


def flag(name: str, text: str) -> bool:
    """``1``/``true``/``yes``/``on`` (any case) is true; ``0``/``false``/
    ``no``/``off`` or nothing is false; anything else raises."""
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise LaunchError(f"{name}={text!r}: 1 or 0 expected (or true/false, yes/no, on/off)")


def non_negative(name: str, text: str) -> int:
    """Decimal digits (spaces around them allowed) as an int."""
    if not _DIGITS.fullmatch(text.strip()):
        raise LaunchError(f"{name}={text!r} is not a non-negative integer")
    return int(text)


def integer(name: str, text: str, low: int, high: int | None, expected: str) -> int:
    """A decimal integer from ``low`` to ``high`` (``None``: no upper bound);
    the error reads ``NAME='text': <expected> expected``."""
    word = text.strip()
    if _INTEGER.fullmatch(word):
        value = int(word)
        if low <= value and (high is None or value <= high):
            return value
    raise LaunchError(f"{name}={text!r}: {expected} expected")


def seconds(name: str, text: str, low: float, high: float) -> float:
    """A number of seconds from ``low`` to ``high`` (finite)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not low <= value <= high:  # NaN fails every comparison
        raise LaunchError(f"{name}={text!r}: seconds between {low:g} and {high:g} expected")
    return value


def port(name: str, text: str, *, shown: str | None = None) -> int:
    """A TCP port, 1..65535. ``shown`` is what the error quotes instead of
    ``text`` (the whole ``host:port`` the port was cut from)."""
    word = text.strip()
    if not _DIGITS.fullmatch(word) or not 1 <= int(word) <= 65535:
        raise LaunchError(f"{name}={shown or text!r}: the port must be an integer in 1..65535")
    return int(word)
