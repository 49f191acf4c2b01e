"""The compat suite's program: plain mpi4py object-API code, run both by
``mpiexec`` on real mpi4py and by ``zmqmesh launch --mpi4py``.

Prints one JSON line on rank 0: median seconds of a 16 MiB ping-pong half
round trip (``comm.send``/``comm.recv``) and of a 16 MiB ``comm.allreduce``.
Usage: compat_prog.py NBYTES ITERS
"""

import json
import sys
import time

import numpy as np
from mpi4py import MPI

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
nbytes, iters = int(sys.argv[1]), int(sys.argv[2])
x = np.full(nbytes // 8, float(rank + 1))


def median(xs):
    return sorted(xs)[len(xs) // 2]


pp = []
for _ in range(iters + 2):
    comm.barrier()
    t = time.perf_counter()
    if rank == 0:
        comm.send(x, dest=1)
        y = comm.recv(source=1)
    elif rank == 1:
        y = comm.recv(source=0)
        comm.send(y, dest=0)
    pp.append((time.perf_counter() - t) / 2)
ar = []
for _ in range(iters + 2):
    comm.barrier()
    t = time.perf_counter()
    s = comm.allreduce(x, op=MPI.SUM)
    ar.append(time.perf_counter() - t)
assert float(s[0]) == size * (size + 1) / 2
if rank == 0:
    print(json.dumps({"pingpong": median(pp[2:]), "allreduce": median(ar[2:])}), flush=True)
