"""Fixtures for multi-host tests: namespace hosts reached over real ssh.

See README.md in this directory. Every test collected under this directory
carries the ``multihost`` marker (``-m multihost`` / ``-m "not multihost"``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from . import netns

HERE = Path(__file__).resolve().parent
N_HOSTS = 3


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "multihost: runs on network-namespace hosts over ssh (needs root, iproute2, sshd)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # This hook sees the whole session's items: mark only this directory's.
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.multihost)


def on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def start_or_skip(n: int) -> netns.Hosts:
    """``netns.start_hosts(n)``; a machine that cannot build hosts skips the
    test, except on CI (``CI=true``), which must run these tests: it fails."""
    try:
        return netns.start_hosts(n)
    except netns.Unsupported as exc:
        reason = str(exc)
    if on_ci():
        pytest.fail(f"multihost: cannot build namespace hosts on CI: {reason}", pytrace=False)
    pytest.skip(f"multihost: cannot build namespace hosts here: {reason}")


@pytest.fixture(scope="session")
def hosts() -> Iterator[netns.Hosts]:
    """Three hosts ``zmh1``..``zmh3``, each a network namespace with its own
    address and sshd; see :class:`tests.multihost.netns.Hosts`. Torn down at
    the end of the session, also after failures."""
    h = start_or_skip(N_HOSTS)
    try:
        yield h
    finally:
        h.close()


@pytest.fixture
def make_hosts() -> Iterator[Callable[[int], netns.Hosts]]:
    """A factory of further, separate host sets (``make_hosts(n)``), for
    tests of set-up and teardown; whatever it made is closed after the test."""
    made: list[netns.Hosts] = []

    def make(n: int) -> netns.Hosts:
        h = start_or_skip(n)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()
