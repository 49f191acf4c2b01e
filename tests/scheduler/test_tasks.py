"""Functions by reference and the error report of a failed task."""

from __future__ import annotations

import asyncio
import functools
import os.path
import pickle

import pytest

from zmqmesh.errors import RemoteError, RemoteTraceback
from zmqmesh.scheduler.tasks import (
    as_remote_error,
    describe_call,
    fn_ref,
    remote_error,
    resolve,
    run_chunk,
)


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
        parts = remote_error(exc, 3, describe_call(["m", "lookup"], ("k",), {}))
    err = as_remote_error(parts)
    assert isinstance(err, RemoteError)
    assert err.type_name == "KeyError"
    assert "'k'" in err.message
    assert "test_error_report_round_trip" in err.traceback
    assert (err.rank, err.task) == (3, "lookup('k')")
    assert str(err) == "KeyError: 'k' (task lookup('k') on rank 3)"
    assert isinstance(err.__cause__, RemoteTraceback)
    assert err.remote_traceback == err.traceback
    again = pickle.loads(pickle.dumps(err))
    assert (again.rank, again.task, str(again)) == (3, "lookup('k')", str(err))
    old = as_remote_error(["KeyError", "'k'", ""])  # a report with no rank or task
    assert (old.rank, old.task, str(old)) == (None, None, "KeyError: 'k'")
    assert as_remote_error("junk").type_name == "DecodeError"
    assert as_remote_error(["a", "b", "c", "rank", 5]).rank is None


def test_task_descriptions_are_abbreviated() -> None:
    assert describe_call(["m", "f"], (1, "x"), {"k": 2}) == "f(1, 'x', k=2)"
    assert describe_call(pow, (), {}) == "pow()"
    long = describe_call(["m", "f"], ("a" * 100, list(range(100))), {})
    assert len(long) < 80, long
    many = describe_call(["m", "f"], tuple(range(10)), {})
    assert many == "f(0, 1, 2, 3, ... 6 more)", many


def test_a_chunk_says_which_item_raised() -> None:
    try:
        run_chunk(fn_ref(divmod, False), [(4, 2), (1, 0), (3, 1)])
    except ZeroDivisionError as exc:
        parts = remote_error(exc, 1, "run_chunk(...)")
    assert parts[4] == "divmod(1, 0)"


def test_user_frames_only() -> None:
    try:
        run_chunk(fn_ref(divmod, False), [(1, 0)])
    except ZeroDivisionError as exc:
        parts = remote_error(exc, 1, "")
    assert "zmqmesh/scheduler/tasks.py" not in parts[2], parts[2]
    assert "test_user_frames_only" in parts[2]


def test_chunks_run_in_order() -> None:
    assert run_chunk(fn_ref(pow, False), [(2, 3), (3, 2)]) == [8, 9]
    assert asyncio.run(_chunk_async()) == [1, 2]


async def _chunk_async() -> list[int]:
    from zmqmesh.scheduler.tasks import run_chunk_async

    return await run_chunk_async(fn_ref(coro_fn, False), [(1,), (2,)])
