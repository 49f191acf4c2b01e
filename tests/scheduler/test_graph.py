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


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_random_graphs_survive_random_losses(data: st.DataObject) -> None:
    """As the origin drives the graph: kept results on random workers,
    random worker losses; a lost result still needed is made again (a
    waiting dependent whose input is lost waits for it again, as
    ``regather`` does). Every dependent is placed with all its inputs
    present, none is lost, and the bookkeeping ends empty."""
    n = data.draw(st.integers(1, 20))
    inputs = {
        t: sorted(data.draw(st.sets(st.integers(0, t - 1), max_size=3))) if t else []
        for t in range(n)
    }
    g = Graph()
    running: set[int] = set()  # placed, not finished
    done: set[int] = set()
    placed_with: dict[int, list[int]] = {}

    def place(t: int) -> None:
        spec, _, gone = g.spec(t) if t in g.recipes else ([], -1, [])
        if gone:  # an input was lost after it finished: wait for it again
            for d in gone:
                g.wait_again(t, d)
                if d in done:
                    done.discard(d)
                    running.add(d)  # made again
            return
        placed_with[t] = [inp[2] for inp in spec[4]] if spec else []
        running.add(t)

    for t in range(n):
        if inputs[t]:
            r = Recipe(
                "f", [None] * len(inputs[t]), {}, [((i,), d) for i, d in enumerate(inputs[t])]
            )
            if g.add(t, r, {d for d in inputs[t] if d not in done}):
                place(t)
        else:
            place(t)
    losses = 0
    while running:
        if losses < 3 and g.kept and data.draw(st.booleans()):  # a worker is lost
            losses += 1
            for d in g.lost(
                data.draw(st.sampled_from(sorted({k.holder for k in g.kept.values()})))
            ):
                if d in g.need:
                    done.discard(d)
                    running.add(d)  # still needed: made again
        t = data.draw(st.sampled_from(sorted(running)))
        running.discard(t)
        if t in placed_with and any(d not in g.kept and d not in g.values for d in placed_with[t]):
            running.add(t)  # its input went with a lost worker: it runs again later
            for d in placed_with[t]:
                if d not in g.kept and d not in g.values and d not in running:
                    running.add(d)
            continue
        done.add(t)
        g.done(t)
        for d in g.kept_at(t, Kept(data.draw(st.integers(1, 3)), 1, [])):
            place(d)
    assert done == set(range(n))
    assert not g.need
    assert not g.recipes
    assert not g.waiters
