"""Functions by reference and the error report of a failed task."""

from __future__ import annotations

import asyncio
import functools
import os.path

import pytest

from zmqmesh.errors import RemoteError
from zmqmesh.scheduler.tasks import as_remote_error, fn_ref, remote_error, resolve, run_chunk


async def coro_fn(x: int) -> int:
    return x


class Holder:
    @staticmethod
    def method(x: int) -> int:
        return x + 1


def test_module_functions_go_by_reference() -> None:
    assert fn_ref(os.path.join, False) == [os.path.join.__module__, "join"]
    ref = fn_ref(Holder.method, False)
    assert ref == [__name__, "Holder.method"]
    assert resolve(ref) == (Holder.method, False)
    assert resolve(fn_ref(coro_fn, False)) == (coro_fn, True)


@pytest.mark.parametrize("bad", [lambda x: x, functools.partial(pow, 2)])
def test_other_callables_need_pickle(bad: object) -> None:
    with pytest.raises(TypeError, match="pickle"):
        fn_ref(bad, False)
    assert fn_ref(bad, True) is bad


def test_not_callable() -> None:
    with pytest.raises(TypeError, match="callable"):
        fn_ref(3, True)
    with pytest.raises(TypeError, match="callable"):
        resolve(3)


def test_error_report_round_trip() -> None:
    try:
        {}["k"]
    except KeyError as exc:
        parts = remote_error(exc)
    err = as_remote_error(parts)
    assert isinstance(err, RemoteError)
    assert err.type_name == "KeyError"
    assert "'k'" in err.message
    assert "test_error_report_round_trip" in err.traceback
    assert as_remote_error("junk").type_name == "DecodeError"


def test_chunks_run_in_order() -> None:
    assert run_chunk(fn_ref(pow, False), [(2, 3), (3, 2)]) == [8, 9]
    assert asyncio.run(_chunk_async()) == [1, 2]


async def _chunk_async() -> list[int]:
    from zmqmesh.scheduler.tasks import run_chunk_async

    return await run_chunk_async(fn_ref(coro_fn, False), [(1,), (2,)])
