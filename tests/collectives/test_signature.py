"""Call signatures: equal exactly when ranks must agree, stable across
processes."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from zmqmesh.collectives.signature import alltoall_sig, item_bytes, payload_sig, signature

DTYPES = ["int8", "<i4", ">i4", "float64", "complex64", "bool"]
shapes = st.lists(st.integers(0, 4), max_size=3).map(tuple)


@given(st.sampled_from(DTYPES), shapes)
def test_arrays_sign_by_dtype_and_shape_not_values(dtype: str, shape: tuple[int, ...]) -> None:
    a = np.zeros(shape, dtype)
    b = np.ones(shape, dtype)
    assert payload_sig(a) == payload_sig(b) == ("array", np.dtype(dtype).str, shape)
    assert payload_sig(np.zeros(shape, dtype, order="F")) == payload_sig(a)


@given(st.sampled_from(DTYPES), st.sampled_from(DTYPES), shapes, shapes)
def test_arrays_of_another_dtype_or_shape_sign_apart(
    d1: str, d2: str, s1: tuple[int, ...], s2: tuple[int, ...]
) -> None:
    same = np.dtype(d1).str == np.dtype(d2).str and s1 == s2
    assert (payload_sig(np.zeros(s1, d1)) == payload_sig(np.zeros(s2, d2))) == same


@pytest.mark.parametrize("value", [None, 3, 2.5, "x", b"y", [1, 2], {"a": 1}, np.float64(1)])
def test_other_values_sign_alike(value: Any) -> None:
    assert payload_sig(value) == ("value",)


def test_tuples_sign_by_their_items() -> None:
    pair = (np.zeros(3), 1)
    assert payload_sig(pair) == ("tuple", (("array", "<f8", (3,)), ("value",)))
    assert payload_sig((np.zeros(3), 1)) == payload_sig(pair)
    assert payload_sig((np.zeros(4), 1)) != payload_sig(pair)
    assert payload_sig((1, (np.zeros(2, "i4"),))) == (
        "tuple",
        (("value",), ("tuple", (("array", "<i4", (2,)),))),
    )


@given(st.lists(st.one_of(st.integers(), st.text(max_size=5), st.none()), max_size=5))
def test_signature_is_a_64_bit_function_of_the_parts(parts: list[Any]) -> None:
    sig = signature(*parts)
    assert 0 <= sig < 2**64
    assert signature(*parts) == sig
    assert signature(*parts, "more") != sig


def test_signature_is_the_same_in_another_process() -> None:
    parts = ("allreduce", "ring", "SUM", ("array", "<f8", (3,)))
    code = f"from zmqmesh.collectives.signature import signature;print(signature(*{parts!r}))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert int(out.stdout) == signature(*parts)


# -- alltoall: what every rank knows about the items --------------------------

items = st.one_of(
    st.integers(),
    st.binary(max_size=4),
    st.builds(np.zeros, st.integers(0, 5), st.sampled_from(DTYPES)),
)


@given(st.integers(1, 9), st.lists(items, max_size=9), st.lists(items, max_size=9))
def test_an_alltoall_of_items_knows_no_size_whatever_they_are(
    size: int, mine: list[Any], theirs: list[Any]
) -> None:
    """Lists (or tuples) of items sign alike, whatever each rank's items
    are: a size chosen by would differ between ranks."""
    for seq in (mine, theirs, tuple(mine)):
        assert alltoall_sig(seq) == ("value",)
        assert item_bytes(alltoall_sig(seq), size) == 0


@given(st.integers(1, 9), st.sampled_from(DTYPES), shapes, st.booleans())
def test_an_alltoall_of_one_array_knows_its_row_size(
    size: int, dtype: str, rest: tuple[int, ...], fortran: bool
) -> None:
    arr = np.zeros((size, *rest), dtype, order="F" if fortran else "C")
    sig = alltoall_sig(arr)
    assert sig == payload_sig(arr)
    assert item_bytes(sig, size) == arr.nbytes // size == arr[0].nbytes
    # every rank with the same signature (and so the same plan) has rows of that size
    other = np.ones((size, *rest), dtype)
    assert alltoall_sig(other) == sig
    assert item_bytes(alltoall_sig(other), size) == other[0].nbytes


@pytest.mark.parametrize(
    "arr",
    [
        np.zeros((3, 4)),  # 3 rows on 4 ranks: not one item per rank
        np.zeros(()),
        np.array([object(), object(), object(), object()]),
        np.zeros((4, 2), dtype="U3"),
    ],
    ids=["rows", "0-d", "object", "str"],
)
def test_arrays_that_are_not_one_row_per_rank_know_no_size(arr: np.ndarray) -> None:
    assert item_bytes(alltoall_sig(arr), 4) == 0
