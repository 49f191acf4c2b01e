"""The tag vocabulary of the payload, shared by the encoder and the decoder.

Internal to ``zmqmesh.wire``. msgpack ext codes 1..3 are self-contained
values (complex, big int, bytearray); codes 16..21 are *markers*: an empty
ext record heading a msgpack array says what the array stands for (tuple,
set, frozenset, ndarray, NumPy scalar, pickled object). Changing a code is a
wire format change: bump ``envelope.VERSION``.

``box_misfits`` is the encoder's pre-scan for the few values that msgpack
would pack natively but wrongly, even with ``strict_types``.
"""

from __future__ import annotations

import struct
from typing import Any

import msgpack  # type: ignore[import-untyped]

EXT_COMPLEX, EXT_BIGINT, EXT_BYTEARRAY = 1, 2, 3
TUPLE, SET, FROZENSET, ARRAY, SCALAR, PICKLE = 16, 17, 18, 19, 20, 21
MARKER_CODES = (TUPLE, SET, FROZENSET, ARRAY, SCALAR, PICKLE)
COMPLEX = struct.Struct("<dd")
# Python's recursion limit (1000 frames, two per level here) bounds how deep the
# pre-scan may go; 200 levels also stops self-referential containers early.
MAX_DEPTH = 200

ExtType = msgpack.ExtType
# The encoder's markers: empty ext records, packed by msgpack itself.
_M = {code: ExtType(code, b"") for code in MARKER_CODES}
M_TUPLE, M_SET, M_FROZENSET = _M[TUPLE], _M[SET], _M[FROZENSET]
M_ARRAY, M_SCALAR, M_PICKLE = _M[ARRAY], _M[SCALAR], _M[PICKLE]


class Marker:
    """What the decoder sees for a marker ext record (one instance per code)."""

    __slots__ = ("code",)

    def __init__(self, code: int) -> None:
        self.code = code


MARKERS = {code: Marker(code) for code in MARKER_CODES}


class Boxed:
    """Hides a value from msgpack's built-in handling so ``default`` sees it."""

    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj


# With strict_types msgpack still packs these itself, wrongly for us: bytearray
# and memoryview as bytes, and ExtType/Timestamp as raw ext records (forgeable).
MISFITS = frozenset({bytearray, memoryview, msgpack.ExtType, msgpack.Timestamp})
CONTAINERS = frozenset({list, tuple, dict, set, frozenset})
SCAN = MISFITS | CONTAINERS


def box_misfits(obj: Any, depth: int) -> Any:
    """Return ``obj``, or a shallow-rebuilt copy in which every misfit is boxed.

    Containers whose items are all of other types are returned as they are,
    so a flat payload costs one C-level pass over its item types.
    """
    t = type(obj)
    if t in MISFITS:
        return Boxed(obj)
    if depth > MAX_DEPTH:
        raise ValueError(f"cannot send a payload nested deeper than {MAX_DEPTH} levels")
    depth += 1
    if t is dict:
        if SCAN.isdisjoint(map(type, obj)) and SCAN.isdisjoint(map(type, obj.values())):
            return obj
        return {box_misfits(k, depth): box_misfits(v, depth) for k, v in obj.items()}
    if t in CONTAINERS and not SCAN.isdisjoint(map(type, obj)):
        return t(box_misfits(x, depth) for x in obj)
    return obj
