"""Control notices (collective aborts and checks) that reach a rank before
it has created their communicator are kept and handled when it does."""

from __future__ import annotations

from zmqmesh.matching import ANY_SOURCE, ANY_TAG, Selector
from zmqmesh.runtime.channel import CollState
from zmqmesh.runtime.engine import Engine
from zmqmesh.wire import Envelope, Kind, encode


def _abort(ctx: int, source: int, ident: int = 0) -> list[bytes]:
    frames = encode(Envelope(Kind.CTRL, ctx, source, 1), ("abort", "root differs", ident))
    return [bytes(f) for f in frames]


def test_early_abort_is_replayed_when_the_communicator_appears() -> None:
    engine = Engine(0, 2, allow_pickle=False)
    engine.deliver(_abort(3, 1), sender=1)  # slot 1's collective context
    state = CollState(engine, 3, 0, (0, 1))
    engine.claim_slot(1, (0, 1), state)
    assert state.broken is not None
    assert "root differs" in state.broken


def test_notices_of_a_released_slot_are_forgotten() -> None:
    engine = Engine(0, 2, allow_pickle=False)
    engine.deliver(_abort(5, 1), sender=1)
    engine.release_slot(2)
    state = CollState(engine, 5, 0, (0, 1))
    engine.claim_slot(2, (0, 1), state)
    assert state.broken is None


def test_other_contexts_are_untouched() -> None:
    engine = Engine(0, 2, allow_pickle=False)
    engine.deliver(_abort(7, 1), sender=1)
    state = CollState(engine, 3, 0, (0, 1))
    engine.claim_slot(1, (0, 1), state)
    assert state.broken is None


def _p2p(ctx: int, source: int, tag: int, payload: object) -> list[bytes]:
    return [bytes(f) for f in encode(Envelope(Kind.P2P, ctx, source, tag), payload)]


def test_a_handler_takes_queued_then_arriving_messages_of_its_context() -> None:
    from zmqmesh.wire import decode

    engine = Engine(0, 2, allow_pickle=False)
    engine.ctx_ranks[4] = engine.ctx_ranks[6] = (0, 1)
    engine.deliver(_p2p(4, 1, 1, "queued"), sender=1)
    engine.deliver(_p2p(6, 1, 1, "other context"), sender=1)
    got: list[object] = []
    engine.set_handler(4, lambda msg: got.append(decode(msg)[1]))
    engine.deliver(_p2p(4, 1, 2, "arriving"), sender=1)
    assert got == ["queued", "arriving"]
    assert engine.unexpected_bytes > 0  # the other context's message still waits
    engine.set_handler(4, None)
    engine.deliver(_p2p(4, 1, 3, "matched again"), sender=1)
    assert got == ["queued", "arriving"]
    assert engine.peek(Selector(4, ANY_SOURCE, ANY_TAG)) is not None


def test_a_notice_about_an_earlier_communicator_of_the_slot_is_ignored() -> None:
    # A check or abort can arrive after its communicator was dropped here,
    # and the slot taken by the next one: it names the one it is about.
    engine = Engine(0, 2, allow_pickle=False)
    engine.deliver(_abort(3, 1, ident=11), sender=1)
    state = CollState(engine, 3, 0, (0, 1), ident=12)
    engine.claim_slot(1, (0, 1), state)
    assert state.broken is None
    state.control(1, ("check", 1, 99, 11))
    assert not state.checks
    state.control(1, ("check", 1, 99, 12))
    assert state.checks == {1: (99, 1)}


def test_an_oversized_control_notice_is_dropped_unread() -> None:
    engine = Engine(0, 2, allow_pickle=False)
    big = encode(Envelope(Kind.CTRL, 9, 1, 1), ("abort", "x" * 100_000, 0))
    engine.deliver([bytes(f) for f in big], sender=1)
    state = CollState(engine, 9, 0, (0, 1))
    engine.claim_slot(4, (0, 1), state)
    assert state.broken is None
