"""The scheduler's state machine, example by example: events in, the
instruction lists out, compared whole (the random histories are in
``test_state.py``)."""

from __future__ import annotations

import zmqmesh.scheduler.state as sm
from zmqmesh.errors import RankFailedError, RemoteError

from .test_state import ADD, BIG, BOOM, ROOT


def test_instructions_of_a_small_graph() -> None:
    """Events in, instructions out, compared whole."""
    o = sm.Origin(ROOT, [1, 2], max_retries=1, serves=False)
    assert o.handle(sm.Submit(1, ADD, [1], {"big": True})) == [
        sm.Place([1, ADD, [1], {"big": True}], 2)
    ]
    b = sm.Submit(2, ADD, [5, None], {"big": False}, inputs=(((1,), 1),))
    assert o.handle(b) == []  # waits for its input
    kept = o.handle(sm.Finished(1, True, None, source=2, nbytes=BIG))
    spec = [2, ADD, [5, None], {"big": False}, [[[1], 2, 1]]]
    assert kept == [sm.Kept(1, 2), sm.Place(spec, 2)]  # where its input is
    assert o.handle(sm.Wanted(1)) == [sm.Fetch(1, 2)]
    assert o.handle(sm.Fetched(1, True, 1)) == [sm.Resolve(1, 1)]
    assert o.handle(sm.Finished(2, True, 6, source=2)) == [sm.Resolve(2, 6)]
    assert o.handle(sm.FutureGone(1)) == [sm.Free(2, 1)]  # nobody needs it now
    assert not o.table.pending
    assert not o.graph.kept


def test_a_lost_worker_s_tasks_run_again_then_fail() -> None:
    o = sm.Origin(ROOT, [1, 2], max_retries=1, serves=False)
    (place,) = o.handle(sm.Submit(1, ADD, [1], {"big": False}))
    assert isinstance(place, sm.Place)
    again = o.handle(sm.WorkerLost(place.where, "killed"))
    other = 3 - place.where
    assert again == [sm.Place([1, ADD, [1], {"big": False}], other)]
    (failed,) = o.handle(sm.WorkerLost(other, "killed"))
    assert isinstance(failed, sm.Fail)
    assert isinstance(failed.error, RankFailedError)


def test_an_input_s_error_passes_down_marked_upstream() -> None:
    o = sm.Origin(ROOT, [1], max_retries=0, serves=False)
    o.handle(sm.Submit(1, BOOM, [0], {"big": False}))
    o.handle(sm.Submit(2, ADD, [0, None], {"big": False}, inputs=(((1,), 1),)))
    err = RemoteError("ValueError", "boom", "")
    out = o.handle(sm.Finished(1, False, err, source=1))
    assert [type(i) for i in out] == [sm.Fail, sm.Fail]
    assert out[0] == sm.Fail(1, err, passed_on=True)
    up = out[1].error  # type: ignore[union-attr]
    assert isinstance(up, RemoteError)
    assert up.upstream


def test_a_dependent_made_again_keeps_its_inputs() -> None:
    """A kept result made again from its lineage needs its own kept input
    again: the input is not freed under it (its future may be gone)."""
    o = sm.Origin(ROOT, [1, 2, 3], max_retries=2, serves=False)
    o.handle(sm.Submit(1, ADD, [1], {"big": True}))
    o.handle(sm.Finished(1, True, None, source=2, nbytes=BIG))
    o.handle(sm.Submit(2, ADD, [5, None], {"big": True}, inputs=(((1,), 1),)))
    assert o.handle(sm.Finished(2, True, None, source=3, nbytes=BIG)) == [sm.Kept(2, 3)]
    spec = [2, ADD, [5, None], {"big": True}, [[[1], 2, 1]]]
    assert o.handle(sm.WorkerLost(3)) == [sm.Reopen(2), sm.Place(spec, 2)]  # where its input is
    assert o.handle(sm.FutureGone(1)) == []  # still needed by 2
    assert o.handle(sm.Finished(2, True, None, source=2, nbytes=BIG)) == [
        sm.Free(2, 1),
        sm.Kept(2, 2),
    ]


def test_moves_reported_out_of_order_are_applied_in_order() -> None:
    """3 gives a task to 1, which gives it back to 3; 1's report comes
    first. When 3 is lost the task runs again (it was there)."""
    o = sm.Origin(ROOT, [1, 2, 3], max_retries=1, serves=False)
    o.handle(sm.Submit(1, ADD, [0], {"big": False}))  # dealt to 2
    o.handle(sm.Submit(2, ADD, [0], {"big": False}))  # dealt to 3
    assert o.table.pending[2].where == 3
    assert o.handle(sm.Moved((2,), 3, victim=1)) == []  # early: waits
    assert o.handle(sm.Moved((2,), 1, victim=3)) == []  # then both apply
    assert o.table.pending[2].where == 3
    assert o.handle(sm.WorkerLost(3)) == [sm.Place([2, ADD, [0], {"big": False}], 2)]


