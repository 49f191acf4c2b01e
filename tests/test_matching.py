"""Every matching rule, on the pure Matcher."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from zmqmesh.matching import ANY_SOURCE, ANY_TAG, Matcher, Selector


def make() -> Matcher[str, str]:
    return Matcher()


def test_unexpected_then_receive_exact():
    m = make()
    assert m.arrive(0, 1, 5, "a") == (None, [])
    assert m.post_recv(Selector(0, 1, 5), "r") == (1, 5, "a")
    assert m.unexpected_count == 0


def test_posted_then_arrival_goes_to_receive():
    m = make()
    assert m.post_recv(Selector(0, 1, 5), "r") is None
    assert m.arrive(0, 1, 5, "a") == ("r", [])
    assert m.unexpected_count == 0


def test_non_overtaking_same_source_same_tag():
    m = make()
    for i in range(200):
        m.arrive(0, 2, 7, f"m{i}")
    got = [m.post_recv(Selector(0, 2, 7), "r") for _ in range(200)]
    assert [g[2] for g in got if g] == [f"m{i}" for i in range(200)]


def test_any_source_takes_oldest_arrival():
    m = make()
    m.arrive(0, 3, 1, "from3")
    m.arrive(0, 1, 1, "from1")
    assert m.post_recv(Selector(0, ANY_SOURCE, 1), "r") == (3, 1, "from3")
    assert m.post_recv(Selector(0, ANY_SOURCE, 1), "r") == (1, 1, "from1")


def test_any_tag_takes_oldest_of_that_source():
    m = make()
    m.arrive(0, 1, 9, "t9")
    m.arrive(0, 2, 3, "other-source")
    m.arrive(0, 1, 4, "t4")
    assert m.post_recv(Selector(0, 1, ANY_TAG), "r") == (1, 9, "t9")
    assert m.post_recv(Selector(0, 1, ANY_TAG), "r") == (1, 4, "t4")


def test_tag_selection_out_of_arrival_order():
    m = make()
    m.arrive(0, 1, 1, "first")
    m.arrive(0, 1, 2, "second")
    assert m.post_recv(Selector(0, 1, 2), "r") == (1, 2, "second")
    assert m.post_recv(Selector(0, 1, 1), "r") == (1, 1, "first")


def test_posted_receives_are_satisfied_in_posting_order():
    m = make()
    assert m.post_recv(Selector(0, ANY_SOURCE, ANY_TAG), "wild") is None
    assert m.post_recv(Selector(0, 1, 1), "exact") is None
    assert m.arrive(0, 1, 1, "a") == ("wild", [])
    assert m.arrive(0, 1, 1, "b") == ("exact", [])


def test_receive_skips_non_matching_posted():
    m = make()
    m.post_recv(Selector(0, 2, 1), "for2")
    assert m.arrive(0, 1, 1, "from1") == (None, [])
    assert m.arrive(0, 2, 1, "from2") == ("for2", [])


def test_contexts_are_separate():
    m = make()
    m.arrive(1, 0, 0, "coll")
    assert m.post_recv(Selector(0, ANY_SOURCE, ANY_TAG), "p2p") is None
    assert m.arrive(0, 0, 0, "user") == ("p2p", [])
    assert m.take(Selector(1)) == (0, 0, "coll")


def test_cancel_recv():
    m = make()
    m.post_recv(Selector(0, 1, 1), "r")
    assert m.cancel_recv("r") is True
    assert m.cancel_recv("r") is False
    assert m.arrive(0, 1, 1, "a") == (None, [])


def test_peek_does_not_consume_and_matches_what_recv_takes():
    m = make()
    assert m.peek(Selector(0)) is None
    m.arrive(0, 4, 2, "x")
    m.arrive(0, 1, 2, "y")
    assert m.peek(Selector(0, ANY_SOURCE, 2)) == (4, 2, "x")
    assert m.peek(Selector(0, ANY_SOURCE, 2)) == (4, 2, "x")
    assert m.post_recv(Selector(0, ANY_SOURCE, 2), "r") == (4, 2, "x")


def test_blocking_probe_woken_without_consuming():
    m = make()
    assert m.post_probe(Selector(0, 1, ANY_TAG), "p") is None
    assert m.arrive(0, 2, 0, "other") == (None, [])
    assert m.arrive(0, 1, 3, "mine") == (None, ["p"])
    assert m.post_recv(Selector(0, 1, 3), "r") == (1, 3, "mine")


def test_probe_not_woken_when_a_receive_takes_the_message():
    m = make()
    m.post_probe(Selector(0), "p")
    m.post_recv(Selector(0), "r")
    assert m.arrive(0, 0, 0, "a") == ("r", [])
    assert m.cancel_probe("p") is True


def test_front_arrival_restores_order():
    m = make()
    m.arrive(0, 1, 1, "b")
    m.arrive(0, 1, 1, "a", front=True)
    assert m.post_recv(Selector(0, ANY_SOURCE, ANY_TAG), "r") == (1, 1, "a")
    assert m.post_recv(Selector(0, ANY_SOURCE, ANY_TAG), "r") == (1, 1, "b")


def test_front_arrival_still_feeds_posted_receive():
    m = make()
    m.post_recv(Selector(0, 1, 1), "r")
    assert m.arrive(0, 1, 1, "a", front=True) == ("r", [])


def test_waiters_lists_receives_and_probes():
    m = make()
    m.post_recv(Selector(0, 1, 1), "r")
    m.post_probe(Selector(0, 2, 2), "p")
    assert [t for _, t in m.waiters()] == ["r", "p"]


# -- a model check: the matcher against a brute-force reference -------------

events = st.lists(
    st.one_of(
        st.tuples(st.just("arrive"), st.integers(0, 1), st.integers(0, 2), st.integers(0, 2)),
        st.tuples(
            st.just("recv"),
            st.integers(0, 1),
            st.sampled_from([ANY_SOURCE, 0, 1, 2]),
            st.sampled_from([ANY_TAG, 0, 1, 2]),
        ),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(events)
def test_matches_reference_model(evs):
    m: Matcher[int, int] = Matcher()
    queue: list[tuple[int, int, int, int]] = []  # (ctx, source, tag, id) unexpected
    posted: list[tuple[Selector, int]] = []
    got_m: list[tuple[int, int]] = []
    got_ref: list[tuple[int, int]] = []
    for n, ev in enumerate(evs):
        if ev[0] == "arrive":
            _, ctx, src, tag = ev
            token, _ = m.arrive(ctx, src, tag, n)
            if token is not None:
                got_m.append((token, n))
            for i, (sel, tok) in enumerate(posted):
                if sel.matches(ctx, src, tag):
                    got_ref.append((tok, n))
                    del posted[i]
                    break
            else:
                queue.append((ctx, src, tag, n))
        else:
            _, ctx, src, tag = ev
            sel = Selector(ctx, src, tag)
            found = m.post_recv(sel, n)
            if found is not None:
                got_m.append((n, found[2]))
            for i, (c, s, t, ident) in enumerate(queue):
                if sel.matches(c, s, t):
                    got_ref.append((n, ident))
                    del queue[i]
                    break
            else:
                posted.append((sel, n))
    assert got_m == got_ref
    assert m.unexpected_count == len(queue)


def test_scan_lists_matching_unexpected_in_arrival_order():
    m = make()
    m.arrive(1, 2, 5, "a")
    m.arrive(1, 0, 5, "b")
    m.arrive(1, 0, 6, "c")
    m.arrive(0, 0, 5, "other-ctx")
    assert m.scan(Selector(1, ANY_SOURCE, 5)) == [(2, 5, "a"), (0, 5, "b")]
    assert m.unexpected_count == 4


def test_withdraw_all_of_one_context():
    m = make()
    m.post_recv(Selector(1, 0, 0), "r1")
    m.post_recv(Selector(0, 0, 0), "r0")
    m.post_probe(Selector(1), "p1")
    assert m.withdraw_all(1) == ["r1", "p1"]
    assert [t for _, t in m.waiters()] == ["r0"]
