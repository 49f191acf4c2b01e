"""The layer's loop runner (``runner.py``): an operation started by a
nonblocking call takes its first step before the call returns, without a
turn of the loop, and keeps the task's ways for the rest."""

from __future__ import annotations

import asyncio

import pytest

from zmqmesh.compat.mpi4py import runner

pytestmark = pytest.mark.timeout(30)


def test_the_first_step_runs_before_start_returns_in_call_order() -> None:
    seen: list[str] = []
    gate: list[asyncio.Future[None]] = []

    async def op(name: str) -> str:
        seen.append(name)
        if not gate:
            gate.append(asyncio.get_running_loop().create_future())
        await gate[0]
        return name

    a = runner.start(op("a"))
    b = runner.start(op("b"))
    assert seen == ["a", "b"]  # both posted, in order, before any loop turn
    assert not a.done()
    assert not b.done()
    runner.now(lambda: gate[0].set_result(None))
    assert runner.run(a) == "a"
    assert runner.run(b) == "b"


def test_an_operation_done_in_its_first_step_is_a_done_future() -> None:
    async def at_once() -> int:
        return 7

    fut = runner.start(at_once())
    assert fut.done()
    assert fut.result() == 7
    assert runner.run(fut) == 7


def test_an_error_in_the_first_step_is_kept_for_the_completion() -> None:
    async def bad() -> None:
        raise ValueError("refused")

    fut = runner.start(bad())  # does not raise here: a request reports it when completed
    assert fut.done()
    with pytest.raises(ValueError, match="refused"):
        runner.run(fut)


def test_a_started_operation_can_be_cancelled_and_sees_the_cancellation() -> None:
    cleaned: list[bool] = []

    async def waits() -> None:
        try:
            await asyncio.get_running_loop().create_future()
        finally:
            cleaned.append(True)

    task = runner.start(waits())
    assert not task.done()
    runner.now(task.cancel)
    with pytest.raises(asyncio.CancelledError):
        runner.run(task)
    assert cleaned == [True]


def test_start_from_inside_the_loop_is_refused() -> None:
    async def inner() -> None:
        async def noop() -> None:
            return None

        coro = noop()
        try:
            runner.start(coro)
        finally:
            coro.close()

    with pytest.raises(RuntimeError, match="blocking"):
        runner.run(inner())


def test_a_wait_on_a_finished_operation_gives_its_result_and_takes_the_steps_due() -> None:
    from zmqmesh.compat.mpi4py.requests import Request

    async def at_once() -> int:
        return 5

    async def bad() -> None:
        raise ValueError("refused")

    assert Request._of(runner.start(at_once())).wait() == 5
    with pytest.raises(ValueError, match="refused"):
        Request._of(runner.start(bad())).wait()
    ran: list[bool] = []
    req = Request._of(runner.start(at_once()))
    runner.at_next_call(lambda: ran.append(True))
    assert runner.no_steps_due() is False
    assert req.wait() == 5
    assert ran == [True]  # a step due at the next call is not skipped
    assert runner.no_steps_due()


def test_a_cancellation_before_the_task_first_runs_reaches_the_operation() -> None:
    # What the first step posted must be withdrawn (a receive left posted
    # would take the next message of its context).
    cleaned: list[str] = []

    async def posts() -> None:
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            cleaned.append("withdrawn")
            raise

    runner.run(asyncio.sleep(0))  # (the loop just ran: the next start does not turn it)
    task = runner.start(posts())
    task.cancel()  # before the loop ever runs the task
    with pytest.raises(asyncio.CancelledError):
        runner.run(task)
    assert cleaned == ["withdrawn"]
