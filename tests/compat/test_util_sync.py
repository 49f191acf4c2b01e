"""``mpi4py.util.sync``: the shared objects' state machines fed requests
(instructions compared whole), and the classes on real ranks."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import launch

from zmqmesh.compat.mpi4py.util._syncstate import (
    NOTIFY,
    REPLY,
    CounterState,
    MutexState,
    SemaphoreState,
    WaitersState,
)

HERE = Path(__file__).resolve().parent


@pytest.mark.timeout(10)
def test_a_counter_answers_the_old_value_and_wraps_as_its_c_type() -> None:
    c = CounterState(5)
    assert c.handle(2, ("next", 3)) == [(2, REPLY, 5)]
    assert c.handle(0, ("next", -1)) == [(0, REPLY, 8)]
    assert c.value == 7
    small = CounterState(127, bits=8, signed=True)
    assert small.handle(1, ("next", 1)) == [(1, REPLY, 127)]
    assert small.value == -128
    assert CounterState(0).handle(1, ("bogus",))[0][2][:2] == ("error", "ValueError")


@pytest.mark.timeout(10)
def test_a_mutex_serves_blocked_ranks_in_arrival_order() -> None:
    m = MutexState()
    assert m.handle(1, ("acquire", True)) == [(1, REPLY, True)]
    assert m.handle(2, ("acquire", True)) == []
    assert m.handle(3, ("acquire", False)) == [(3, REPLY, False)]
    assert m.handle(0, ("acquire", True)) == []
    assert m.handle(3, ("locked",)) == [(3, REPLY, True)]
    assert m.handle(1, ("release",)) == [(1, REPLY, None), (2, REPLY, True)]
    assert m.handle(2, ("release",)) == [(2, REPLY, None), (0, REPLY, True)]
    assert m.handle(0, ("release",)) == [(0, REPLY, None)]
    assert m.owner is None
    assert not m.queue


@pytest.mark.timeout(10)
def test_a_mutex_refuses_release_by_others_and_a_second_acquire() -> None:
    m = MutexState()
    m.handle(1, ("acquire", True))
    assert m.handle(2, ("release",)) == [
        (2, REPLY, ("error", "RuntimeError", "cannot release unacquired mutex"))
    ]
    assert m.handle(1, ("acquire", True)) == [
        (1, REPLY, ("error", "RuntimeError", "cannot acquire already held mutex"))
    ]
    assert m.owner == 1
    assert not m.queue


@pytest.mark.timeout(10)
def test_condition_waiters_are_woken_in_order() -> None:
    w = WaitersState()
    for r in (3, 1, 2):
        assert w.handle(r, ("wait",)) == [(r, REPLY, None)]
    assert w.handle(0, ("notify", 2)) == [(0, REPLY, 2), (3, NOTIFY, None), (1, NOTIFY, None)]
    assert w.handle(0, ("notify", None)) == [(0, REPLY, 1), (2, NOTIFY, None)]
    assert w.handle(0, ("notify", None)) == [(0, REPLY, 0)]


@pytest.mark.timeout(10)
def test_a_semaphore_wakes_waiters_before_counting_up_and_keeps_its_bound() -> None:
    s = SemaphoreState(1, bound=1)
    assert s.handle(0, ("acquire", True)) == [(0, REPLY, True)]
    assert s.handle(1, ("acquire", False)) == [(1, REPLY, False)]
    assert s.handle(2, ("acquire", True)) == []
    assert s.handle(0, ("release", 1)) == [(0, REPLY, None), (2, REPLY, True)]
    assert s.value == 0
    assert s.handle(2, ("release", 2)) == [
        (2, REPLY, ("error", "ValueError", "semaphore released too many times"))
    ]
    assert s.value == 0
    assert s.handle(2, ("release", 1)) == [(2, REPLY, None)]
    unbounded = SemaphoreState(0)
    assert unbounded.handle(0, ("release", 5)) == [(0, REPLY, None)]
    assert unbounded.value == 5


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", [1, 2, 4])
def test_sync_objects_on_real_ranks(n: int, tmp_path: Path) -> None:
    res = launch(n, HERE / "sync_tour.py", str(tmp_path), timeout=110, launcher_args=("--mpi4py",))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert f"[0] sync tour ok on {n} ranks" in res.stdout
