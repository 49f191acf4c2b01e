"""Where the launcher puts the processes that ranks ask for (mpi4py's
``Spawn``): the pure choice of hosts in ``launcher/children.py``; the
processes themselves are tested on real jobs (``tests/compat/test_spawn.py``,
``tests/multihost/test_jobs.py``)."""

from __future__ import annotations

import io
import socket

import pytest

from zmqmesh.launcher.children import Children
from zmqmesh.launcher.jobspec import JobSpec
from zmqmesh.launcher.output import Sink

pytestmark = pytest.mark.timeout(30)


def _children(hosts: tuple[str | None, ...], srun: str | None = None) -> Children:
    spec = JobSpec(("prog.py",), size=len(hosts), hosts=hosts, srun=srun)
    sink = Sink(io.BytesIO())
    return Children(spec, [{} for _ in hosts], sink, sink)


def test_without_hosts_asked_children_go_round_the_job_s_hosts() -> None:
    assert _children((None, "a", "a", "b"))._hosts([]) == [None, "a", "a", "b"]


def test_an_asked_host_of_the_job_is_taken_and_this_host_by_its_names() -> None:
    kids = _children((None, "a"))
    assert kids._hosts(["a", "a"]) == ["a", "a"]
    for name in ("localhost", "127.0.0.1", socket.gethostname()):
        assert kids._hosts([name]) == [None]


def test_a_host_the_job_does_not_have_is_refused_naming_the_job_s() -> None:
    with pytest.raises(ValueError, match=r"'c' is not one of the job's hosts \(a, localhost\)"):
        _children((None, "a"))._hosts(["c"])
    with pytest.raises(ValueError, match="'localhost' is not one of the job's hosts"):
        _children(("a", "b"))._hosts(["localhost"])  # no rank runs here


def test_in_a_job_srun_started_children_stay_on_the_launcher_s_host() -> None:
    kids = _children((None, "n1", "n2"), srun="srun")
    assert kids._hosts([]) == [None]
    with pytest.raises(ValueError, match="'n1' is not one of the job's hosts"):
        kids._hosts(["n1"])
