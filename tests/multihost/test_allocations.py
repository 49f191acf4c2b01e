"""``zmqmesh launch`` inside PBS, LSF, Grid Engine and Flux allocations, and
hostfiles in every syntax, with real jobs on the namespace hosts over ssh.

Each resource manager's files and variables are reproduced as its batch
script sees them (the hosts named in them are the namespace hosts; Flux's
``flux resource R`` is a script printing the resource set). The launcher
gets no --hosts: it finds the allocation. Each rank reports its network
namespace, so the test checks where every rank ran.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, job_env

PROG = ROOT / "tests" / "launcher" / "where_prog.py"


def launch(
    hosts, *words: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable, "-m", "zmqmesh", "launch", "--ssh", hosts.ssh_cmd,
        "--timeout", str(timeout - 10), *words, str(PROG),
    ]  # fmt: skip
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=job_env(**(env or {})), cwd=ROOT
    )


def netns(hosts, name: str) -> str:
    if name == "head":
        return os.readlink("/proc/self/ns/net")
    return str(hosts.run(name, "readlink /proc/self/ns/net", check=True).stdout.strip())


def records(res: subprocess.CompletedProcess[str], size: int) -> list[dict[str, object]]:
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    m = re.search(r"^\[0\] where (.*)$", res.stdout, re.M)
    assert m, out[-4000:]
    got: list[dict[str, object]] = json.loads(m.group(1))
    assert [r["rank"] for r in got] == list(range(size))
    assert {r["size"] for r in got} == {size}
    return got


def ran_on(
    hosts, res: subprocess.CompletedProcess[str], expected: list[str]
) -> list[dict[str, object]]:
    """Check that rank r ran on host ``expected[r]`` ("head": this machine)."""
    got = records(res, len(expected))
    spaces = {name: netns(hosts, name) for name in set(expected)}
    assert [r["netns"] for r in got] == [spaces[name] for name in expected]
    for name in set(expected) - {"head"}:
        assert hosts.wait_idle(name) == {}
    return got


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def fake_flux(tmp_path: Path, nodelist: list[str], cores: str) -> str:
    """A directory with a ``flux`` that prints a resource set (RFC 20) of
    ``nodelist`` with ``cores`` on each broker rank."""
    bindir = tmp_path / "flux-bin"
    bindir.mkdir()
    r = {
        "version": 1,
        "execution": {
            "R_lite": [{"rank": f"0-{len(nodelist) - 1}", "children": {"core": cores}}],
            "starttime": 0.0,
            "expiration": 0.0,
            "nodelist": nodelist,
        },
    }
    script = bindir / "flux"
    script.write_text(
        "#!/bin/sh\n"
        '[ "$1 $2" = "resource R" ] || { echo "flux: unexpected $*" >&2; exit 1; }\n'
        f"echo '{json.dumps(r)}'\n"
    )
    script.chmod(0o755)
    return f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"


@pytest.mark.timeout(180)
@pytest.mark.parametrize("who", ["pbs", "lsf-hostfile", "lsf-mcpu", "sge", "flux"])
def test_launch_inside_an_allocation_uses_it(hosts, tmp_path: Path, who: str) -> None:
    a, b = hosts.names[:2]
    if who == "pbs":
        env = {
            "PBS_JOBID": "17.pbs",
            "PBS_NODEFILE": write(tmp_path, "17.pbs", f"{a}\n{a}\n{b}\n{b}\n"),
        }
    elif who == "lsf-hostfile":
        # LSF's first host is the one the batch script runs on: here, this machine
        text = f"localhost\n{a}\n{a}\n{b}\n"
        env = {"LSB_JOBID": "21", "LSB_DJOB_HOSTFILE": write(tmp_path, "21.hostfile", text)}
    elif who == "lsf-mcpu":
        env = {"LSB_JOBID": "21", "LSB_MCPU_HOSTS": f"{a} 2 {b} 2"}
    elif who == "sge":
        text = f"{a} 2 all.q@{a} UNDEFINED\n{b} 2 all.q@{b} UNDEFINED\n"
        env = {"JOB_ID": "33", "PE_HOSTFILE": write(tmp_path, "pe_hostfile", text)}
    else:
        path = fake_flux(tmp_path, [f"{a}", f"{b}"], "0-1")
        env = {"FLUX_JOB_ID": "fA1b2", "FLUX_URI": "local:///tmp/flux-none/local-0", "PATH": path}
    res = launch(hosts, env=env)
    where = ["head", a, a, b] if who == "lsf-hostfile" else [a, a, b, b]
    ran_on(hosts, res, where)


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("syntax", "text", "words"),
    [
        ("pbs", "{a}\n{b}\n{a}\n{b}\n", ()),
        ("mpich", "{a}:2\n{b}:2\n", ()),
        (
            "open-mpi",
            "{a} slots=1 max_slots=2\n{b} slots=1 max_slots=2\n",
            ("-n", "4", "--oversubscribe"),
        ),
        ("grid-engine", "{a} 2 all.q@{a} UNDEFINED\n{b} 2 all.q@{b} UNDEFINED\n", ()),
    ],
)
def test_hosts_takes_every_syntax(hosts, tmp_path: Path, syntax: str, text: str, words) -> None:
    a, b = hosts.names[:2]
    hf = write(tmp_path, f"{syntax}.hosts", text.format(a=a, b=b))
    ran_on(hosts, launch(hosts, "--hosts", hf, *words), [a, a, b, b])


@pytest.mark.timeout(60)
def test_max_slots_stops_oversubscription(hosts, tmp_path: Path) -> None:
    a = hosts.names[0]
    hf = write(tmp_path, "hosts", f"{a} slots=1 max_slots=2\n")
    res = launch(hosts, "--hosts", hf, "-n", "3", "--oversubscribe", timeout=50)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "3 ranks do not fit even with --oversubscribe" in res.stderr
