"""The pure parts of work stealing: policy and the origin's task table."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zmqmesh.scheduler.policy import (
    EARLY,
    Backoff,
    Sweep,
    batch_due,
    choose_victim,
    may_spin,
    result_now,
    steal_ahead,
    steal_count,
)
from zmqmesh.scheduler.table import TaskTable


@given(st.integers(0, 10_000), st.booleans())
def test_steal_takes_half_of_the_work(queued: int, running: bool) -> None:
    n = steal_count(queued, running)
    assert 0 <= n <= queued
    held = queued + running
    assert n == held // 2 or n == queued  # half of all it holds, capped by its queue
    if queued and not running:
        assert n < queued  # an idle victim keeps the task it runs next


def test_steal_examples() -> None:
    assert steal_count(0, True) == 0
    assert steal_count(1, True) == 1  # the thief is idle, the victim busy
    assert steal_count(1, False) == 0
    assert steal_count(10, False) == 5
    assert steal_count(10, True) == 5
    with pytest.raises(ValueError, match="queued"):
        steal_count(-1, False)


@given(st.integers(0, 10_000), st.booleans(), st.booleans())
def test_a_busy_thief_gets_its_fair_half(queued: int, running: bool, busy: bool) -> None:
    """A thief given tasks never ends with more than the victim keeps, and
    one task more would have made it so."""
    n = steal_count(queued, running, busy)
    assert 0 <= n <= queued
    thief, victim = int(busy) + n, queued + int(running) - n
    assert n == 0 or thief <= victim
    assert n == queued or thief + 1 > victim - 1


def test_busy_thief_examples() -> None:
    assert steal_count(1, True, thief_busy=True) == 0  # no ping-pong of a last task
    assert steal_count(2, True, thief_busy=True) == 1
    assert steal_count(10, True, thief_busy=True) == 5
    assert steal_count(1, False, thief_busy=True) == 0


def test_workers_steal_ahead_of_tasks_neither_quick_nor_long() -> None:
    assert steal_ahead(0, 0.0)  # nothing known yet
    assert steal_ahead(2, 1e-6)
    assert not steal_ahead(3, 1e-5)  # quick: a lone no-op's round trip stays lean
    assert steal_ahead(3, 0.005)
    assert not steal_ahead(3, 5.0)  # long: the loot would wait behind it


@given(st.integers(0, 20), st.lists(st.integers(0, 20), max_size=20), st.integers(0, 2**32))
def test_victim_is_another_worker(me: int, workers: list[int], seed: int) -> None:
    v = choose_victim(random.Random(seed), me, workers)
    others = [w for w in workers if w != me]
    assert (v is None) == (not others)
    assert v is None or v in others


def test_victims_are_spread() -> None:
    rng = random.Random(1)
    picks = [choose_victim(rng, 0, [0, 1, 2, 3]) for _ in range(3000)]
    assert {picks.count(v) for v in (1, 2, 3)} <= set(range(850, 1150))


def test_backoff_doubles_to_its_limit_and_resets() -> None:
    b = Backoff(0.001, 0.004)
    assert [b.refused() for _ in range(5)] == [0.001, 0.002, 0.004, 0.004, 0.004]
    b.succeeded()
    assert b.refused() == 0.001
    with pytest.raises(ValueError, match="first"):
        Backoff(0.0, 1.0)


def _ask(sweep: Sweep, workers: list[int], got: int) -> tuple[int, float]:
    v = sweep.victim(workers)
    assert v is not None
    return v, sweep.answered(v, got, workers)


def test_a_sweep_asks_each_peer_once_backing_off_between_asks() -> None:
    sweep = Sweep(random.Random(3), 0, Backoff(0.001, 0.004))
    workers = [0, 1, 2, 3]
    asked = [_ask(sweep, workers, 0) for _ in range(6)]
    assert sorted(v for v, _ in asked[:3]) == [1, 2, 3]  # each once per sweep
    assert sorted(v for v, _ in asked[3:]) == [1, 2, 3]
    # one ask per back-off, however many peers there are
    assert [wait for _, wait in asked] == [0.001, 0.002, 0.004, 0.004, 0.004, 0.004]
    assert _ask(sweep, workers, 2)[1] == 0.0  # loot: a new sweep, the back-off reset
    assert sweep.refused == set()
    assert _ask(sweep, workers, 0)[1] == 0.001
    sweep.reset()  # work dealt in a batch: afresh too
    assert sweep.refused == set()
    assert _ask(sweep, workers, 0)[1] == 0.001


def test_a_busy_thief_refused_by_all_waits_to_be_idle() -> None:
    sweep = Sweep(random.Random(5), 2, Backoff(0.001, 0.004))
    workers = [1, 2, 3]
    waits = []
    for _ in range(2):
        v = sweep.victim(workers)
        assert v is not None
        waits.append(sweep.answered(v, 0, workers, busy=True))
    assert waits == [0.001, math.inf]
    assert sweep.refused == set()


@given(
    st.lists(st.tuples(st.integers(0, 6), st.integers(0, 3)), max_size=60),
    st.integers(0, 2**32),
)
def test_a_sweep_never_asks_itself_nor_a_refuser_twice(
    events: list[tuple[int, int]], seed: int
) -> None:
    """Whatever the answers and however the workers change, a thief asks a
    live peer, never itself, and no peer twice within one sweep."""
    sweep = Sweep(random.Random(seed), 0)
    workers = [0, 1, 2, 3, 4]
    in_sweep: set[int] = set()
    for drop, got in events:
        if drop and drop in workers and len(workers) > 2:
            workers.remove(drop)  # a worker was lost
            in_sweep.clear()  # the sweep may start afresh
        v = sweep.victim(workers)
        assert v in workers
        assert v != 0
        assert v not in in_sweep
        sweep.answered(v or 0, got, workers)
        in_sweep.add(v or 0)
        if got:
            assert sweep.refused == set()
        if not sweep.refused:  # a new sweep
            in_sweep.clear()
    assert Sweep(random.Random(seed), 0).victim([0]) is None


def test_results_wait_for_the_tick_only_behind_queued_work() -> None:
    assert not result_now(queued=3, local=False, ticking=True)  # the tick takes it
    assert result_now(queued=0, local=False, ticking=True)  # going idle: now
    assert result_now(queued=3, local=True, ticking=True)  # awaited on this loop
    assert result_now(queued=3, local=False, ticking=False)  # no tick due


def test_each_worker_gets_its_first_tasks_before_the_turn_ends() -> None:
    """Tasks dealt round-robin to 3 workers in one turn: which leave before
    the turn's end, and in what messages."""
    sent = dict.fromkeys(range(3), 0)
    box = dict.fromkeys(range(3), 0)
    messages: list[tuple[int, int]] = []
    for i in range(3000):
        w = i % 3
        box[w] += 1
        if batch_due(box[w], sent[w], first_of_turn=not messages):
            messages.append((w, box[w]))
            sent[w] += box[w]
            box[w] = 0
    assert messages == [(0, 1), (0, EARLY - 1), (1, EARLY), (2, EARLY)]
    assert batch_due(1, 0, first_of_turn=True)  # a lone task leaves at once
    assert not batch_due(1, 0, first_of_turn=False)


