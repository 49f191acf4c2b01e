"""``alltoall`` of one array, its rows the items: every rank knows the
items' size alike, so the algorithm is chosen by it (pairwise for large
rows, Bruck for small ones from the model), on real in-process ranks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import zmqmesh
from zmqmesh.collectives.plan import AUTOMATIC, plan
from zmqmesh.collectives.signature import alltoall_sig, item_bytes
from zmqmesh.testing import run_world

pytestmark = pytest.mark.timeout(120)

SIZE = 9  # from 9 ranks a sequence of items of unknown sizes takes Bruck


def test_the_choice_follows_the_rows_size() -> None:
    small = np.zeros((SIZE, 1), np.uint8)
    large = np.zeros((SIZE, 2**21), np.uint8)
    picks = []
    for a in (small, large, list(large)):
        nbytes = item_bytes(alltoall_sig(a), SIZE)
        picks.append(
            plan(
                "alltoall",
                kind="general",
                size=SIZE,
                nbytes=nbytes,
                segmentable=nbytes > 0,
                config=AUTOMATIC,
            )
        )
    assert picks == ["bruck", "pairwise", "bruck"]


@pytest.mark.parametrize("row", [1, 3000, 2**18])
def test_rows_arrive_in_rank_order(row: int) -> None:
    async def body(comm: zmqmesh.Comm) -> list[Any]:
        a = np.arange(comm.size * row, dtype=np.int64).reshape(comm.size, row) + 1000 * comm.rank
        return await comm.alltoall(a)

    results = run_world(SIZE, body)
    for me, got in enumerate(results):
        assert len(got) == SIZE
        for src, item in enumerate(got):
            want = np.arange(me * row, (me + 1) * row, dtype=np.int64) + 1000 * src
            np.testing.assert_array_equal(item, want)


def test_arrays_of_other_shapes_are_a_mismatch() -> None:
    async def body(comm: zmqmesh.Comm) -> str:
        a = np.zeros((comm.size, 2 + comm.rank % 2), np.float64)
        try:
            await comm.alltoall(a)
        except zmqmesh.CollectiveMismatchError as exc:
            return str(exc)
        return "no error"

    assert all(r != "no error" for r in run_world(4, body))


def test_a_list_of_items_of_any_sizes_still_works() -> None:
    async def body(comm: zmqmesh.Comm) -> list[Any]:
        return await comm.alltoall([np.zeros(comm.rank + j, np.uint8) for j in range(comm.size)])

    for me, got in enumerate(run_world(SIZE, body)):
        assert [len(x) for x in got] == [src + me for src in range(SIZE)]


def test_a_wrong_number_of_rows_raises_at_the_call() -> None:
    async def body(comm: zmqmesh.Comm) -> str:
        with pytest.raises(ValueError, match="exactly one item per rank"):
            await comm.alltoall(np.zeros((comm.size + 1, 2)))
        with pytest.raises(TypeError, match="sequence"):
            await comm.alltoall(np.float64(1.0))
        return "ok"

    assert run_world(2, body) == ["ok", "ok"]
