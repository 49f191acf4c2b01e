"""The pure parts of the layer's send modes: how a synchronous message is
marked and opened, and the buffered-send space's accounting."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.sync import (
    PLAIN,
    SYNC,
    BsendSpace,
    marked_bytes,
    marked_object,
    opened,
)

objects = st.recursive(
    st.none() | st.integers() | st.text() | st.binary() | st.sampled_from([SYNC, PLAIN]),
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner) | st.tuples(inner),
    max_leaves=8,
)


@given(objects, st.booleans())
def test_an_object_opens_as_itself_and_asks_for_an_answer_only_when_synchronous(
    obj: Any, sync: bool
) -> None:
    assert opened(marked_object(obj, sync)) == (obj, sync)


@pytest.mark.parametrize("dtype", ["i1", "u1", "f8"])
@pytest.mark.parametrize("sync", [False, True])
def test_arrays_sent_as_objects_never_pass_for_synchronous_bytes(dtype: str, sync: bool) -> None:
    a = np.arange(4, dtype=dtype)
    got, ack = opened(marked_object(a, sync))
    assert ack is sync
    assert got is a


@given(st.binary(max_size=64), st.booleans())
def test_buffer_bytes_travel_unchanged_and_say_whether_synchronous(raw: bytes, sync: bool) -> None:
    data = np.frombuffer(raw, np.uint8)
    got, ack = opened(marked_bytes(data, sync))
    assert ack is sync
    assert got.dtype == np.uint8
    assert got.tobytes() == raw


@given(st.integers(0, 1000), st.lists(st.integers(0, 300), max_size=12))
def test_the_space_holds_what_pending_sends_hold_and_refuses_more(
    size: int, sends: list[int]
) -> None:
    space = BsendSpace()
    buf = bytearray(size)
    space.attach(buf, size)
    held = []
    for n in sends:
        if space.used + n + C.BSEND_OVERHEAD <= size:
            held.append(space.reserve(n))
        else:
            with pytest.raises(MPIException) as exc:
                space.reserve(n)
            assert exc.value.Get_error_class() == C.ERR_BUFFER
        assert 0 <= space.used <= size
    for h in held:
        space.release(h)
    assert space.used == 0
    assert space.detach() is buf


def test_no_buffer_refuses_and_automatic_has_no_limit() -> None:
    space = BsendSpace()
    with pytest.raises(MPIException, match="total buffer size is 0"):
        space.reserve(1)
    space.attach("auto", None)
    space.reserve(1 << 40)
    with pytest.raises(MPIException):
        space.attach("again", 10)
