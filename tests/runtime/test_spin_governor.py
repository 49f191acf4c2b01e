"""The spin governor (runtime/spin.py): spin while spins find input, probe
now and then when they do not."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zmqmesh.runtime.spin import KEEP, PROBE_EVERY, SpinGovernor

pytestmark = pytest.mark.timeout(60)
LIMIT = 100e-6


def test_spins_at_first_and_while_spins_find_input() -> None:
    g = SpinGovernor()
    for _ in range(1000):
        assert g.budget(LIMIT) == LIMIT
        g.spun(True)


def test_spins_that_find_nothing_stop_spinning_then_probes_come_every_so_often() -> None:
    g = SpinGovernor()
    spins = 0
    while g.budget(LIMIT):
        g.spun(False)
        spins += 1
    assert 1 <= spins <= 10  # the rate fell below KEEP after a few empty spins
    budgets = [g.budget(LIMIT) for _ in range(3 * PROBE_EVERY)]
    assert budgets.count(LIMIT) == 3  # one probe in PROBE_EVERY waits
    assert set(budgets) == {0.0, LIMIT}


def test_probes_that_find_input_bring_spinning_back() -> None:
    g = SpinGovernor()
    while g.budget(LIMIT):
        g.spun(False)
    probes = 0
    while g.rate < KEEP:
        if g.budget(LIMIT):
            g.spun(True)
            probes += 1
    assert probes <= 10
    assert g.budget(LIMIT) == LIMIT


def test_no_budget_never_spins() -> None:
    g = SpinGovernor()
    assert g.budget(0.0) == 0.0
    g.rate = 0.0
    assert all(g.budget(0.0) == 0.0 for _ in range(3 * PROBE_EVERY))


@given(st.lists(st.booleans(), max_size=300))
def test_the_rate_stays_a_share_and_a_wait_spins_all_or_nothing(outcomes: list[bool]) -> None:
    g = SpinGovernor()
    for found in outcomes:
        budget = g.budget(LIMIT)
        assert budget in (0.0, LIMIT)
        if budget:
            g.spun(found)
        assert 0.0 <= g.rate <= 1.0
