"""--map-by, -N/--npernode and --bind-to core across the namespace hosts,
in real jobs over ssh; each rank reports its network namespace and the CPUs
it may use (os.sched_getaffinity, read inside the rank)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from zmqmesh.launcher.placement import cores, sysfs_core

from .test_allocations import launch, ran_on, write

# The namespace hosts share this machine's CPUs; their sshd, and so the
# remote end of every rank, runs with the affinity of the test process.
CORES = cores(os.sched_getaffinity(0), sysfs_core)


@pytest.mark.timeout(180)
def test_map_by_node_goes_round_the_hosts(hosts, tmp_path: Path) -> None:
    a, b = hosts.names[:2]
    nodefile = write(tmp_path, "nodefile", f"{a}\n{a}\n{b}\n{b}\n")
    ran_on(hosts, launch(hosts, "--map-by", "node", env={"PBS_NODEFILE": nodefile}), [a, b, a, b])


@pytest.mark.timeout(180)
def test_npernode_runs_k_ranks_on_every_host(hosts, tmp_path: Path) -> None:
    a, b, c = hosts.names[:3]
    hf = write(tmp_path, "hosts", f"{a} slots=2\n{b} slots=2\n{c} slots=2\n")
    ran_on(hosts, launch(hosts, "--hosts", hf, "-N", "1"), [a, b, c])


@pytest.mark.timeout(180)
def test_npernode_inside_an_allocation(hosts, tmp_path: Path) -> None:
    a, b = hosts.names[:2]
    env = {"LSB_JOBID": "8", "LSB_MCPU_HOSTS": f"{a} 2 {b} 2"}
    ran_on(hosts, launch(hosts, "-N", "1", env=env), [a, b])


@pytest.mark.timeout(180)
def test_bind_to_core_on_remote_hosts(hosts, tmp_path: Path) -> None:
    a, b = hosts.names[:2]
    hf = write(tmp_path, "hosts", f"{a}:2\n{b}:2\n")
    share = ("--oversubscribe",) if len(CORES) < 2 else ()
    got = ran_on(hosts, launch(hosts, "--hosts", hf, "--bind-to", "core", *share), [a, a, b, b])
    expected = [list(CORES[i % len(CORES)]) for i in (0, 1, 0, 1)]
    assert [r["cpus"] for r in got] == expected
    # every thread of each rank has the one affinity of its core
    assert [len(r["threads"]) for r in got] == [1, 1, 1, 1]


@pytest.mark.timeout(120)
def test_bind_to_core_with_too_few_cores_on_a_remote_host_fails_the_job(
    hosts, tmp_path: Path
) -> None:
    if len(CORES) > 3:
        pytest.skip(f"{len(CORES)} cores: more than 4 ranks on one host would be needed")
    a = hosts.names[0]
    n = len(CORES) + 1
    hf = write(tmp_path, "hosts", f"{a} slots={n}\n")
    res = launch(hosts, "--hosts", hf, "--bind-to", "core", "--grace", "0", timeout=100)
    assert res.returncode != 0, res.stdout + res.stderr
    assert f"--bind-to core: {n} ranks on this host but {len(CORES)} cores" in res.stderr
    assert "where" not in res.stdout
    assert hosts.wait_idle(a) == {}
