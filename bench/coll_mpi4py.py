"""Collectives under ``mpiexec -n N``: mpi4py's buffer API, no pickling,
into preallocated arrays (``comm.Allreduce(x, out)``, ``comm.Bcast(x)`` in
place, ``comm.Barrier()``, ``comm.Allgather(x, out)`` and
``comm.Alltoall(send, out)`` with ``(size, n)`` arrays, ``send`` holding
``x`` in every row) and its pickle API (``comm.allreduce(x)``,
``comm.bcast(x)``, ``comm.barrier()``, ``comm.allgather(x)``,
``comm.alltoall([x] * size)``: the arrays are pickled, and reduced with
Python's ``+``). ``--apis buffer,pickle`` picks them. Options and output:
see ``coll_common.py``."""

from __future__ import annotations

import sys
import time
from typing import Any

import mpi4py
import numpy as np
from coll_common import (
    check,
    data,
    emit,
    iterations,
    over_limit,
    parse_args,
    per_call,
    sizes_of,
    slowest,
    warmups,
)
from mpi4py import MPI

APIS = ("buffer", "pickle")


def call(comm: MPI.Comm, api: str, op: str, x: Any, out: np.ndarray) -> Any:
    """One collective call, as a user writes it; returns the result. For
    alltoall, ``x`` is what each rank sends: the ``(size, n)`` array
    (buffer) or the list ``[chunk] * size`` (pickle)."""
    if api == "buffer":
        if op == "allreduce":
            comm.Allreduce(x, out, op=MPI.SUM)
            return out
        if op == "bcast":
            comm.Bcast(x, root=0)
            return x
        if op == "barrier":
            comm.Barrier()
            return None
        if op == "allgather":
            comm.Allgather(x, out)
            return out
        comm.Alltoall(x, out)
        return out
    if op == "allreduce":
        return comm.allreduce(x, op=MPI.SUM)
    if op == "bcast":
        return comm.bcast(x if comm.rank == 0 else None, root=0)
    if op == "barrier":
        return comm.barrier()
    if op == "allgather":
        return comm.allgather(x)
    return comm.alltoall(x)


def inputs(api: str, op: str, nbytes: int, rank: int, size: int) -> tuple[Any, np.ndarray]:
    """The call's input and its preallocated output (made outside the timing)."""
    # Bcast receives in place: non-roots start from zeros
    x = data(nbytes, rank) if op != "bcast" or rank == 0 else np.zeros(nbytes // 8)
    if op in ("allgather", "alltoall"):
        out = np.empty((size, nbytes // 8))
        if op == "alltoall":
            x = np.tile(x, (size, 1)) if api == "buffer" else [x] * size
        return x, out
    return x, np.empty_like(x)


def main() -> None:
    a = parse_args(sys.argv[1:], apis="buffer,pickle")
    comm = MPI.COMM_WORLD
    rank, size = comm.rank, comm.size
    apis = [s for s in a.apis.split(",") if s]
    results: dict[str, dict[str, dict[int, list[float]]]] = {}
    over: dict[str, dict[str, dict[int, float]]] = {}
    for api in apis:
        if api not in APIS:
            raise SystemExit(f"unknown API {api!r}; choose among {', '.join(APIS)}")
        results[api] = {op: {} for op in a.ops}
        for op in a.ops:
            for nbytes in sizes_of(op, a.sizes):
                x, out = inputs(api, op, nbytes, rank, size)
                comm.Barrier()
                t0 = time.perf_counter()
                got = call(comm, api, op, x, out)
                warm = [time.perf_counter() - t0]
                first = comm.allreduce(warm[0], op=MPI.MAX)
                if over_limit(first, nbytes, a):
                    check(op, got, nbytes, size, rank, f"mpi4py {api}")
                    over.setdefault(api, {}).setdefault(op, {})[nbytes] = first
                    break  # larger sizes take longer still
                for _ in range(warmups(nbytes) - 1):
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
        if over:
            meta["over_limit"] = over
        emit(meta, results)


if __name__ == "__main__":
    main()
