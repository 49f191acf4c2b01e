"""No local rank outlives its launcher, even one killed by SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, job_env

from zmqmesh.job import lifeline

RANK = """
import asyncio, json, os, subprocess, sys, time, zmqmesh

facts = {"rank": os.getpid(), "ipc": os.environ["ZMQMESH_IPC_DIR"],
         "shm": os.environ.get("ZMQMESH_SHM_DIR")}
if sys.argv[1] == "before-init":  # busy before init(), which it never reaches
    facts["child"] = subprocess.Popen(["sleep", "300"]).pid
    print("facts", json.dumps(facts), flush=True)
    time.sleep(300)

async def main(comm):
    facts["child"] = subprocess.Popen(["sleep", "300"]).pid
    await comm.barrier()
    print("facts", json.dumps(facts), flush=True)
    await asyncio.sleep(300)

zmqmesh.run(main)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie of ours still answers; its state tells
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("when", ["after-init", "before-init"])
def test_killing_the_launcher_stops_its_local_ranks_and_removes_their_files(
    tmp_path: Path, when: str
) -> None:
    script = tmp_path / "rank.py"
    script.write_text(RANK)
    launcher = subprocess.Popen(
        [sys.executable, "-m", "zmqmesh", "launch", "-n", "2", str(script), when],
        env=job_env(),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    facts = []
    with launcher:
        assert launcher.stdout is not None
        while len(facts) < 2:
            line = launcher.stdout.readline()
            assert line, f"the job ended early: {launcher.communicate()[1]}"
            if " facts " in line:
                facts.append(json.loads(line.split(" facts ", 1)[1]))
        launcher.send_signal(signal.SIGKILL)
        launcher.wait()
        pids = [f[k] for f in facts for k in ("rank", "child")]
        deadline = time.monotonic() + 10
        while any(alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [p for p in pids if alive(p)], "processes outlived the launcher"
        for path in {facts[0]["ipc"], facts[0]["shm"]} - {None}:
            assert not Path(path).exists(), path
    for f in facts:  # after a failure: leave nothing behind
        for pid in (f["rank"], f["child"]):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_rank_child_ignores_the_variable_it_inherits() -> None:
    """A rank's children inherit ``ZMQMESH_LIFELINE`` but not the pipe: they
    must not watch whatever file has that number in them."""
    read, write = os.pipe()
    try:
        for text in (f"{read}:1", f"{read}", "x:y", f"{read}:{os.getpid()}"):
            env = {lifeline.ENV: text}
            lifeline.watch(env)
            assert lifeline.ENV not in env  # taken out: not passed further down
        assert "zmqmesh-lifeline" not in {t.name for t in threading.enumerate()}
    finally:
        os.close(read)
        os.close(write)
