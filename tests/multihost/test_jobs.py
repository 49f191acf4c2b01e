"""Jobs across namespace hosts, through the real ssh client."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROGRAMS, ROOT, job_env

JOB = PROGRAMS / "multihost_job.py"


def command(hosts, hostfile: Path, program: Path, *args: str, extra=()) -> list[str]:
    """``zmqmesh launch --hosts FILE --ssh CMD [extra] program args``."""
    return [
        sys.executable, "-m", "zmqmesh", "launch", "--hosts", str(hostfile),
        "--ssh", hosts.ssh_cmd, *extra, str(program), *args,
    ]  # fmt: skip


def launch(
    hosts, hostfile: Path, *args: str, timeout: float = 120, extra=()
) -> subprocess.CompletedProcess[str]:
    cmd = command(hosts, hostfile, JOB, *args, extra=("--timeout", str(timeout - 10), *extra))
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=job_env(), cwd=ROOT
    )


def start(cmd: list[str]) -> subprocess.Popen[str]:
    """A job in the background, its output merged on a pipe."""
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=job_env(), cwd=ROOT, start_new_session=True,
    )  # fmt: skip


def wait_ready(proc: subprocess.Popen[str], n: int) -> None:
    """Read the job's output until ``n`` ranks printed ``ready`` (the test's
    timeout bounds the wait; a job that ends first fails the test)."""
    assert proc.stdout is not None
    ready = 0
    while ready < n:
        line = proc.stdout.readline()
        assert line, "the job ended before all ranks were ready"
        ready += line.rstrip().endswith("ready")


def hostfile(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hosts.txt"
    path.write_text(text)
    return path


@pytest.mark.timeout(180)
def test_collectives_across_hosts_with_curve(hosts, tmp_path) -> None:
    a, b = hosts.names[:2]
    hf = hostfile(
        tmp_path, f"# head and two namespace hosts\nlocalhost slots=1\n{a} slots=2\n{b}\n"
    )
    res = launch(hosts, hf, "--intrude")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    assert res.stdout.count("ok hosts=") == 4
    assert f"ok hosts=@launcher,{a},{a},{b}" in res.stdout
    assert "AuthenticationError" in out  # the intruder was refused and logged
    for h in (a, b):
        assert hosts.wait_idle(h) == {}


@pytest.mark.timeout(180)
def test_insecure_mode_runs_too(hosts, tmp_path) -> None:
    a, b = hosts.names[:2]
    hf = hostfile(tmp_path, f"{a}\n{b} slots=2\n")
    res = launch(hosts, hf, extra=("--insecure",))
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    assert res.stdout.count("ok hosts=") == 3


@pytest.mark.timeout(120)
def test_killing_the_launcher_leaves_no_remote_rank(hosts, tmp_path) -> None:
    a = hosts.names[0]
    hf = hostfile(tmp_path, f"{a} slots=2\n")
    cmd = command(hosts, hf, JOB, "--sleep")
    proc = start(cmd)
    try:
        wait_ready(proc, 2)
        assert any("multihost_job" in c for c in hosts.procs(a).values())
        os.kill(proc.pid, signal.SIGKILL)  # the launcher alone: its ssh clients live on
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
    # The launcher's ssh clients notice their stdin's writer is gone and close
    # the session; the remote side then stops its rank's process group.
    left = hosts.wait_idle(a, timeout=10)
    assert not any("multihost_job" in c for c in left.values()), left


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "no hosts"),
        ("zmh-nowhere-x\n", "cannot reach zmh-nowhere-x"),
        ("{a} slots=zero\n", "slots"),
        ("{a} slots=2 extra\n", "hosts.txt:1"),
    ],
)
def test_bad_hostfiles_exit_2_with_one_line(hosts, tmp_path, text: str, words: str) -> None:
    hf = hostfile(tmp_path, text.format(a=hosts.names[0]))
    res = launch(hosts, hf, timeout=50)
    assert res.returncode == 2, res.stdout + res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("zmqmesh: error: ")
    assert words in lines[0], lines[0]
    assert "Traceback" not in res.stderr


@pytest.mark.timeout(150)
def test_cut_link_turns_into_rank_failed_error(hosts, tmp_path) -> None:
    a, b = hosts.names[:2]
    hf = hostfile(tmp_path, f"localhost\n{a}\n{b}\n")
    cmd = command(hosts, hf, JOB, "--survive", extra=("--timeout", "90", "--grace", "5"))
    proc = start(cmd)
    caught: list[str] = []
    try:
        wait_ready(proc, 3)
        assert proc.stdout is not None
        hosts.cut(b)
        lost = ""
        while len(caught) < 2 or not lost:  # the head's rank and a's rank; the launcher
            line = proc.stdout.readline()
            assert line, f"the job ended before the failure was seen: {caught} {lost!r}"
            if "caught RankFailedError" in line and not line.startswith("[2]"):
                caught.append(line.strip())
            if line.startswith(f"zmqmesh: rank 2 on {b} "):
                lost = line.strip()  # ssh's keepalives noticed, with the link still cut
    finally:
        hosts.restore(b)
        try:
            proc.wait(timeout=100)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            assert proc.stdout is not None
            proc.stdout.close()
    assert all("rank=2" in c for c in caught), caught
    assert all("unreachable" in c or "killed" in c or "exited" in c for c in caught), caught
    assert "ssh failed (connection lost or refused)" in lost, lost
    assert proc.returncode == 255, proc.returncode


@pytest.mark.timeout(120)
def test_a_remote_rank_failure_names_rank_and_host(hosts, tmp_path) -> None:
    a = hosts.names[0]
    prog = tmp_path / "fail.py"
    prog.write_text(
        "import sys, zmqmesh\n"
        "async def main(comm):\n"
        "    await comm.barrier()\n"
        "    if comm.rank == 1:\n"
        "        sys.exit(3)\n"
        "    try:\n"
        "        await comm.recv(1)\n"
        "    except zmqmesh.RankFailedError as exc:\n"
        "        print('survivor saw', exc.rank, flush=True)\n"
        "zmqmesh.run(main)\n"
    )
    hf = hostfile(tmp_path, f"localhost\n{a}\n")
    cmd = command(hosts, hf, prog, extra=("--timeout", "90"))
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=100, env=job_env(), cwd=ROOT)
    assert res.returncode == 3, res.stdout + res.stderr
    assert f"zmqmesh: rank 1 on {a} (ssh pid" in res.stderr
    assert "exited with code 3" in res.stderr
    assert "[0] survivor saw 1" in res.stdout


@pytest.mark.timeout(120)
def test_remote_interpreter_and_working_directory_can_be_chosen(hosts, tmp_path) -> None:
    a = hosts.names[0]
    prog = tmp_path / "where.py"
    prog.write_text(
        "import os, sys, zmqmesh\n"
        "async def main(comm):\n"
        "    print('cwd', os.getcwd(), 'python', sys.executable, flush=True)\n"
        "zmqmesh.run(main)\n"
    )
    hf = hostfile(tmp_path, f"{a}\n")
    cmd = command(
        hosts,
        hf,
        prog,
        extra=("--wdir", str(tmp_path), "--remote-python", sys.executable, "--timeout", "60"),
    )
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=80, env=job_env(), cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"[0] cwd {tmp_path} python {sys.executable}" in res.stdout


@pytest.mark.timeout(180)
def test_spawn_places_children_on_the_job_s_hosts_through_the_launcher(hosts, tmp_path) -> None:
    a = hosts.names[0]
    hf = hostfile(tmp_path, f"localhost slots=1\n{a} slots=1\n")
    program = PROGRAMS / "spawn_hosts.py"
    cmd = command(hosts, hf, program, "4", a, extra=("--mpi4py", "--timeout", "150"))
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=170, env=job_env(), cwd=ROOT)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    placed = [line.split()[2:] for line in res.stdout.splitlines() if " placed " in line]
    assert len(placed) == 2, out[-4000:]
    head_ns = os.readlink("/proc/self/ns/net")
    a_ns = hosts.run(a, ["readlink", "/proc/self/ns/net"], check=True).stdout.strip()
    # the launcher's choice: the job's hosts in turn, after its two ranks
    assert placed[0] == [f"@launcher={head_ns}", f"{a}={a_ns}"] * 2, placed[0]
    assert placed[1] == [f"{a}={a_ns}"] * 4, placed[1]  # the ``host`` info key
    assert hosts.wait_idle(a) == {}


@pytest.mark.timeout(180)
def test_spawn_on_a_host_the_job_does_not_have_raises_err_spawn(hosts, tmp_path) -> None:
    a = hosts.names[0]
    hf = hostfile(tmp_path, f"localhost slots=1\n{a} slots=1\n")
    program = PROGRAMS / "spawn_hosts.py"
    cmd = command(hosts, hf, program, "2", "-", extra=("--mpi4py", "--timeout", "150"))
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=170, env=job_env(), cwd=ROOT)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    refused = [line for line in res.stdout.splitlines() if " refused " in line]
    assert len(refused) == 2, out[-4000:]
    assert all("'nowhere.invalid' is not one of the job's hosts" in line for line in refused)
