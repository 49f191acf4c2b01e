"""How long a receive busy-polls before its rank sleeps: the rule and its
setting (``ZMQMESH_SPIN_US``)."""

from __future__ import annotations

import os

import pytest

from zmqmesh.errors import LaunchError
from zmqmesh.job.settings import JobSettings
from zmqmesh.runtime.bootstrap import SPIN_US, core_each, spin_budget

pytestmark = pytest.mark.timeout(30)

JOB = {"ZMQMESH_RANK": "0", "ZMQMESH_SIZE": "2", "ZMQMESH_RENDEZVOUS": "tcp://127.0.0.1:1"}


def test_ranks_spin_only_while_each_has_a_core() -> None:
    cores = len(os.sched_getaffinity(0))
    assert core_each(1)
    assert core_each(cores)
    assert not core_each(cores + 1)
    assert spin_budget(None, core_each(cores)) == SPIN_US / 1e6
    assert spin_budget(None, core_each(cores + 1)) == 0.0  # oversubscribed: ranks sleep


def test_the_setting_wins_either_way() -> None:
    assert spin_budget(0, True) == 0.0
    assert spin_budget(250, False) == 250e-6


def test_the_setting_is_read_from_the_environment() -> None:
    assert JobSettings.from_environ(JOB).spin_us is None
    assert JobSettings.from_environ({**JOB, "ZMQMESH_SPIN_US": "0"}).spin_us == 0
    assert JobSettings.from_environ({**JOB, "ZMQMESH_SPIN_US": "40"}).spin_us == 40


@pytest.mark.parametrize(
    ("value", "match"),
    [("-1", "between 0 and 100000"), ("100001", "between 0 and 100000"), ("soon", "integer")],
)
def test_bad_settings_name_the_variable(value: str, match: str) -> None:
    with pytest.raises(LaunchError, match=match) as err:
        JobSettings.from_environ({**JOB, "ZMQMESH_SPIN_US": value})
    assert "ZMQMESH_SPIN_US" in str(err.value)