def test_the_deque_gives_half_from_the_tail() -> None:
    q = sm.TaskQueue()
    q.push_tail([[i, ADD, [], {}] for i in range(1, 7)])
    q.push_head([1 << 40 | 9, ADD, [], {}])  # nested: runs next
    assert q.pop()[0] == 1 << 40 | 9
    loot = q.give(running=True)
    assert [s[0] for s in loot] == [4, 5, 6]  # the oldest half of the tail, in order
    assert sm.by_origin(loot) == {0: [4, 5, 6]}
    q.forget_origin(0)
    assert not q


def test_a_stale_failed_fetch_asks_where_the_result_is_now() -> None:
    """A fetch's "not here" that comes from where a kept result was before
    (it has been made again elsewhere since) must not leave its waiting
    future without a fetch: the origin asks the current holder."""
    o = sm.Origin(ROOT, [1, 2, 3], max_retries=2, serves=False)
    o.handle(sm.Submit(1, ADD, [1], {"big": True}))
    assert o.handle(sm.Finished(1, True, None, source=2, nbytes=BIG)) == [sm.Kept(1, 2)]
    assert o.handle(sm.Wanted(1)) == [sm.Fetch(1, 2)]
    o.handle(sm.Fetched(1, False, None, holder=2))  # 2 does not have it: made again
    pending = o.table.pending[1].where
    assert o.handle(sm.Finished(1, True, None, source=pending, nbytes=BIG)) == [sm.Kept(1, pending)]
    assert o.handle(sm.Fetched(1, False, None, holder=2)) == [sm.Fetch(1, pending)]  # stale
    assert o.handle(sm.Fetched(1, True, 1, holder=pending)) == [sm.Resolve(1, 1)]


def test_a_lost_worker_s_results_made_again_in_any_order() -> None:
    """A worker held a kept result and, recorded before it, a result made
    from it. Making the dependent again needs the input's lineage, which
    must be there whichever of the two the loss handles first."""
    o = sm.Origin(ROOT, [1, 2, 3], max_retries=2, serves=False)
    o.handle(sm.Submit(1, ADD, [1], {"big": True}))
    o.handle(sm.Submit(2, ADD, [5, None], {"big": True}, inputs=(((1,), 1),)))
    o.handle(sm.Finished(1, True, None, source=2, nbytes=BIG))
    assert o.handle(sm.Finished(2, True, None, source=2, nbytes=BIG)) == [sm.Kept(2, 2)]
    o.handle(sm.Wanted(1))
    o.handle(sm.Fetched(1, False, None, holder=2))  # 2 does not have it: made again
    o.handle(sm.Finished(1, True, None, source=2, nbytes=BIG))  # recorded after 2 now
    assert list(o.graph.kept) == [2, 1]
    out = o.handle(sm.WorkerLost(2))
    assert not [i for i in out if isinstance(i, sm.Fail)], out
    assert 1 in o.table.pending  # made again
    assert 2 in o.graph.recipes  # and 2 waits for it
    (place,) = [i for i in out if isinstance(i, sm.Place)]
    ready = o.handle(sm.Finished(1, True, None, source=place.where, nbytes=BIG))
    spec = [2, ADD, [5, None], {"big": True}, [[[1], place.where, 1]]]
    assert ready == [sm.Kept(1, place.where), sm.Place(spec, place.where)]


def test_a_worker_an_input_could_not_be_fetched_from_gets_nothing_new() -> None:
    """A dependent could not fetch its input from worker 2 (gone, but the
    news has not come): the input is made again elsewhere, not on 2, so
    that 2's loss does not cost it a second attempt; a result from 2
    shows it alive again."""
    o = sm.Origin(ROOT, [1, 2, 3], max_retries=1, serves=False)
    o.handle(sm.Submit(1, ADD, [1], {"big": True}))
    o.handle(sm.Submit(2, ADD, [5, None], {"big": False}, inputs=(((1,), 1),)))
    o.handle(sm.Finished(1, True, None, source=2, nbytes=BIG))  # 2 is placed on 2
    o.handle(sm.Moved((2,), 3, 2))  # and stolen by 3, which cannot fetch 1 from 2
    out = o.handle(sm.InputLost(2, 1))
    (place,) = [i for i in out if isinstance(i, sm.Place)]
    assert place.where != 2
    assert o.handle(sm.WorkerLost(2)) == []  # nothing of it was there: no attempt lost
    assert o.table.pending[1].attempts == 2  # the one run again for the loss
    o.handle(sm.Submit(3, ADD, [0], {"big": False}))
    o.handle(sm.Submit(4, ADD, [0], {"big": False}))
    assert {o.table.pending[t].where for t in (3, 4)} <= {1, 3}
    # a result from a suspected worker shows it alive: it gets tasks again
    o.suspect.add(1)
    o.handle(sm.Finished(1, True, None, source=1, nbytes=BIG))
    assert 1 not in o.suspect
