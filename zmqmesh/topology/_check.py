"""Argument checks shared by the topology modules: wrong types raise
``TypeError``, wrong values ``ValueError``, each naming the argument."""

from __future__ import annotations

import operator
from typing import Any


def as_int(name: str, value: Any) -> int:
    """``value`` as a Python int (NumPy integers accepted; bool and float not)."""
    if isinstance(value, bool) or not hasattr(type(value), "__index__"):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    return operator.index(value)


def check_size_rank(size: Any, rank: Any) -> tuple[int, int]:
    """``(size, rank)`` as ints, with ``size >= 1`` and ``0 <= rank < size``."""
    size = as_int("size", size)
    rank = as_int("rank", rank)
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if not 0 <= rank < size:
        raise ValueError(f"rank must be in [0, {size}), got {rank}")
    return size, rank
