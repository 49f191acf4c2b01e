"""The launcher's command line, in process: where the program starts, what
the options become, and the environment each rank gets."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from zmqmesh.errors import LaunchError
from zmqmesh.job.settings import JobSettings
from zmqmesh.launcher.cli import job_spec, main, parse_args, split_program
from zmqmesh.launcher.jobspec import RESERVED_ENV, JobSpec, rank_environ, rank_settings
from zmqmesh.launcher.ssh import failure_timeout, ssh_command, ssh_keepalive

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["s.py"], ([], ["--", "s.py"], [])),
        (["-n", "4", "s.py", "-n", "2"], (["-n", "4"], ["--", "s.py"], ["-n", "2"])),
        (["-n4", "--np=4", "s.py", "-m", "x"], (["-n4", "--np=4"], ["--", "s.py"], ["-m", "x"])),
        (["-x", "A", "-xB=1", "--no-prefix", "s.py"], (["-x", "A", "-xB=1", "--no-prefix"],
                                                      ["--", "s.py"], [])),
        (["--timeout", "5", "--grace", "1", "-m", "p.m", "--timeout"],
         (["--timeout", "5", "--grace", "1"], ["-m", "p.m"], ["--timeout"])),
        (["-mp.m", "a"], ([], ["-m", "p.m"], ["a"])),
        (["--", "-odd.py", "--"], ([], ["--", "-odd.py"], ["--"])),
        (["--pickle", "-n", "2"], (["--pickle", "-n", "2"], [], [])),
        (["-m"], ([], ["-m"], [])),
    ],
)  # fmt: skip
def test_split_program_stops_at_the_program(
    words: list[str], expected: tuple[list[str], list[str], list[str]]
) -> None:
    assert split_program(words) == expected


def test_a_launch_command_line_becomes_a_job_spec(tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text("")
    ns = parse_args(
        ["launch", "-n", "3", "-x", "HOME", "-x", "A=1=2", "--timeout", "2.5", "--grace", "0",
         "--no-prefix", "--pickle", str(script), "--np", "9"]
    )  # fmt: skip
    spec = job_spec(ns, {"HOME": "/home/me"})
    assert spec == JobSpec(
        program=(str(script), "--np", "9"),
        size=3,
        env={"HOME": "/home/me", "A": "1=2"},
        timeout=2.5,
        grace=0.0,
        prefix=False,
        pickle=True,
    )


def test_module_mode_and_defaults() -> None:
    spec = job_spec(parse_args(["launch", "-m", "pkg.mod", "-n", "2"]), {})
    assert spec == JobSpec(program=("-m", "pkg.mod", "-n", "2"))
    assert (spec.size, spec.grace, spec.timeout, spec.prefix, spec.pickle) == (
        1,
        10.0,
        None,
        True,
        False,
    )


def test_forwarding_an_unset_variable_is_a_launch_error() -> None:
    with pytest.raises(LaunchError, match="NOPE is not set"):
        job_spec(parse_args(["launch", "-x", "NOPE", "-m", "m"]), {})


def test_main_reports_errors_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["launch", "-n", "0", "-m", "m"]) == 2
    assert main(["launch", "-x", "ZMQMESH_PICKLE=1", "-m", "m"]) == 2
    assert main(["launch", "-m", ""]) == 2
    assert main(["launch", "-"]) == 2
    assert main(["frobnicate"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert lines[:4] == [
        "zmqmesh: error: argument -n/--np: the number of ranks must be at least 1, not 0",
        "zmqmesh: error: argument -x: ZMQMESH_PICKLE is set by the launcher (use --pickle)",
        "zmqmesh: error: -m needs a module name",
        "zmqmesh: error: the program cannot be read from stdin: ranks' stdin is /dev/null",
    ]
    # argparse's own wording of the choices differs between Python versions.
    assert lines[4].startswith("zmqmesh: error: argument command: invalid choice: 'frobnicate'")
    assert len(lines) == 5


def test_main_returns_0_after_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["launch", "--help"]) == 0
    assert "--grace S" in capsys.readouterr().out


def local_environ(spec: JobSpec, rank: int, base: dict[str, str], **kw: str) -> dict[str, str]:
    settings = rank_settings(spec, rank, job="j", port="5", ipc_dir="/d", **kw)
    return rank_environ(spec, settings, base=base, life="7:100")


def test_rank_environ_sets_the_contract_over_stale_values() -> None:
    spec = JobSpec(program=("s.py",), size=4, env={"X": "1", "PYTHONUNBUFFERED": "0"}, pickle=True)
    base = {"PATH": "/bin", "ZMQMESH_RANK": "7", "ZMQMESH_IPC_DIR": "/old", "X": "0"}
    env = local_environ(spec, 2, base)
    assert env == {
        "PATH": "/bin",
        "X": "1",
        "ZMQMESH_RANK": "2",
        "ZMQMESH_SIZE": "4",
        "ZMQMESH_JOB": "j",
        "ZMQMESH_RENDEZVOUS": "tcp://127.0.0.1:5",
        "ZMQMESH_IPC_DIR": "/d",
        "ZMQMESH_PICKLE": "1",
        "ZMQMESH_LIFELINE": "7:100",
        "PYTHONUNBUFFERED": "1",
    }
    no_pickle = JobSpec(program=("s.py",))
    assert "ZMQMESH_PICKLE" not in local_environ(no_pickle, 0, {"ZMQMESH_PICKLE": "1"})


def test_a_local_rank_of_a_job_across_hosts_gets_tcp_keys_and_its_profile() -> None:
    spec = JobSpec(("p.py",), size=2, hosts=(None, "node7"), report=True, live=True, trace="t")
    env = local_environ(spec, 0, {}, shm_dir="/dev/shm/z", keyfile="/d/k", profile="/d/profile")
    assert env == {
        "ZMQMESH_RANK": "0",
        "ZMQMESH_SIZE": "2",
        "ZMQMESH_JOB": "j",
        "ZMQMESH_RENDEZVOUS": "tcp://127.0.0.1:5",
        "ZMQMESH_IPC_DIR": "/d",
        "ZMQMESH_SHM_DIR": "/dev/shm/z",
        "ZMQMESH_HOST": "@launcher",
        "ZMQMESH_TCP": "1",
        "ZMQMESH_KEYFILE": "/d/k",
        "ZMQMESH_PROFILE": "/d/profile",
        "ZMQMESH_TRACE": "1",
        "ZMQMESH_LIVE": "1",
        "ZMQMESH_LIFELINE": "7:100",
        "PYTHONUNBUFFERED": "1",
    }


def test_remote_ranks_get_the_launchers_settings_and_import_path() -> None:
    spec = JobSpec(("p.py",), size=2, hosts=(None, "node7"), env={"A": "1"}, report=True)
    base = {
        "ZMQMESH_FAILURE_TIMEOUT": "2",
        "ZMQMESH_RANK": "9",  # stale: the launcher's own contract wins
        "PYTHONPATH": "/src",
        "HOME": "/root",  # the remote host has its own
    }
    settings = rank_settings(
        spec, 1, job="j", port="5", ipc_dir="/d", keyfile="/d/k", profile="/d/profile"
    )
    assert settings == JobSettings(
        1, 2, job="j", rendezvous="tcp://@launcher:5", host="node7", tcp=True
    )
    env = rank_environ(spec, settings, base=base, life="7:100")
    assert env == {
        "ZMQMESH_FAILURE_TIMEOUT": "2",
        "PYTHONPATH": "/src",
        "A": "1",
        "ZMQMESH_RANK": "1",
        "ZMQMESH_SIZE": "2",
        "ZMQMESH_JOB": "j",
        "ZMQMESH_RENDEZVOUS": "tcp://@launcher:5",
        "ZMQMESH_HOST": "node7",
        "ZMQMESH_TCP": "1",
        "PYTHONUNBUFFERED": "1",
    }


def test_every_rank_reads_back_the_settings_the_launcher_gave_it() -> None:
    spec = JobSpec(("p.py",), size=3, hosts=(None, "node7", None), pickle=True, trace="t")
    base = {"ZMQMESH_FAILURE_TIMEOUT": "2", "ZMQMESH_LIVE": "1", "PATH": "/bin"}
    for rank in range(3):
        settings = rank_settings(
            spec, rank, job="j", port="5", ipc_dir="/d", keyfile="/d/k", profile="/d/profile"
        )
        env = rank_environ(spec, settings, base=base, life="7:100")
        read = JobSettings.from_environ(env, hostname=lambda: "here")
        # the setting the user passed on; the rest as the launcher wrote it
        # (a local rank of a job on one host names its own host)
        host = settings.host or "here"
        assert read == dataclasses.replace(settings, failure_timeout=2.0, host=host)


def test_the_launcher_reserves_the_variables_it_sets() -> None:
    spec = JobSpec(("p.py",), size=2, hosts=(None, "n"), pickle=True, report=True, trace="t")
    for rank in range(2):
        settings = rank_settings(
            spec, rank, job="j", port="5", ipc_dir="/d", shm_dir="/s", keyfile="/k", profile="/p"
        )
        assert set(settings.to_environ()) <= RESERVED_ENV
    assert "ZMQMESH_FAILURE_TIMEOUT" not in RESERVED_ENV


@pytest.mark.parametrize(
    ("ssh", "timeout", "login", "count"),
    [
        (("ssh",), 5.0, 0.3, 5),  # 15 s at least
        (("/usr/bin/ssh", "-F", "cfg"), 10.0, 0.3, 10),  # three failure timeouts
        (("ssh",), 5.0, 7.5, 8),  # three slow logins: 22.5 s
    ],
)
def test_openssh_clients_give_up_on_a_silent_host(
    ssh: tuple[str, ...], timeout: float, login: float, count: int
) -> None:
    assert ssh_keepalive(ssh, timeout, login) == [
        "-o",
        "ServerAliveInterval=3",
        "-o",
        f"ServerAliveCountMax={count}",
    ]
    assert ssh_keepalive(("rsh",), timeout, login) == []


@pytest.mark.parametrize(("value", "seconds"), [(None, 5.0), ("2.5", 2.5), ("soon", 5.0)])
def test_the_failure_timeout_a_rank_will_use(value: str | None, seconds: float) -> None:
    env = {} if value is None else {"ZMQMESH_FAILURE_TIMEOUT": value}
    assert failure_timeout(env) == seconds


def test_ssh_sessions_to_one_host_start_in_waves() -> None:
    first = ssh_command(("ssh", "-F", "cfg"), "node7", "/py", timeout=5.0, nth=7)
    assert first[:3] == ["ssh", "-F", "cfg"]
    assert first[-2:] == ["node7", "exec /py -m zmqmesh.launcher.remote"]
    ninth = ssh_command(("ssh",), "node7", "/py", timeout=5.0, nth=8)
    assert ninth[:5] == ["/bin/sh", "-c", 'sleep "$0"; exec "$@"', "2", "ssh"]
    assert ssh_command(("ssh",), "n", "/py", timeout=5.0, nth=17)[3] == "4"
    # slow logins: a wave waits 1.5 logins for the one before
    assert ssh_command(("ssh",), "n", "/py", timeout=5.0, nth=17, login=4.0)[3] == "12"
