"""Ranks forked by the fork server see the same world as ranks started as
new interpreters (``--spawn exec``): the same arguments, paths, ``__main__``,
environment, stdin, session and exit statuses, tracebacks that read alike,
and their own random numbers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, job_env

pytestmark = pytest.mark.timeout(120)

FACTS = """
import json, os, sys
import numpy as np
import zmqmesh  # which takes the lifeline's variable out of the environment

facts = {
    "argv": sys.argv,
    "file": __file__,
    "name": __name__,
    "spec": getattr(__spec__, "name", None),
    "package": __package__,
    "loader": type(__loader__).__name__,
    "main_is_us": sys.modules["__main__"].__dict__ is globals(),
    "path0": sys.path[0],
    "cwd": os.getcwd(),
    "stdin": sys.stdin.read(),
    "session_leader": os.getsid(0) == os.getpid(),
    "group_leader": os.getpgrp() == os.getpid(),
    "env": {k: v for k, v in os.environ.items() if k.startswith(("ZMQMESH_", "FS_TEST"))},
    "unbuffered": os.environ.get("PYTHONUNBUFFERED"),
    "random": float(np.random.random()),
    "extra_fds": sorted(int(f) for f in os.listdir("/proc/self/fd") if int(f) > 2),
}
for k in ("ZMQMESH_JOB", "ZMQMESH_RENDEZVOUS", "ZMQMESH_IPC_DIR", "ZMQMESH_SHM_DIR"):
    facts["env"].pop(k, None)  # differ from job to job
print("FACTS", json.dumps(facts), flush=True)
"""


def launch(
    n: int, spawn: str, *program: str, cwd: Path = ROOT, **env: str
) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "zmqmesh", "launch", "-n", str(n), "--spawn", spawn]
    cmd += ["--timeout", "90", *program]
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=110,
        env=job_env(**env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def facts(res: subprocess.CompletedProcess[str]) -> dict[int, dict[str, Any]]:
    assert res.returncode == 0, res.stderr
    got = {}
    for line in res.stdout.splitlines():
        rank, _, rest = line.partition(" FACTS ")
        if rest:
            got[int(rank.strip("[]"))] = json.loads(rest)
    return got


def test_a_forked_rank_sees_what_an_exec_rank_sees(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "facts.py").write_text(FACTS)
    (tmp_path / "link.py").symlink_to(sub / "facts.py")
    runs = {
        spawn: facts(launch(3, spawn, "-x", "FS_TEST=1", "link.py", "a", "-b", cwd=tmp_path))
        for spawn in ("exec", "fork")
    }
    exec_, fork = runs["exec"], runs["fork"]
    assert sorted(fork) == sorted(exec_) == [0, 1, 2]
    assert len({fork[r].pop("random") for r in range(3)}) == 3  # a seed each
    for rank in range(3):
        e, f = exec_[rank], fork[rank]
        e.pop("random")
        # an exec'd rank may hold a descriptor more (the pipe its interpreter
        # was started through closes on exec); a forked one holds none of the
        # server's, only the lifeline
        assert len(f.pop("extra_fds")) <= len(e.pop("extra_fds"))
        assert f == e
        assert f["argv"] == ["link.py", "a", "-b"]
        assert f["file"] == str(tmp_path / "link.py")
        assert f["path0"] == str(sub)
        assert f["env"]["ZMQMESH_RANK"] == str(rank)
        assert f["env"]["FS_TEST"] == "1"
        assert "ZMQMESH_LIFELINE" not in f["env"]


def test_a_forked_module_runs_as_python_m(tmp_path: Path) -> None:
    pkg = tmp_path / "pkgx"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "mod.py").write_text(FACTS)
    runs = {
        spawn: facts(launch(2, spawn, "-m", "pkgx.mod", "z", cwd=tmp_path))
        for spawn in ("exec", "fork")
    }
    for rank in range(2):
        e, f = runs["exec"][rank], runs["fork"][rank]
        for d in (e, f):
            d.pop("random")
            d.pop("extra_fds")
        assert f == e
        assert f["argv"] == [str(pkg / "mod.py"), "z"]
        assert f["name"] == "__main__"


EXITS = """
import atexit, sys, threading, time, zmqmesh

atexit.register(lambda: print("atexit ran", flush=True))
threading.Thread(target=lambda: (time.sleep(0.2), print("thread joined", flush=True))).start()
how = sys.argv[1]
if how == "raise":
    def inner():
        raise ValueError("boom")
    inner()
if how == "exit3":
    sys.exit(3)
if how == "exitmsg":
    sys.exit("a message")
"""


@pytest.mark.parametrize(("how", "code"), [("ok", 0), ("raise", 1), ("exit3", 3), ("exitmsg", 1)])
def test_a_forked_rank_ends_as_python_ends(tmp_path: Path, how: str, code: int) -> None:
    script = tmp_path / "exits.py"
    script.write_text(EXITS)
    runs = {spawn: launch(1, spawn, "--no-prefix", str(script), how) for spawn in ("exec", "fork")}
    for res in runs.values():
        assert res.returncode == code, res.stderr
        assert "atexit ran" in res.stdout
        assert "thread joined" in res.stdout
    if how == "raise":
        tracebacks = [r.stderr[r.stderr.index("Traceback") :] for r in runs.values()]
        tracebacks = [t[: t.index("ValueError: boom") + 16] for t in tracebacks]
        assert tracebacks[0] == tracebacks[1]
        assert "forkserver" not in tracebacks[1]
        assert f'File "{script}", line 9, in inner' in tracebacks[1]
    if how == "exitmsg":
        assert "a message" in runs["fork"].stderr


def test_ranks_start_as_new_interpreters_when_the_server_cannot_load(tmp_path: Path) -> None:
    # a numpy that cannot be imported: the server cannot load zmqmesh, the
    # ranks (which do not import it) still run, and the launcher says how
    broken = tmp_path / "broken"
    (broken / "numpy").mkdir(parents=True)
    (broken / "numpy" / "__init__.py").write_text("raise ImportError('no numpy here')\n")
    script = tmp_path / "hello.py"
    script.write_text("import os; print('hello', os.environ['ZMQMESH_RANK'], flush=True)\n")
    env = {"PYTHONPATH": os.pathsep.join([str(broken), str(ROOT)])}
    res = launch(2, "fork", "--no-prefix", str(script), **env)
    assert res.returncode == 0, res.stderr
    assert sorted(res.stdout.split("\n")[:2]) == ["hello 0", "hello 1"]
    assert "without the fork server" in res.stderr
    assert "no numpy here" in res.stderr


def test_forked_ranks_run_a_zmqmesh_job(tmp_path: Path) -> None:
    path = tmp_path / "job.py"
    path.write_text(
        textwrap.dedent(
            """
            import sys, zmqmesh
            async def main(comm):
                got = await comm.allgather(comm.rank)
                print("gathered", got, flush=True)
                print("to stderr", comm.rank, file=sys.stderr, flush=True)
            zmqmesh.run(main)
            """
        )
    )
    res = launch(4, "fork", str(path))
    assert res.returncode == 0, res.stderr
    for r in range(4):
        assert f"[{r}] gathered [0, 1, 2, 3]" in res.stdout
        assert f"[{r}] to stderr {r}" in res.stderr
