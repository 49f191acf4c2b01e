"""Array meta is untrusted: dtype wire forms and every way to get them wrong."""

from __future__ import annotations

import numpy as np
import pytest

from zmqmesh.errors import DecodeError
from zmqmesh.wire.arrays import array_from_wire, dtype_from_wire, dtype_to_wire

PADDED = np.dtype([("a", "u1"), ("b", "<i4")], align=True)


def test_dtype_wire_forms() -> None:
    assert dtype_to_wire(np.dtype(">f4")) == ">f4"
    assert dtype_to_wire(np.dtype("M8[10ms]")) == "<M8[10ms]"
    dt = PADDED
    assert isinstance(dtype_to_wire(dt), list)
    assert dtype_from_wire(dtype_to_wire(dt)) == dt


BAD_DTYPES: list[object] = [
    "O",
    "|O8",
    "<T",
    "i4,f8",
    "(2,)<f8",
    "a1",
    "<f8 ",
    "",
    "<f3",
    "<M8[zz]",
    "|V99999999999999999",
    123,
    None,
    b"<f8",
    [("a", "O")],
    [("a", "|O")],
    [("a",)],
    [(1, "<i4")],
    [("a", "<i4"), ("a", "<i4")],
    [("a", "<i4", (-1,))],
    [("a", "<i4", [2])],
    [[("a", "<i4")]],
    ("a", "<i4"),
]


@pytest.mark.parametrize("wire", BAD_DTYPES, ids=repr)
def test_bad_dtypes_are_rejected(wire: object) -> None:
    with pytest.raises(DecodeError):
        array_from_wire(wire, [1], False, memoryview(bytes(8)), copy=False)


def test_deeply_nested_descr_is_rejected() -> None:
    descr: object = "<i4"
    for _ in range(40):
        descr = [("f", descr)]
    with pytest.raises(DecodeError):
        dtype_from_wire(descr)


@pytest.mark.parametrize(
    ("shape", "fortran", "nbytes", "match"),
    [
        ((2,), False, 16, "shape"),  # a tuple, not a list
        ([-1], False, 0, "shape"),
        ([True], False, 8, "shape"),
        ([2.0], False, 16, "shape"),
        (["2"], False, 16, "shape"),
        ([2], 0, 16, "order"),
        ([2], "F", 16, "order"),
        ([2], False, 15, "needs 16 bytes"),
        ([2], False, 17, "needs 16 bytes"),
        ([], False, 0, "needs 8 bytes"),
        ([2**62, 2**62], False, 8, "needs"),  # no overflow: Python ints
        ([0, 2**62], False, 8, "needs 0 bytes"),
        ([1] * 70, False, 8, "dimensions|ndim|shape"),
    ],
)
def test_bad_array_meta_is_rejected(
    shape: object, fortran: object, nbytes: int, match: str
) -> None:
    with pytest.raises(DecodeError, match=match):
        array_from_wire("<f8", shape, fortran, memoryview(bytes(nbytes)), copy=False)
