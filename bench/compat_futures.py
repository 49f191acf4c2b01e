"""The compat suite's ``mpi4py.futures`` program: plain mpi4py code, run
both as ``mpiexec -n N python -m mpi4py.futures compat_futures.py`` on real
mpi4py and as ``zmqmesh launch --mpi4py -n N -m mpi4py.futures
compat_futures.py``: rank 0 runs the measures, the other N - 1 ranks are
the pool's workers.

``compat_futures.py [--tasks N] [--reps R] [--submits S]``:

- ``map``: ``list(executor.map(inc, range(N)))`` of a function returning
  ``x + 1``, default ``chunksize=1`` (one task per item); tasks per second
  of each repetition, from the call to the last result.
- ``submit``: ``executor.submit(inc, i).result()``, one task at a time;
  seconds per round trip.

Every result is checked. Rank 0 prints one JSON line: the median over
repetitions (``map``, tasks/s) and over round trips (``submit``, s), the
number of workers and the MPI library's name.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from mpi4py import MPI
from mpi4py.futures import MPIPoolExecutor

WARMUP = 200


def inc(x: int) -> int:
    return x + 1


def map_rate(ex: MPIPoolExecutor, n: int) -> float:
    t0 = time.perf_counter()
    got = list(ex.map(inc, range(n)))
    dt = time.perf_counter() - t0
    assert got == list(range(1, n + 1)), "map gave wrong results"
    return n / dt


def submit_time(ex: MPIPoolExecutor, i: int) -> float:
    t0 = time.perf_counter()
    got = ex.submit(inc, i).result()
    dt = time.perf_counter() - t0
    assert got == i + 1, "submit gave a wrong result"
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tasks", type=int, default=10_000, help="map: items")
    ap.add_argument("--reps", type=int, default=5, help="map: repetitions")
    ap.add_argument("--submits", type=int, default=300, help="submit: round trips")
    a = ap.parse_args()
    got: dict[str, object] = {"library": MPI.Get_library_version().splitlines()[0].strip()}
    got["workers"] = MPI.COMM_WORLD.Get_size() - 1
    with MPIPoolExecutor() as ex:
        # every worker up and past its first task before the clock starts
        assert list(ex.map(inc, range(WARMUP))) == list(range(1, WARMUP + 1))
        got["map"] = statistics.median(map_rate(ex, a.tasks) for _ in range(a.reps))
        got["submit"] = statistics.median(submit_time(ex, i) for i in range(a.submits))
    print(json.dumps(got), flush=True)


if __name__ == "__main__":
    main()
