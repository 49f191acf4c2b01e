"""--report and --trace: what each rank did, from real jobs and as pure
rendering of the ranks' records."""

from __future__ import annotations

import json
import re

import pytest
from conftest import ROOT, launch

from zmqmesh.launcher.report import chrome_trace, report

RECORD = {
    "rank": 0,
    "start": 100.0,
    "wall": 2.0,
    "waiting": 0.5,
    "peak_rss": 50 * 2**20,
    "peers": {"1": [3, 3072, 2, 2048]},
    "calls": {"allreduce": [2, 0.25], "send": [3, 0.01]},
    "spans": [["send", 0.1, 0.001], ["allreduce", 0.2, 0.1]],
    "dropped": 0,
}


def test_report_table() -> None:
    other = dict(RECORD, rank=1, start=100.5, waiting=1.5, peers={"0": [2, 2048, 3, 3072]})
    text = report([RECORD, other, None])
    row0 = next(ln for ln in text.splitlines() if ln.startswith("   0 "))
    assert row0.split() == [
        "0",
        "3",
        "3.0",
        "KiB",
        "2",
        "2.0",
        "KiB",
        "2.000",
        "0.500",
        "1.500",
        "50.0",
        "MiB",
    ]
    assert "   2  (no record" in text
    assert "rank 0: allreduce 2 0.2500, send 3 0.0100" in text
    assert "load imbalance (max / mean compute time): 1.50" in text  # 1.5 vs mean 1.0


def test_trace_has_a_track_per_rank() -> None:
    doc = chrome_trace([RECORD, dict(RECORD, rank=1, start=101.0), None])
    spans = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    assert {e["tid"] for e in spans} == {0, 1}
    names = {e["tid"]: e["args"]["name"] for e in doc["traceEvents"] if e["name"] == "thread_name"}
    assert names == {0: "rank 0", 1: "rank 1", 2: "rank 2"}
    first = next(e for e in spans if e["tid"] == 1 and e["name"] == "send")
    assert first["ts"] == pytest.approx(1.1e6)  # rank 1 started 1 s later
    assert first["dur"] == pytest.approx(1000)
    assert {e["cat"] for e in spans} == {"p2p", "collective"}


@pytest.mark.timeout(60)
def test_report_and_trace_of_a_job(tmp_path) -> None:
    trace = tmp_path / "out.json"
    res = launch(
        3,
        ROOT / "examples" / "hello.py",
        timeout=50,
        launcher_args=("--report", "--trace", str(trace)),
    )
    assert res.returncode == 0, res.stderr
    assert "zmqmesh report" in res.stderr
    for rank in range(3):
        assert re.search(rf"^\s+{rank}\s+\d+\s", res.stderr, re.M), res.stderr
    assert "load imbalance" in res.stderr
    doc = json.loads(trace.read_text())
    tracks = {e["tid"] for e in doc["traceEvents"] if e["ph"] == "X"}
    assert tracks == {0, 1, 2}
    assert {"gather", "sendrecv"} <= {e["name"] for e in doc["traceEvents"]}


@pytest.mark.timeout(60)
def test_without_the_flags_nothing_is_recorded(tmp_path) -> None:
    res = launch(2, ROOT / "examples" / "hello.py", timeout=50)
    assert res.returncode == 0
    assert "zmqmesh report" not in res.stderr


@pytest.mark.timeout(60)
def test_comm_stats_in_process() -> None:
    prog = ROOT / "tests" / "programs" / "stats_job.py"
    res = launch(2, prog, timeout=50, launcher_args=("-x", "ZMQMESH_STATS=1"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "[0] ok stats" in res.stdout
    assert "[1] ok stats" in res.stdout
    off = launch(2, prog, timeout=50)
    assert off.returncode != 0
    assert "stats are not being recorded" in off.stdout + off.stderr


@pytest.mark.timeout(90)
def test_live_status_line_on_a_terminal(tmp_path) -> None:
    import os
    import pty
    import subprocess
    import sys

    from conftest import job_env

    prog = tmp_path / "slow.py"
    prog.write_text(
        "import asyncio, numpy as np, zmqmesh\n"
        "async def main(comm):\n"
        "    for _ in range(25):\n"
        "        await comm.allreduce(np.ones(100))\n"
        "        await asyncio.sleep(0.1)\n"
        "    print('done', flush=True)\n"
        "zmqmesh.run(main)\n"
    )
    master, slave = pty.openpty()
    cmd = [sys.executable, "-m", "zmqmesh", "launch", "-n", "2", "--report", str(prog)]
    proc = subprocess.Popen(cmd, stdout=slave, stderr=slave, env=job_env(), cwd=ROOT)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the terminal's other side is closed: the job is over
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=60) == 0
    text = b"".join(chunks).decode(errors="replace")
    assert re.search(r"zmqmesh: 2/2 ranks alive, [1-9]\d* collectives, [\d.]+ \w+ moved", text), (
        text
    )
    assert "[0] done" in text
    assert "zmqmesh report" in text


@pytest.mark.timeout(60)
def test_every_kind_of_communicator_is_counted(tmp_path) -> None:  # type: ignore[no-untyped-def]
    trace = tmp_path / "t.json"
    res = launch(
        4,
        ROOT / "tests" / "programs" / "every_comm.py",
        timeout=50,
        launcher_args=("--report", "--trace", str(trace)),
    )
    assert res.returncode == 0, res.stdout + res.stderr
    calls = {
        r: dict(re.findall(r"(\w+) (\d+) [\d.]+", line))
        for r, line in re.findall(r"^  rank (\d): (.*)$", res.stderr, re.M)
        if "allreduce" in line
    }
    assert set(calls) == {"0", "1", "2", "3"}, res.stderr
    for r, got in calls.items():
        # world allreduce, dup bcast, split allgather, ring sendrecv + barrier,
        # tree reduce, mesh neighbor_allgather + alltoall
        for name in ("bcast", "sendrecv", "barrier", "reduce", "neighbor_allgather", "alltoall"):
            assert int(got.get(name, 0)) >= 1, (r, name, got)
        assert int(got["allreduce"]) >= 1, (r, got)
        assert int(got["allgather"]) >= 1, (r, got)
    spans = {e["name"] for e in json.loads(trace.read_text())["traceEvents"] if e["ph"] == "X"}
    assert {"bcast", "sendrecv", "barrier", "reduce", "neighbor_allgather", "alltoall"} <= spans
