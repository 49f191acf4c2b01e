"""Control notices (collective aborts and checks) that reach a rank before
it has created their communicator are kept and handled when it does."""

from __future__ import annotations

from zmqmesh.runtime.collective import CollState
from zmqmesh.runtime.engine import Engine
from zmqmesh.wire import Envelope, Kind, encode


def _abort(ctx: int, source: int) -> list[bytes]:
    frames = encode(Envelope(Kind.CTRL, ctx, source, 1), ("abort", "root differs"))
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
