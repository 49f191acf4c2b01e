"""zmqmesh programs started by MPICH's and Open MPI's own launchers, for real.

On one host the ranks find rank 0's rendezvous by themselves (Hydra's PMI
key-value space; a file in Open MPI's session directory); across
namespace hosts the user names it with ZMQMESH_RENDEZVOUS.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROG = ROOT / "tests" / "slurm" / "mesh_prog.py"

MPICH = "mpiexec.mpich"
OPEN_MPI = "mpirun.openmpi"
# Open MPI refuses root without these, and more ranks than cores without
# --oversubscribe (this machine may have 2 cores)
OMPI_OPTIONS = ("--allow-run-as-root", "--oversubscribe")


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def need(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        reason = f"{program} is not installed (tests/slurm/install.sh installs it)"
        if _on_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return path


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith(("ZMQMESH_", "SLURM_"))}
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    out.update(extra)
    return out


def results(out: str) -> dict[int, dict[str, object]]:
    """rank -> the program's ``result`` record (Hydra may run lines together)."""
    found = [json.loads(m) for m in re.findall(r"result (\{[^{}]*\})", out)]
    return {int(d["rank"]): d for d in found}


def check(res: subprocess.CompletedProcess[str], size: int) -> dict[int, dict[str, object]]:
    assert res.returncode == 0, res.stdout + res.stderr
    got = results(res.stdout)
    assert sorted(got) == list(range(size)), res.stdout + res.stderr
    assert {d["size"] for d in got.values()} == {size}
    assert {d["sum"] for d in got.values()} == {size * (size + 1) / 2}
    assert len({d["pid"] for d in got.values()}) == size
    return got


def run(cmd: list[str], timeout: float = 60, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env(**extra),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )


# -- one host: no rendezvous named ------------------------------------------------------------


@pytest.mark.timeout(90)
def test_mpich_mpiexec_forms_one_job_without_a_named_rendezvous() -> None:
    mpiexec = need(MPICH)
    check(run([mpiexec, "-n", "4", sys.executable, str(PROG)]), 4)


@pytest.mark.timeout(90)
def test_open_mpi_mpirun_forms_one_job_without_a_named_rendezvous(tmp_path: Path) -> None:
    mpirun = need(OPEN_MPI)
    res = run([mpirun, *OMPI_OPTIONS, "-n", "4", sys.executable, str(PROG)], TMPDIR=str(tmp_path))
    check(res, 4)
    # rank 0 removed the file it published (mpirun removes its session directory too)
    assert not [p for p in tmp_path.rglob("zmqmesh-rendezvous-*")]


@pytest.mark.timeout(120)
def test_two_mpiexec_jobs_at_once_do_not_mix(tmp_path: Path) -> None:
    mpiexec = need(MPICH)
    cmd = [mpiexec, "-n", "2", sys.executable, str(PROG)]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=env(), cwd=ROOT, stdin=subprocess.DEVNULL)
        for _ in range(2)
    ]  # fmt: skip
    try:
        outs = [p.communicate(timeout=100)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, out in zip(procs, outs, strict=True):
        assert p.returncode == 0, out
        assert sorted(results(out)) == [0, 1], out


@pytest.mark.timeout(90)
def test_one_rank_of_mpiexec_is_a_singleton() -> None:
    mpiexec = need(MPICH)
    got = check(run([mpiexec, "-n", "1", sys.executable, str(PROG)]), 1)
    assert got[0]["size"] == 1


# -- across namespace hosts: ZMQMESH_RENDEZVOUS ----------------------------------------------


@pytest.fixture(scope="module")
def two_hosts() -> Iterator[object]:
    from multihost import netns

    try:
        hosts = netns.start_hosts(2)
    except netns.Unsupported as exc:
        if _on_ci():
            pytest.fail(f"cannot build namespace hosts on CI: {exc}", pytrace=False)
        pytest.skip(f"cannot build namespace hosts here: {exc}")
    try:
        yield hosts
    finally:
        hosts.close()


def ssh_wrapper(hosts: object, tmp_path: Path) -> str:
    """A one-word remote shell for the MPI launchers (they take no
    arguments in their ssh command)."""
    path = tmp_path / "ssh"
    path.write_text(f'#!/bin/sh\nexec {hosts.ssh_cmd} "$@"\n')  # type: ignore[attr-defined]
    path.chmod(0o755)
    return str(path)


def netns_of(hosts: object, name: str) -> str:
    res = hosts.run(name, "readlink /proc/self/ns/net", check=True)  # type: ignore[attr-defined]
    return str(res.stdout.strip())


def check_across(hosts: object, res: subprocess.CompletedProcess[str]) -> None:
    got = check(res, 4)
    where = [netns_of(hosts, n) for n in ("zmh1", "zmh1", "zmh2", "zmh2")]
    assert [got[r]["netns"] for r in range(4)] == where
    assert where[0] != where[2]


@pytest.mark.timeout(120)
def test_mpich_mpiexec_across_hosts_with_a_named_rendezvous(two_hosts, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    mpiexec = need(MPICH)
    rendezvous = f"{two_hosts.ips['zmh1']}:29555"
    cmd = [
        mpiexec, "-launcher", "ssh", "-launcher-exec", ssh_wrapper(two_hosts, tmp_path),
        "-localhost", two_hosts.head_ip, "-hosts", "zmh1:2,zmh2:2", "-n", "4",
        "-genv", "ZMQMESH_RENDEZVOUS", rendezvous,
        "-genv", "PYTHONPATH", env()["PYTHONPATH"],
        sys.executable, str(PROG),
    ]  # fmt: skip
    check_across(two_hosts, run(cmd, timeout=100))


@pytest.mark.timeout(120)
def test_open_mpi_mpirun_across_hosts_with_a_named_rendezvous(two_hosts, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    mpirun = need(OPEN_MPI)
    subnet = str(two_hosts.subnet)
    cmd = [
        mpirun, *OMPI_OPTIONS, "--mca", "plm_rsh_agent", ssh_wrapper(two_hosts, tmp_path),
        "--mca", "oob_tcp_if_include", subnet, "--mca", "btl_tcp_if_include", subnet,
        "--host", "zmh1:2,zmh2:2", "-n", "4",
        "-x", f"ZMQMESH_RENDEZVOUS={two_hosts.ips['zmh1']}:29556", "-x", "PYTHONPATH",
        sys.executable, str(PROG),
    ]  # fmt: skip
    check_across(two_hosts, run(cmd, timeout=100))
