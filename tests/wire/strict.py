"""Type-aware, bit-exact equality for round-trip tests.

``==`` is too lenient here: ``1 == 1.0 == True``, ``(1,) != [1]`` but
``b"a" == bytearray(b"a")``, ``nan != nan`` and ``0.0 == -0.0``. ``same``
demands the same type at every level and the same bits for every number.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


def same(a: Any, b: Any) -> bool:
    """True when ``b`` is an exact copy of ``a``: same types, same bits."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return bool(
            a.dtype == b.dtype
            and a.dtype.str == b.dtype.str
            and a.shape == b.shape
            and a.tobytes() == b.tobytes()
        )
    if isinstance(a, np.generic):
        return bool(a.dtype == b.dtype and a.tobytes() == b.tobytes())
    if type(a) is float:
        return _bits(a) == _bits(b)
    if type(a) is complex:
        return _bits(a.real) == _bits(b.real) and _bits(a.imag) == _bits(b.imag)
    if type(a) in (list, tuple):
        return len(a) == len(b) and all(map(same, a, b))
    if type(a) is dict:
        return len(a) == len(b) and all(
            same(ka, kb) and same(va, vb)
            for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True)
        )
    if type(a) in (set, frozenset):
        unmatched = list(b)
        for x in a:
            for i, y in enumerate(unmatched):
                if same(x, y):
                    del unmatched[i]
                    break
            else:
                return False
        return not unmatched
    return bool(a == b)


def holds_a_set(obj: Any) -> bool:
    """Whether a set or frozenset is anywhere in ``obj`` (they decode only
    where pickle is allowed)."""
    if isinstance(obj, (set, frozenset)):
        return True
    if isinstance(obj, dict):
        return any(holds_a_set(k) or holds_a_set(v) for k, v in obj.items())
    return isinstance(obj, (list, tuple)) and any(holds_a_set(x) for x in obj)