def test_table_follows_moves_and_reruns_lost_tasks() -> None:
    t = TaskTable(max_retries=1)
    for tid, where in ((1, 1), (2, 1), (3, 2)):
        t.placed(tid, [tid, "f", (), {}], where)
    assert t.moved([2], 2) == []
    assert sorted(t.worker_lost(2)) == [2, 3]
    assert t.rerun(2, 1) == [2, "f", (), {}]
    assert t.pending[2].where == 1
    assert t.moved([1], 2) == [1]  # moved to a worker already gone
    assert t.done(1)
    assert not t.done(1)  # a second result is a duplicate
    assert t.rerun(2, 3) is None  # second loss: out of attempts
    assert 2 not in t.pending


@given(st.lists(st.tuples(st.sampled_from("pmdl"), st.integers(0, 9), st.integers(1, 4))))
def test_table_never_loses_a_pending_task(events: list[tuple[str, int, int]]) -> None:
    """Whatever happens, every task not yet done is somewhere or failed."""
    t = TaskTable(max_retries=2)
    done: set[int] = set()
    failed: set[int] = set()
    for kind, tid, w in events:
        if kind == "p" and tid not in t.pending and tid not in done | failed:
            t.placed(tid, [tid], w)
        elif kind == "m":
            for again in t.moved([tid], w):
                if t.rerun(again, 1) is None:
                    failed.add(again)
        elif kind == "d" and t.done(tid):
            done.add(tid)
        elif kind == "l":
            for again in t.worker_lost(w):
                if t.rerun(again, 1) is None:
                    failed.add(again)
        for e in t.pending.values():
            assert e.attempts <= 3
    assert not set(t.pending) & (done | failed)


def test_an_origin_spins_only_while_its_tasks_leave_it_a_core() -> None:
    assert may_spin(1, 2)  # a lone task on 2 cores: one worker and the origin
    assert not may_spin(2, 2)  # both cores may be busy with tasks
    assert not may_spin(0, 8)  # nothing to wait for
    assert may_spin(7, 8)
    assert not may_spin(1, 1)
