"""A corpus of every payload kind of API.md, and a type-strict equality."""

from __future__ import annotations

from typing import Any

import numpy as np


def corpus() -> list[Any]:
    rng = np.random.default_rng(7)
    big = np.arange(300_000, dtype=np.float64)  # above the copy threshold
    f_order = np.asfortranarray(rng.standard_normal((300, 200)))
    return [
        None,
        True,
        False,
        0,
        -1,
        2**63 - 1,
        -(2**63),
        2**64 + 5,
        -(2**100),
        3.5,
        float("inf"),
        -0.0,
        1 + 2j,
        "",
        "héllo wörld",
        b"",
        b"\x00\xff" * 10,
        [],
        (),
        (1, (2, (3,))),
        [1, [2, [3, (4, 5)]]],
        {},
        {"a": 1, 2: "b", (1, 2): [3], b"k": None, None: 0.5},
        {"nested": {"deep": [{"x": (1, 2)}]}},
        np.float32(1.5),
        np.int8(-3),
        np.uint64(2**64 - 1),
        np.complex128(1 - 1j),
        np.bool_(True),
        np.array(3.0),
        np.array([], dtype=np.int32),
        np.zeros((0, 5), dtype=np.float32),
        np.arange(10, dtype=np.int16),
        np.array([True, False, True]),
        np.array([1 + 2j, 3 - 4j], dtype=np.complex64),
        np.arange(12, dtype=">i4").reshape(3, 4),
        big,
        big[::3],
        f_order,
        rng.standard_normal((40, 30))[::2, ::3],
        {"weights": big[:1000].reshape(10, 100), "meta": ("sgd", 0.1)},
        [np.arange(5), (np.ones(3, dtype=np.uint8), "x")],
    ]


def same(a: Any, b: Any) -> bool:
    """Equal values of the same Python types, arrays compared by dtype,
    shape and values (nan-aware), recursively."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a, b))
    if isinstance(a, np.generic):
        return a.dtype == b.dtype and bool(a == b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float) and a != a:
        return b != b
    if isinstance(a, float) and a == 0.0:
        return str(a) == str(b)
    return bool(a == b)
