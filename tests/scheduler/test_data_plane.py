"""The data plane's parking of dependents (scheduler/data.py), with a
recording host instead of a node: no processes."""

from __future__ import annotations

from typing import Any

import pytest

from zmqmesh.scheduler.data import DataPlane

pytestmark = pytest.mark.timeout(30)


class Host:
    def __init__(self) -> None:
        self.rank = 1
        self.loop: Any = None
        self.asked: list[tuple[int, int]] = []
        self.ran: list[list[Any]] = []

    def send(self, dest: int, tag: int, obj: Any) -> bool:
        return True

    def ask(self, dest: int, tid: int) -> bool:
        self.asked.append((dest, tid))
        return True

    def run_here(self, spec: list[Any]) -> None:
        self.ran.append(spec)

    def input_lost(self, tid: int, input_tid: int) -> None:
        raise AssertionError("no input is lost here")

    def fetched(self, tid: int, ok: bool, value: Any, holder: int) -> None:
        raise AssertionError("no future of this rank waits")

    def actor_handle(self, aid: int, rank: int, name: str) -> Any:
        raise AssertionError("no actor here")


def test_a_dependent_sent_twice_runs_with_every_input_in_place() -> None:
    """A dependent's spec that comes again while it is parked (sent anew
    after a loss or a steal) replaces the first; it runs once its inputs
    have all come, never with one still missing."""
    host = Host()
    plane = DataPlane(host, get_tag=1, data_tag=2)
    spec = [7, "fn", [None, None], {}, [[[0], 2, 100], [[1], 3, 101]]]
    plane.arrive(list(spec))
    plane.arrive(list(spec))  # the same dependent again
    assert host.asked == [(2, 100), (3, 101)]  # one GET per input
    plane.data(2, [[100, True, "a"]])
    assert host.ran == []  # 101 has not come: it must wait
    plane.data(3, [[101, True, "b"]])
    assert host.ran == [[7, "fn", ["a", "b"], {}]]
