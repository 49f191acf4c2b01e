"""A cancelled receive, irecv or probe consumes nothing: the message goes
to a later receive, including when the cancellation comes between the
match and the waiting task's wake-up. In one process (``run_world``), so
the order of events is exact: a send to oneself arrives at once."""

from __future__ import annotations

import asyncio

import numpy as np

import zmqmesh
from zmqmesh.testing import run_world


async def _posted(task: asyncio.Task[object]) -> None:
    """Let ``task`` run up to its first wait (one turn of the loop)."""
    await asyncio.sleep(0)
    assert not task.done()


def test_cancelled_recv_waiting_consumes_nothing() -> None:
    async def body(comm: zmqmesh.Comm) -> list[object]:
        task = asyncio.ensure_future(comm.recv(0, tag=5))
        await _posted(task)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await comm.send("one", 0, tag=5)
        return [task.cancelled(), await comm.recv(0, tag=5)]

    assert run_world(1, body) == [[True, "one"]]


def test_recv_cancelled_after_its_match_gives_the_message_back() -> None:
    async def body(comm: zmqmesh.Comm) -> list[object]:
        task = asyncio.ensure_future(comm.recv(0, tag=5))
        await _posted(task)
        await comm.send("one", 0, tag=5)  # matches the posted receive now
        await comm.send("two", 0, tag=5)
        task.cancel()  # before the task wakes up with "one"
        await asyncio.gather(task, return_exceptions=True)
        # non-overtaking holds: "one" is still first
        return [task.cancelled(), await comm.recv(0, tag=5), await comm.recv(0, tag=5)]

    assert run_world(1, body) == [[True, "one", "two"]]


def test_irecv_cancel_consumes_nothing() -> None:
    async def body(comm: zmqmesh.Comm) -> list[object]:
        req = comm.irecv(0, tag=6)
        cancelled = req.cancel()
        await comm.send(np.arange(3), 0, tag=6)
        later = comm.irecv(0, tag=6)
        return [cancelled, req.done(), (await later).tolist(), later.status.tag]

    assert run_world(1, body) == [[True, True, [0, 1, 2], 6]]


def test_irecv_whose_waiter_is_cancelled_after_the_match() -> None:
    async def body(comm: zmqmesh.Comm) -> list[object]:
        req = comm.irecv(0, tag=7)
        task = asyncio.ensure_future(req.wait())
        await _posted(task)
        await comm.send("one", 0, tag=7)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        try:
            await req
            again = "returned"
        except asyncio.CancelledError:
            again = "cancelled"
        return [task.cancelled(), req.done(), again, await comm.recv(0, tag=7)]

    assert run_world(1, body) == [[True, True, "cancelled", "one"]]


def test_a_message_arriving_while_a_cancelled_recv_is_withdrawn() -> None:
    # The withdrawal of a cancelled receive runs a loop turn later; a
    # message arriving in between went to the cancelled receive and was lost.
    async def body(comm: zmqmesh.Comm) -> list[object]:
        task = asyncio.ensure_future(comm.recv(0, tag=8))
        await _posted(task)
        task.cancel()
        await comm.send("one", 0, tag=8)  # same turn: not withdrawn yet
        await asyncio.gather(task, return_exceptions=True)
        return [task.cancelled(), await comm.recv(0, tag=8)]

    assert run_world(1, body) == [[True, "one"]]


def test_cancelled_probe_consumes_nothing() -> None:
    async def body(comm: zmqmesh.Comm) -> list[object]:
        task = asyncio.ensure_future(comm.probe(0, tag=9))
        await _posted(task)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await comm.send("one", 0, tag=9)
        st = await comm.probe(0, tag=9)
        return [task.cancelled(), st.tag, await comm.recv(0, tag=9)]

    assert run_world(1, body) == [[True, 9, "one"]]


def test_cancelled_recv_from_a_peer() -> None:
    async def body(comm: zmqmesh.Comm) -> object:
        if comm.rank == 0:
            task = asyncio.ensure_future(comm.recv(1, tag=3))
            await _posted(task)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await comm.send("go", 1, tag=4)
            return [task.cancelled(), await comm.recv(1, tag=3)]
        await comm.recv(0, tag=4)
        await comm.send("late", 0, tag=3)
        return None

    assert run_world(2, body)[0] == [True, "late"]
