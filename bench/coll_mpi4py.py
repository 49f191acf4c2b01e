"""Collectives under ``mpiexec -n N``: mpi4py's buffer API
(``comm.Allreduce(x, out)``, ``comm.Bcast(x)``, no pickling, into a
preallocated array) and its pickle API (``comm.allreduce(x)``,
``comm.bcast(x)``, which pickles the array and reduces with Python's ``+``).
``--apis buffer,pickle`` picks them. Options and output: see ``coll_common.py``."""

from __future__ import annotations

import sys
import time
from typing import Any

import mpi4py
import numpy as np
from coll_common import check, data, emit, iterations, parse_args, per_call, slowest, warmups
from mpi4py import MPI

APIS = ("buffer", "pickle")


def call(comm: MPI.Comm, api: str, op: str, x: np.ndarray, out: np.ndarray) -> Any:
    """One collective call, as a user writes it; returns the result."""
    if api == "buffer":
        if op == "allreduce":
            comm.Allreduce(x, out, op=MPI.SUM)
            return out
        comm.Bcast(x, root=0)
        return x
    if op == "allreduce":
        return comm.allreduce(x, op=MPI.SUM)
    return comm.bcast(x if comm.rank == 0 else None, root=0)


def main() -> None:
    a = parse_args(sys.argv[1:], apis="buffer,pickle")
    comm = MPI.COMM_WORLD
    rank, size = comm.rank, comm.size
    apis = [s for s in a.apis.split(",") if s]
    results: dict[str, dict[str, dict[int, list[float]]]] = {}
    for api in apis:
        if api not in APIS:
            raise SystemExit(f"unknown API {api!r}; choose among {', '.join(APIS)}")
        results[api] = {op: {} for op in a.ops}
        for op in a.ops:
            for nbytes in a.sizes:
                # Bcast receives in place: non-roots start from zeros
                x = data(nbytes, rank) if op == "allreduce" or rank == 0 else np.zeros(nbytes // 8)
                out = np.empty_like(x)
                comm.Barrier()
                warm = []
                for _ in range(warmups(nbytes)):
                    t0 = time.perf_counter()
                    got = call(comm, api, op, x, out)
                    warm.append(time.perf_counter() - t0)
                check(op, got, nbytes, size, rank, f"mpi4py {api}")
                del got
                n = iterations(comm.allreduce(per_call(warm), op=MPI.MAX), a)
                times = np.empty(n)
                for i in range(n):
                    comm.Barrier()
                    t0 = time.perf_counter()
                    call(comm, api, op, x, out)
                    times[i] = time.perf_counter() - t0
                every = np.empty((size, n)) if rank == 0 else None
                comm.Gather(times, every, root=0)
                if rank == 0:
                    results[api][op][nbytes] = slowest(every)
                del x, out
    if rank == 0:
        vendor, version = MPI.get_vendor()
        meta = {
            "mpi4py": mpi4py.__version__,
            "mpi": MPI.Get_library_version().strip().splitlines()[0].strip(),
            "mpi_vendor": f"{vendor} {'.'.join(map(str, version))}",
            "ranks": size,
        }
        emit(meta, results)


if __name__ == "__main__":
    main()
