"""A real SLURM cluster for the tests of this directory; see cluster.py.

Every test collected here carries the ``slurm`` marker (``-m slurm`` /
``-m "not slurm"``). Where the cluster cannot run (Slurm or munge not
installed, not root, namespaces refused) the tests skip with the reason,
except with ``CI=true``, where they fail: CI must run them
(``tests/slurm/install.sh`` installs what they need).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cluster import Cluster, Unavailable, on_ci, start_cluster

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "slurm: runs jobs on a SLURM cluster of its own (needs root, slurmd, slurmctld, munge)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.slurm)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """Two compute nodes ``zmh1``, ``zmh2`` and a controller, each in a
    network namespace of its own; torn down at the end of the session."""
    try:
        ctx = start_cluster(2)
        c = ctx.__enter__()
    except Unavailable as exc:
        if on_ci():
            pytest.fail(f"slurm: cannot run a SLURM cluster on CI: {exc}", pytrace=False)
        pytest.skip(f"slurm: cannot run a SLURM cluster here: {exc}")
    try:
        yield c
    finally:
        ctx.__exit__(None, None, None)


@pytest.fixture
def job_env() -> dict[str, str]:
    """What a job's commands add to the cluster's environment: zmqmesh on
    ``PYTHONPATH`` and this interpreter's directory first on ``PATH``, as a
    user's activated virtual environment would."""
    bindir = str(Path(sys.executable).parent)
    return {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "PATH": os.pathsep.join([bindir, os.environ.get("PATH", "")]),
    }
