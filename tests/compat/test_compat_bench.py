"""The compat benchmark's mpi4py program runs under the layer and reports
every measure; the suite's report says which targets it met (no timing is
asserted: the numbers are made up here)."""

from __future__ import annotations

import argparse
import json
import sys

import pytest
from conftest import ROOT, launch

sys.path.insert(0, str(ROOT))
from bench import compat

OSU = ROOT / "bench" / "compat_osu.py"
FUTURES = ROOT / "bench" / "compat_futures.py"
NEIGHBOR = ROOT / "bench" / "compat_neighbor.py"


def _json(out: str) -> dict[str, object]:
    line = next(ln for ln in out.splitlines() if ln.startswith("[0] {"))
    got: dict[str, object] = json.loads(line[4:])
    return got


@pytest.mark.timeout(90)
def test_osu_loops_run_under_the_layer() -> None:
    res = launch(2, OSU, "--parts=lat,bw", "--sizes=8,300000", "--iters=3", "--iters-large=2",
                 "--bw-bytes=300000", "--bw-window=3", "--bw-iters=1", timeout=80,
                 launcher_args=("--mpi4py",))  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    got = _json(res.stdout)
    assert set(got) == {"library", "latency", "bandwidth"}
    assert set(got["latency"]) == {"8", "300000"}  # type: ignore[arg-type]
    assert str(got["library"]).startswith("zmqmesh")


@pytest.mark.timeout(90)
def test_collective_loops_run_under_the_layer() -> None:
    res = launch(3, OSU, "--parts=coll", "--coll-bytes=1000", "--coll-iters=2", timeout=80,
                 launcher_args=("--mpi4py",))  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    assert set(_json(res.stdout)) == {"library", "allgather", "alltoall"}


@pytest.mark.timeout(90)
def test_futures_program_runs_under_the_layer() -> None:
    res = launch(3, "-m", "mpi4py.futures", str(FUTURES), "--tasks=20", "--reps=2",
                 "--submits=3", timeout=80, launcher_args=("--mpi4py",))  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    got = _json(res.stdout)
    assert set(got) == {"library", "workers", "map", "submit"}
    assert got["workers"] == 2
    rows = compat.measures("zmqmesh/futures", got)  # type: ignore[arg-type]
    assert set(rows) == {"futures map, 2 workers (tasks/s)", "futures submit round trip, 2 workers"}


@pytest.mark.timeout(90)
def test_neighbor_program_runs_under_the_layer() -> None:
    res = launch(4, NEIGHBOR, "--sizes=8,1000", "--iters=2", "--halo=16", timeout=80,
                 launcher_args=("--mpi4py",))  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    got = _json(res.stdout)
    assert got["dims"] == [2, 2]
    rows = compat.measures("zmqmesh/neighbor", got)  # type: ignore[arg-type]
    assert sorted(rows) == [
        "Neighbor_allgather 1000 B, 2x2 grid",
        "Neighbor_allgather 8 B, 2x2 grid",
        "Neighbor_alltoall 1000 B, 2x2 grid",
        "Neighbor_alltoall 8 B, 2x2 grid",
        "halo Sendrecv 128 B, 2x2 grid",
    ]


def test_only_picks_jobs_of_both_sides() -> None:
    a = argparse.Namespace(iters=1, iters_large=1, bw_iters=1, coll_iters=1, nbytes=8, obj_iters=1)
    a.tasks, a.reps, a.submits, a.nbr_iters = 1, 1, 1, 1
    a.only = "futures,neighbor"
    names = sorted(compat.jobs(a, "python3", "mpiexec"))
    assert names == ["mpich/futures", "mpich/neighbor", "zmqmesh/futures", "zmqmesh/neighbor"]
    a.only = None
    assert len(compat.jobs(a, None, None)) == len(compat.JOBS)


def test_the_report_gives_ratios_and_verdicts() -> None:
    a = argparse.Namespace(rounds=1)
    z = {"Send/Recv 8 B": 3.0, "native send/recv 8 B": 1.0, "bandwidth 4 MiB (B/s)": 2e9}
    z |= {"Allgather 64 KiB, 4 ranks": 1.0, "Alltoall 64 KiB, 4 ranks": 3.0}
    m = {"Send/Recv 8 B": 1.0, "bandwidth 4 MiB (B/s)": 1e9}
    m |= {"Allgather 64 KiB, 4 ranks": 2.0, "Alltoall 64 KiB, 4 ranks": 2.0}
    z |= {"futures map, 2 workers (tasks/s)": 50_000.0, "Neighbor_alltoall 8 B, 2x2 grid": 1.0}
    m |= {"futures map, 2 workers (tasks/s)": 4_000.0, "Neighbor_alltoall 8 B, 2x2 grid": 0.5}
    got = {"zmqmesh/x": [z], "mpich/x": [m]}
    report, data = compat.render(["--quick"], a, got, {"zmqmesh/x": [1.0]}, "peer")
    assert "| Send/Recv 8 B | 3000.00 ms | 1000.00 ms | 3.00x |" in report
    assert "| futures map, 2 workers (tasks/s) | 50,000/s | 4,000/s | 12.50x |" in report
    verdicts = [(t["rule"].split(",")[0], t["verdict"]) for t in data["targets"]]
    assert verdicts == [
        ("bandwidth at 4 MiB", "met"),
        ("8 B latency", "missed"),
        ("Allgather 64 KiB on 4 ranks", "met"),
        ("Alltoall 64 KiB on 4 ranks", "missed"),
        ("futures map of small tasks", "met"),
        ("Neighbor_alltoall 8 B", "missed"),
    ]
    report, data = compat.render([], a, {"zmqmesh/x": [z]}, {}, "no peer")
    assert next(t["verdict"] for t in data["targets"]) == "not measured"
    assert "no job ran" in report


def test_a_missing_peer_is_skipped_with_its_reason() -> None:
    py, why = compat._peer_python("/nonexistent/python3")
    assert py is None
    assert "/nonexistent/python3" in why
