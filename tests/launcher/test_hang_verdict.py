"""The launcher's deadlock verdict (launcher/hang.py), pure."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from zmqmesh.launcher.hang import dump, verdict


def rep(waits: list[list[Any]], sent: list[int], arrived: list[int], blocked: bool = True) -> dict:
    return {"blocked": blocked, "waits": waits, "sent": sent, "arrived": arrived}


CYCLE = {
    0: rep([["recv(source=1, tag=5)", 1, 3.0, "a.py:9 in main"]], [0, 2], [0, 2]),
    1: rep([["recv(source=0, tag=5)", 0, 3.0, "a.py:14 in main"]], [2, 0], [2, 0]),
}


def test_a_cycle_is_named_hop_by_hop() -> None:
    lines = verdict(CYCLE, [0, 1], 2.0)
    assert lines is not None
    assert "deadlock" in lines[0]
    assert lines[-1] == (
        "zmqmesh: deadlock cycle: rank 0 recv(source=1, tag=5) at a.py:9 in main -> "
        "rank 1 recv(source=0, tag=5) at a.py:14 in main -> rank 0"
    )


def test_no_deadlock_while_anything_could_still_move() -> None:
    assert verdict(CYCLE, [0, 1], 5.0) is None  # not waited long enough
    assert verdict({0: CYCLE[0]}, [0, 1], 2.0) is None  # rank 1 did not answer: computing
    busy = {**CYCLE, 1: {**CYCLE[1], "blocked": False}}  # a task of rank 1 can run
    assert verdict(busy, [0, 1], 2.0) is None
    in_flight = {**CYCLE, 1: {**CYCLE[1], "arrived": [1, 0]}}  # 0 sent 2, 1 got 1
    assert verdict(in_flight, [0, 1], 2.0) is None
    nothing = {**CYCLE, 1: rep([], [2, 0], [2, 0])}
    assert verdict(nothing, [0, 1], 2.0) is None
    assert verdict({}, [], 1.0) is None


def test_two_ranks_stuck_while_a_third_computes() -> None:
    three = {**CYCLE, 0: {**CYCLE[0], "sent": [0, 2, 0]}, 1: {**CYCLE[1], "sent": [2, 0, 0]}}
    lines = verdict(three, [0, 1, 2], 2.0)  # rank 2 does not answer: it computes
    assert lines is not None
    assert lines[0].startswith("zmqmesh: deadlock: ranks 0, 1 waited")
    # a wait on rank 2, which may still send, is not stuck
    on2 = {**three, 1: rep([["recv(source=2, tag=0)", 2, 3.0, ""]], [2, 0, 0], [2, 0, 0])}
    assert verdict(on2, [0, 1, 2], 2.0) is None
    # nor a wait on any source while rank 2 is free
    anyw = {**three, 1: rep([["recv(source=ANY, tag=0)", -1, 3.0, ""]], [2, 0, 0], [2, 0, 0])}
    assert verdict(anyw, [0, 1, 2], 2.0) is None


def test_a_gone_rank_does_not_count() -> None:
    three = {**CYCLE, 2: rep([["recv(source=0, tag=1)", 0, 9.0, ""]], [5, 5, 0], [0, 0, 0])}
    assert verdict(three, [0, 1], 2.0) is not None  # rank 2 is not live
    # live, rank 2 has messages on their way to ranks 0 and 1: no verdict yet
    assert verdict(three, [0, 1, 2], 2.0) is None


def test_any_source_waits_on_everyone() -> None:
    anyw = {
        r: rep([["recv(source=ANY, tag=ANY)", -1, 3.0, ""]], [0, 0, 0], [0, 0, 0]) for r in range(3)
    }
    lines = verdict(anyw, [0, 1, 2], 1.0)
    assert lines is not None
    assert "cycle" in lines[-1]


def test_the_dump_says_who_waits_and_who_computes() -> None:
    lines = dump({0: {**CYCLE[0], "stacks": ["Task-1:\n  File a.py\n"]}}, [0, 1])
    assert lines[0] == "zmqmesh: what each rank waits in:"
    assert "zmqmesh: rank 0 recv(source=1, tag=5) at a.py:9 in main (for 3.0 s)" in lines
    assert "zmqmesh:   Task-1:" in lines
    assert any(ln.startswith("zmqmesh: rank 1: no answer") for ln in lines)


reports = st.dictionaries(
    st.integers(0, 4),
    st.fixed_dictionaries(
        {
            "blocked": st.booleans() | st.integers(),
            "waits": st.lists(
                st.lists(
                    st.one_of(st.text(max_size=5), st.integers(-2, 5), st.floats()), max_size=5
                )
                | st.text(max_size=3),
                max_size=3,
            ),
            "sent": st.lists(st.integers(0, 3) | st.text(max_size=1), max_size=6),
            "arrived": st.lists(st.integers(0, 3), max_size=6),
        }
    ),
)


@given(reports, st.sets(st.integers(0, 4)), st.floats(0, 10))
def test_any_answers_give_lines_or_none(answers: dict, live: set[int], after: float) -> None:
    got = verdict(answers, live, after)
    assert got is None or all(isinstance(x, str) for x in got)
    assert all(isinstance(x, str) for x in dump(answers, live))
