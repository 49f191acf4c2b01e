"""Collectives over real processes and ipc sockets, through the launcher."""

from __future__ import annotations

import re

import pytest
from conftest import PROGRAMS, launch

CHECKS = ["reductions", "big_arrays", "objects", "communicators", "mismatch"]


@pytest.mark.timeout(150)
@pytest.mark.parametrize(
    ("n", "env"),
    [
        (1, ()),
        (2, ()),
        (3, ("-x", "ZMQMESH_ALLREDUCE=ring", "-x", "ZMQMESH_BCAST=scatter_allgather")),
        (4, ("-x", "ZMQMESH_ALLREDUCE=rabenseifner", "-x", "ZMQMESH_ALLTOALL=bruck")),
        (5, ()),
        (7, ("-x", "ZMQMESH_ALLREDUCE=recursive_doubling", "-x", "ZMQMESH_BCAST=binomial")),
    ],
)
def test_collectives(n: int, env: tuple[str, ...]) -> None:
    res = launch(n, PROGRAMS / "coll_conformance.py", timeout=140, launcher_args=env)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    for rank in range(n):
        assert re.findall(rf"^\[{rank}\] ok (\w+)$", res.stdout, re.M) == CHECKS, rank
        assert f"[{rank}] done" in res.stdout


@pytest.mark.timeout(60)
def test_mismatch_raised_even_if_abort_notice_is_lost() -> None:
    res = launch(3, PROGRAMS / "lost_abort.py", timeout=45)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    for rank in range(3):
        assert f"[{rank}] raised" in res.stdout
        assert f"[{rank}] done" in res.stdout


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", [2, 3, 5])
def test_every_rank_of_a_mismatched_call_raises(n: int) -> None:
    res = launch(n, PROGRAMS / "coll_mismatch.py", timeout=100)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    returned = [line for line in res.stdout.splitlines() if line.endswith("returned")]
    assert not returned, returned
    assert res.stdout.count(": raised") == 10 * n, res.stdout
    assert res.stdout.count("fresh communicators: ok") == n, res.stdout
