"""The pure parts of task graphs: the origin's bookkeeping, argument paths,
the size that decides whether a result stays where it was made."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqmesh.errors import RemoteError
from zmqmesh.scheduler.graph import Graph, Kept, Recipe, put_at, without_futures
from zmqmesh.scheduler.policy import KEEP_ABOVE, kept_size


def test_put_at_copies_the_containers_on_the_way() -> None:
    inner = (1, [2, 3], {"k": 4})
    args, kwargs = [inner], {"x": {"y": [5]}}
    put_at(args, kwargs, (0, 1, 0), "a")
    put_at(args, kwargs, ("x", "y", 0), "b")
    assert args == [(1, ["a", 3], {"k": 4})]
    assert type(args[0]) is tuple
    assert kwargs == {"x": {"y": ["b"]}}
    assert inner == (1, [2, 3], {"k": 4})  # the caller's objects are untouched
    a, kw = without_futures((1, 2), {"k": 3}, [(1,), ("k",)])
    assert (a, kw) == ([1, None], {"k": None})


def test_kept_size() -> None:
    assert kept_size(1) == 0
    assert kept_size("x" * 10) == 0
    assert kept_size(np.zeros(KEEP_ABOVE // 8)) == KEEP_ABOVE
    assert kept_size(b"x" * KEEP_ABOVE) == KEEP_ABOVE
    assert kept_size(list(range(100_000))) >= KEEP_ABOVE  # stops early
    assert kept_size({"a": np.zeros(10)}) == 0


def test_a_dependent_waits_for_its_inputs_and_goes_to_the_most_bytes() -> None:
    g = Graph()
    assert not g.add(
        10,
        Recipe("f", [None, None, 7], {"k": None}, [((0,), 1), ((1,), 2), (("k",), 3)]),
        {1, 2, 3},
    )
    assert g.finished(1, True, 5) == ([], [])
    assert g.kept_at(2, Kept(holder=4, nbytes=1000, spec=[])) == []
    assert g.kept_at(3, Kept(holder=5, nbytes=10, spec=[])) == [10]
    spec, best, gone = g.spec(10)
    assert spec == [10, "f", [5, None, 7], {"k": None}, [[[1], 4, 2], [["k"], 5, 3]]]
    assert (best, gone) == (4, [])
    assert sorted(g.done(10)) == [1, 2, 3]
    assert not g.need
    assert not g.values
    assert not g.recipes
    assert not g.waiters


def test_a_failed_input_fails_its_dependents() -> None:
    g = Graph()
    g.add(10, Recipe("f", [None, None], {}, [((0,), 1), ((1,), 2)]), {1, 2})
    err = RemoteError("KeyError", "k")
    assert g.finished(1, False, err) == ([], [10])
    assert g.error_of(10) is err
    g.done(10)
    assert not g.waiters
    assert not g.need
    assert not g.recipes


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_random_graphs_place_every_task_once(data: st.DataObject) -> None:
    """Tasks 0..n-1, each with inputs among the earlier ones, finished in a
    random order that respects the inputs: every dependent is placed exactly
    once, after all its inputs, and the bookkeeping ends empty."""
    n = data.draw(st.integers(1, 25))
    inputs = {
        t: data.draw(st.sets(st.integers(0, t - 1), max_size=3)) if t else set() for t in range(n)
    }
    g = Graph()
    placed: list[int] = []
    finished: set[int] = set()
    for t in range(n):
        if inputs[t]:
            ins = sorted(inputs[t])
            r = Recipe("f", [None] * len(ins), {}, [((i,), d) for i, d in enumerate(ins)])
            if g.add(t, r, {d for d in ins if d not in finished}):
                placed.append(t)
        else:
            placed.append(t)
        # finish some of the placed, unfinished tasks
        while True:
            running = [p for p in placed if p not in finished]
            if not running or not data.draw(st.booleans()):
                break
            done = data.draw(st.sampled_from(running))
            finished.add(done)
            g.done(done)
            if data.draw(st.booleans()):
                ready, failed = g.finished(done, True, done)
            else:
                ready, failed = g.kept_at(done, Kept(1, 1, [])), []
            assert not failed
            placed.extend(ready)
    while running := [p for p in placed if p not in finished]:
        done = running[0]
        finished.add(done)
        g.done(done)
        placed.extend(g.finished(done, True, done)[0])
    assert sorted(placed) == list(range(n))  # each exactly once
    for t in placed:
        assert all(placed.index(d) < placed.index(t) for d in inputs[t])
    assert not g.need
    assert not g.values
    assert not g.recipes
    assert not g.waiters


def test_upstream_errors_and_actor_deaths_keep_their_story() -> None:
    import pickle

    from zmqmesh import ActorDiedError
    from zmqmesh.scheduler.tasks import as_remote_error

    err = RemoteError("KeyError", "'k'", "tb", 3, "f(1)")
    up = err.as_upstream()
    assert (up.type_name, up.message, up.traceback, up.rank, up.task) == (
        "KeyError",
        "'k'",
        "tb",
        3,
        "f(1)",
    )
    assert up.upstream
    assert not err.upstream
    assert "upstream" in str(up)
    back = pickle.loads(pickle.dumps(up))
    assert back.upstream
    assert str(back) == str(up)
    died = as_remote_error(["ActorDiedError", "gone", "", 2, "Counter.inc"])
    assert isinstance(died, ActorDiedError)
    assert isinstance(died, RemoteError)
    assert type(died.as_upstream()) is ActorDiedError
