"""End-to-end tests of ``zmqmesh launch``: the real CLI in a subprocess,
running small rank programs that do not import zmqmesh."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[2]


def launcher_env(**extra: str) -> dict[str, str]:
    """The test's environment with the repository importable, plus ``extra``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def cli(*args: str) -> list[str]:
    """The command line of ``zmqmesh launch args...`` run from source."""
    return [sys.executable, "-m", "zmqmesh", "launch", *args]


def launch(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run ``zmqmesh launch args...`` to the end and capture its output."""
    return subprocess.run(
        cli(*args),
        cwd=cwd,
        env=env if env is not None else launcher_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=50,
        check=False,
    )


def write_script(directory: Path, name: str, body: str, *, publish: bool = False) -> Path:
    """Write a rank program (pure Python, no zmqmesh) and return its path;
    with ``publish``, the program can call ``publish(directory, name, text)``."""
    path = directory / name
    path.write_text((PUBLISH if publish else "") + textwrap.dedent(body))
    return path


# Rank programs use this to publish facts (their pid, ...) atomically: a
# reader never sees a half-written file.
PUBLISH = """
import os
def publish(directory, name, text):
    tmp = os.path.join(directory, name + ".tmp")
    with open(tmp, "w") as f:
        f.write(str(text))
    os.replace(tmp, os.path.join(directory, name))
"""


def read_pid(directory: Path, name: str) -> int:
    return int((directory / name).read_text())


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        return True  # no /proc here: trust kill()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def zmqmesh_lines(stderr: bytes) -> list[str]:
    """The launcher's own lines on stderr."""
    return [ln for ln in stderr.decode(errors="replace").splitlines() if ln.startswith("zmqmesh:")]


def rank_lines(output: bytes, rank: int) -> list[bytes]:
    """The lines of ``rank`` in prefixed launcher output, prefix removed."""
    prefix = f"[{rank}] ".encode()
    return [ln[len(prefix) :] for ln in output.split(b"\n") if ln.startswith(prefix)]


# --- the environment contract ---------------------------------------------------------------

ENV_REPORT = """
import json, os, stat, sys
ipc = os.environ["ZMQMESH_IPC_DIR"]
wanted = ("RANK", "SIZE", "JOB", "RENDEZVOUS", "IPC_DIR", "PICKLE")
wanted = [f"ZMQMESH_{name}" for name in wanted] + ["PYTHONUNBUFFERED", "FORWARDED", "SET", "EMPTY"]
print(json.dumps({
    "env": {k: v for k, v in os.environ.items() if k in wanted},
    "argv": sys.argv[1:],
    "stdin": sys.stdin.read(),
    "session_leader": os.getsid(0) == os.getpid(),
    "ipc_mode": stat.S_IMODE(os.stat(ipc).st_mode),
}))
"""


def reports(output: bytes, size: int) -> list[dict[str, Any]]:
    """The one JSON report of each rank, in rank order."""
    out = []
    for rank in range(size):
        lines = rank_lines(output, rank)
        assert len(lines) == 1, lines
        out.append(json.loads(lines[0]))
    return out


def test_ranks_get_the_contract_environment_and_args_verbatim(tmp_path: Path) -> None:
    script = write_script(tmp_path, "report.py", ENV_REPORT)
    args = ["-n", "5", "--timeout", "x", "-m", "mod", "--", "-x", "--no-prefix", "a b"]
    # Stale values in the launcher's own environment must not reach the ranks.
    env = launcher_env(ZMQMESH_RANK="99", ZMQMESH_PICKLE="1", ZMQMESH_JOB="stale")
    result = launch("-n", "3", str(script), *args, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    got = reports(result.stdout, 3)
    ipc_dirs = {r["env"]["ZMQMESH_IPC_DIR"] for r in got}
    jobs = {r["env"]["ZMQMESH_JOB"] for r in got}
    assert len(ipc_dirs) == 1
    assert len(jobs) == 1
    (job,) = jobs
    (ipc_dir,) = ipc_dirs
    assert re.fullmatch(r"[0-9a-f]{16}", job)
    assert Path(ipc_dir).name.startswith("zmqmesh-")
    assert not Path(ipc_dir).exists()
    for rank, report in enumerate(got):
        env_seen = report["env"]
        assert env_seen == {
            "ZMQMESH_RANK": str(rank),
            "ZMQMESH_SIZE": "3",
            "ZMQMESH_JOB": job,
            "ZMQMESH_RENDEZVOUS": env_seen["ZMQMESH_RENDEZVOUS"],
            "ZMQMESH_IPC_DIR": ipc_dir,
            "PYTHONUNBUFFERED": "1",
        }
        assert env_seen["ZMQMESH_RENDEZVOUS"].startswith("tcp://127.0.0.1:")
        assert report["argv"] == args
        assert report["stdin"] == ""
        assert report["session_leader"] is True
        assert report["ipc_mode"] == 0o700


def test_x_forwards_and_sets_variables_and_pickle_sets_its_flag(tmp_path: Path) -> None:
    script = write_script(tmp_path, "report.py", ENV_REPORT)
    env = launcher_env(FORWARDED="from launcher", SET="overridden")
    result = launch(
        "--pickle", "-x", "FORWARDED", "-x", "SET=a=b", "-xEMPTY=", str(script), env=env
    )
    assert result.returncode == 0, result.stderr
    (report,) = reports(result.stdout, 1)
    env_seen = report["env"]
    assert env_seen["FORWARDED"] == "from launcher"
    assert env_seen["SET"] == "a=b"
    assert env_seen["EMPTY"] == ""
    assert env_seen["ZMQMESH_PICKLE"] == "1"


def test_module_mode_runs_the_module_with_its_arguments(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    write_script(
        pkg,
        "mod.py",
        """
        import os, sys
        print(__name__, os.environ["ZMQMESH_RANK"], sys.argv[1:])
        """,
    )
    result = launch("-n", "2", "-m", "pkg.mod", "-n", "7", "--grace", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for rank in range(2):
        assert rank_lines(result.stdout, rank) == [
            f"__main__ {rank} ['-n', '7', '--grace']".encode()
        ]


# --- output ---------------------------------------------------------------------------------

PIECES = """
import os, sys
rank = int(os.environ["ZMQMESH_RANK"])
for stream, count in ((sys.stdout, 2000), (sys.stderr, 300)):
    for i in range(count):
        line = f"r{rank} {i:04d} ".ljust(199, "x") + "\\n"
        # Three writes per line: the launcher sees partial lines all the time.
        for piece in (line[:7], line[7:150], line[150:]):
            stream.write(piece)
            stream.flush()
"""


@pytest.mark.parametrize(("stream", "count"), [("stdout", 2000), ("stderr", 300)])
def test_lines_of_ranks_never_interleave(tmp_path: Path, stream: str, count: int) -> None:
    script = write_script(tmp_path, "pieces.py", PIECES)
    result = launch("-n", "4", str(script))
    assert result.returncode == 0, result.stderr
    output = result.stdout if stream == "stdout" else result.stderr
    pattern = re.compile(rb"\[(\d)\] r(\d) (\d{4}) x+")
    seen: dict[int, list[int]] = {r: [] for r in range(4)}
    lines = output.split(b"\n")
    assert lines.pop() == b""
    for line in lines:
        match = pattern.fullmatch(line)
        assert match is not None, line[:80]
        assert len(line) == len(b"[0] ") + 199
        assert match[1] == match[2]
        seen[int(match[1])].append(int(match[3]))
    assert seen == {r: list(range(count)) for r in range(4)}


def test_partial_lines_stderr_and_raw_bytes_pass_through(tmp_path: Path) -> None:
    script = write_script(
        tmp_path,
        "bytes.py",
        """
        import sys
        sys.stdout.buffer.write(b"not utf-8: \\xff\\xfe\\n\\n")
        sys.stdout.write("first half, ")
        sys.stdout.flush()
        sys.stderr.write("err line\\nerr tail without newline")
        sys.stdout.write("second half\\nno newline at the end")
        """,
    )
    result = launch(str(script))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        b"[0] not utf-8: \xff\xfe\n[0] \n[0] first half, second half\n[0] no newline at the end\n"
    )
    assert result.stderr == b"[0] err line\n[0] err tail without newline\n"


@pytest.mark.parametrize("unbuffered", [True, False])
def test_lines_of_megabytes_arrive_whole(tmp_path: Path, unbuffered: bool) -> None:
    script = write_script(
        tmp_path,
        "huge.py",
        """
        import os, sys
        if os.environ["ZMQMESH_RANK"] == "0":
            for _ in range(30):
                sys.stdout.write("A" * 100_000)
            sys.stdout.write("\\n" + "B" * 1_000_000)  # the last line has no newline
        else:
            for i in range(1000):
                print("short", i)
        """,
    )
    # python -u makes the launcher's own stdout raw: large writes can then be
    # partial (SIGCHLD interrupts them), and the launcher must resume them.
    env = launcher_env()
    env.pop("PYTHONUNBUFFERED", None)
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    result = launch("-n", "2", str(script), env=env)
    assert result.returncode == 0, result.stderr
    assert rank_lines(result.stdout, 0) == [b"A" * 3_000_000, b"B" * 1_000_000]
    assert rank_lines(result.stdout, 1) == [f"short {i}".encode() for i in range(1000)]


def test_no_prefix_and_one_rank_by_default(tmp_path: Path) -> None:
    script = write_script(tmp_path, "plain.py", "import os\nprint(os.environ['ZMQMESH_SIZE'])\n")
    result = launch("--no-prefix", str(script))
    assert (result.returncode, result.stdout, result.stderr) == (0, b"1\n", b"")


# --- failures -------------------------------------------------------------------------------

FAIL_ONE = """
import os, signal, sys
rank = int(os.environ["ZMQMESH_RANK"])
publish(sys.argv[1], f"pid{rank}", os.getpid())
if rank == int(sys.argv[2]):
    how = sys.argv[3]
    if how.startswith("SIG"):
        os.kill(os.getpid(), getattr(signal, how))
    sys.exit(int(how))
"""


@pytest.mark.parametrize(
    ("how", "status", "ending"),
    [
        ("3", 3, "exited with code 3"),
        ("SIGKILL", 128 + 9, "was killed by signal SIGKILL"),
        ("SIGTERM", 128 + 15, "was killed by signal SIGTERM"),
    ],
)
def test_a_failed_rank_is_named_and_gives_the_status(
    tmp_path: Path, how: str, status: int, ending: str
) -> None:
    script = write_script(tmp_path, "fail.py", FAIL_ONE, publish=True)
    result = launch("-n", "3", str(script), str(tmp_path), "2", how)
    assert result.returncode == status, result.stderr
    pid = read_pid(tmp_path, "pid2")
    assert zmqmesh_lines(result.stderr) == [f"zmqmesh: rank 2 (pid {pid}) {ending}"]


def test_a_failed_ranks_last_words_come_before_the_line_naming_it(tmp_path: Path) -> None:
    script = write_script(tmp_path, "boom.py", "raise ValueError('boom')\n")
    result = launch(str(script))
    assert result.returncode == 1
    lines = result.stderr.decode().splitlines()
    assert lines[0] == "[0] Traceback (most recent call last):"
    assert lines[-2] == "[0] ValueError: boom"
    assert re.fullmatch(r"zmqmesh: rank 0 \(pid \d+\) exited with code 1", lines[-1])


def test_survivors_may_finish_within_the_grace_period(tmp_path: Path) -> None:
    script = write_script(
        tmp_path,
        "grace.py",
        """
        import os, sys, time
        here = sys.argv[1]
        if os.environ["ZMQMESH_RANK"] == "0":
            publish(here, "pid0", os.getpid())
            sys.exit(5)
        while not os.path.exists(os.path.join(here, "pid0")):
            time.sleep(0.01)
        pid0 = int(open(os.path.join(here, "pid0")).read())
        while True:  # until the launcher has reaped rank 0
            try:
                os.kill(pid0, 0)
            except ProcessLookupError:
                break
            time.sleep(0.01)
        print("still running after rank 0 failed")
        """,
        publish=True,
    )
    result = launch("-n", "2", "--grace", "50", str(script), str(tmp_path))
    assert result.returncode == 5, result.stderr
    assert rank_lines(result.stdout, 1) == [b"still running after rank 0 failed"]
    pid = read_pid(tmp_path, "pid0")
    assert zmqmesh_lines(result.stderr) == [f"zmqmesh: rank 0 (pid {pid}) exited with code 5"]


SLEEPER = """
import os, signal, subprocess, sys, time
here, rank = sys.argv[1], int(os.environ["ZMQMESH_RANK"])
mode = sys.argv[2] if len(sys.argv) > 2 else "sleep"
if mode.startswith("fail") and rank == 0:
    # Fail only once every other rank is set up, so that the pids exist.
    size = int(os.environ["ZMQMESH_SIZE"])
    while not all(os.path.exists(os.path.join(here, f"ready{r}")) for r in range(1, size)):
        time.sleep(0.01)
    sys.exit(4)
if mode.endswith("stubborn"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # inherited by the child too
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
publish(here, f"pid{rank}", os.getpid())
publish(here, f"child{rank}", child.pid)
print("ipc", os.environ["ZMQMESH_IPC_DIR"])
print("ready")
publish(here, f"ready{rank}", "")
time.sleep(600)
"""


def assert_all_gone(directory: Path, ranks: range) -> None:
    for rank in ranks:
        assert not alive(read_pid(directory, f"pid{rank}")), f"rank {rank} survived"
        assert not alive(read_pid(directory, f"child{rank}")), f"child of rank {rank} survived"


def ipc_dir_of(output: bytes) -> Path:
    (path,) = set(re.findall(rb"^\[\d+\] ipc (.*)$", output, re.MULTILINE))
    return Path(path.decode())


def test_grace_expiry_stops_the_survivors_and_their_children(tmp_path: Path) -> None:
    script = write_script(tmp_path, "sleeper.py", SLEEPER, publish=True)
    result = launch("-n", "3", "--grace", "0.2", str(script), str(tmp_path), "fail")
    assert result.returncode == 4, result.stderr
    lines = zmqmesh_lines(result.stderr)
    # the failure, then what the ranks still running wait in, then the stop
    assert lines[1] == "zmqmesh: what each rank waits in:", lines
    assert lines[-1] == "zmqmesh: grace period of 0.2 s over; stopping the 2 ranks still running"
    assert_all_gone(tmp_path, range(1, 3))
    assert not ipc_dir_of(result.stdout).exists()


def test_a_rank_ignoring_sigterm_is_killed(tmp_path: Path) -> None:
    script = write_script(tmp_path, "sleeper.py", SLEEPER, publish=True)
    result = launch("-n", "2", "--grace", "0", str(script), str(tmp_path), "fail-stubborn")
    assert result.returncode == 4, result.stderr
    assert zmqmesh_lines(result.stderr)[1:] == [
        "zmqmesh: killing the 1 rank still running after 3 s"
    ]
    assert_all_gone(tmp_path, range(1, 2))


def test_timeout_stops_every_rank_with_status_124(tmp_path: Path) -> None:
    script = write_script(tmp_path, "sleeper.py", SLEEPER, publish=True)
    result = launch("-n", "2", "--timeout", "1.5", str(script), str(tmp_path))
    assert result.returncode == 124, result.stderr
    lines = zmqmesh_lines(result.stderr)
    # first what each rank waits in (here: sleeping outside zmqmesh), then the timeout
    assert lines[0] == "zmqmesh: what each rank waits in:", lines
    assert lines[-1] == "zmqmesh: job timed out after 1.5 s", lines
    assert len(lines) == 4, lines
    assert_all_gone(tmp_path, range(2))
    assert not ipc_dir_of(result.stdout).exists()


@pytest.mark.parametrize(
    ("signum", "status"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
)
def test_a_signal_to_the_launcher_stops_everything(
    tmp_path: Path, signum: signal.Signals, status: int
) -> None:
    script = write_script(tmp_path, "sleeper.py", SLEEPER, publish=True)
    with subprocess.Popen(
        cli("-n", "3", str(script), str(tmp_path)),
        env=launcher_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as launcher:
        assert launcher.stdout is not None
        seen = b""
        while seen.count(b"] ready\n") < 3:  # every rank and child is up
            line = launcher.stdout.readline()
            assert line, "launcher ended early"
            seen += line
        launcher.send_signal(signum)
        rest, stderr = launcher.communicate(timeout=30)
    assert launcher.returncode == status, stderr
    assert zmqmesh_lines(stderr) == [f"zmqmesh: {signum.name} received; stopping all ranks"]
    assert_all_gone(tmp_path, range(3))
    assert not ipc_dir_of(seen + rest).exists()


# --- the command line -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["-n", "0", "{script}"],
        ["-n", "many", "{script}"],
        ["{missing}"],
        ["-x", "ZMQMESH_TEST_SURELY_UNSET", "{script}"],
        ["-x", "=value", "{script}"],
        ["-x", "ZMQMESH_RANK=3", "{script}"],
        ["-n", "2"],
        ["--bogus", "{script}"],
        ["--timeout", "0", "{script}"],
        ["--grace", "-1", "{script}"],
        ["--grace", "nan", "{script}"],
        ["-m"],
    ],
)
def test_bad_input_is_one_line_and_status_2(tmp_path: Path, args: list[str]) -> None:
    script = write_script(tmp_path, "ok.py", "print('must not run')\n")
    missing = tmp_path / "missing.py"
    argv = [a.format(script=script, missing=missing) for a in args]
    result = launch(*argv)
    assert result.returncode == 2
    assert result.stdout == b""
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("zmqmesh: error: ")


def test_no_command_is_an_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "zmqmesh"],
        env=launcher_env(),
        capture_output=True,
        timeout=50,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.decode().splitlines() == [
        "zmqmesh: error: the following arguments are required: command"
    ]


def test_help_documents_every_option() -> None:
    top = subprocess.run(
        [sys.executable, "-m", "zmqmesh", "--help"],
        env=launcher_env(),
        capture_output=True,
        timeout=50,
        check=True,
    )
    assert b"launch" in top.stdout
    result = launch("--help")
    assert result.returncode == 0
    text = result.stdout.decode()
    for option in ("--np", "-x VAR[=VALUE]", "--timeout", "--grace", "--no-prefix", "--pickle"):
        assert option in text
    assert "-m MODULE" in text
