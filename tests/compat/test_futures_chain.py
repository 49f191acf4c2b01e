"""Futures made of futures (``mpi4py.futures.aplus``/``util``, in
``futures/chain.py``): ``then``/``catch``, ``collect`` and ``compose``,
in process, on ``concurrent.futures`` futures."""

from __future__ import annotations

from concurrent.futures import CancelledError, Future

import pytest

from zmqmesh.compat.mpi4py.futures import collect, compose
from zmqmesh.compat.mpi4py.futures.aplus import ThenableFuture

pytestmark = pytest.mark.timeout(30)


def _done(value: object = None, error: BaseException | None = None) -> ThenableFuture:
    f = ThenableFuture()
    if error is not None:
        f.set_exception(error)
    else:
        f.set_result(value)
    return f


def test_then_maps_a_result_and_keeps_the_class() -> None:
    base = ThenableFuture()
    new = base.then(lambda x: x + 1)
    assert isinstance(new, ThenableFuture)
    base.set_result(1)
    assert new.result() == 2
    assert _done(5).then().result() == 5  # no hook: the result itself


def test_a_failure_goes_to_on_failure_and_what_it_returns_decides() -> None:
    err = ValueError("x")
    assert _done(error=err).then(None, lambda e: str(e)).result() == "x"
    other = KeyError("k")
    assert _done(error=err).then(None, lambda e: other).exception() is other
    assert _done(error=err).then().exception() is err  # no hook: the failure itself

    def boom(_: object) -> None:
        raise RuntimeError("in the hook")

    assert str(_done(1).then(boom, lambda e: f"caught {e}").result()) == "caught in the hook"
    assert str(_done(error=err).then(None, boom).exception()) == "in the hook"


def test_a_returned_future_is_chained_and_a_cycle_fails() -> None:
    inner = ThenableFuture()
    new = _done(1).then(lambda _: inner)
    assert not new.done()
    inner.set_result("late")
    assert new.result() == "late"
    base = ThenableFuture()
    holder: list[Future[object]] = []
    looped = base.then(lambda _: holder[0])
    holder.append(looped)
    base.set_result(0)
    assert isinstance(looped.exception(), RuntimeError)
    assert "chained with itself" in str(looped.exception())


def test_catch_turns_a_failure_into_none_or_the_hook_s_value() -> None:
    assert _done(error=ValueError()).catch().result() is None
    assert _done(error=ValueError("v")).catch(lambda e: e.args[0]).result() == "v"
    assert _done(3).catch(lambda e: 0).result() == 3


def test_cancelling_either_side_cancels_the_new_future() -> None:
    base = ThenableFuture()
    new = base.then(lambda x: x)
    base.cancel()
    assert new.cancelled()
    base2 = ThenableFuture()
    new2 = base2.then(lambda x: x)
    new2.cancel()
    base2.set_result(1)
    assert new2.cancelled()


def test_collect_gives_results_in_order_and_fails_or_cancels_as_one() -> None:
    assert collect([]).result() == []
    a, b = ThenableFuture(), ThenableFuture()
    both = collect([a, b, a])
    b.set_result(2)
    assert not both.done()
    a.set_result(1)
    assert both.result() == [1, 2, 1]
    c, d = Future(), Future()
    failed = collect([c, d])
    c.set_exception(KeyError("c"))
    assert isinstance(failed.exception(), KeyError)
    e, f = Future(), Future()
    whole = collect([e, f])
    whole.cancel()
    assert e.cancelled()
    assert f.cancelled()
    with pytest.raises(CancelledError):
        whole.result()


def test_compose_applies_the_hooks_and_a_cancel_reaches_the_input() -> None:
    assert compose(_done(2), lambda x: x * 10).result() == 20
    assert compose(_done(error=ValueError("v")), None, lambda e: "handled").result() == "handled"
    err = KeyError("k")
    assert compose(_done(error=ValueError()), None, lambda e: err).exception() is err
    base: Future[object] = Future()
    out = compose(base)
    out.cancel()
    assert base.cancelled()
