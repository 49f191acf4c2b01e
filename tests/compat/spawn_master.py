"""Spawn master/worker, as mpi4py's tutorial computes pi: each process of
the world spawns its own workers through ``COMM_SELF``, broadcasts the
number of intervals to them and reduces their partial sums. Runs
unchanged under mpi4py on MPICH."""

import os
import sys

import numpy as np
from mpi4py import MPI

here = os.path.dirname(os.path.abspath(__file__))
world = MPI.COMM_WORLD
workers = int(sys.argv[1]) if len(sys.argv) > 1 else 3
errcodes = []
comm = MPI.COMM_SELF.Spawn(
    sys.executable,
    args=[os.path.join(here, "spawn_worker.py")],
    maxprocs=workers,
    errcodes=errcodes,
)
assert comm.Is_inter()
assert comm.Get_size() == 1
assert comm.Get_remote_size() == workers
assert errcodes == [MPI.SUCCESS] * workers, errcodes

N = np.array(100, "i")
comm.Bcast([N, MPI.INT], root=MPI.ROOT)
PI = np.array(0.0, "d")
comm.Reduce(None, [PI, MPI.DOUBLE], op=MPI.SUM, root=MPI.ROOT)
sizes = comm.gather(None, root=MPI.ROOT)
comm.send("bye", dest=workers - 1, tag=5)
comm.Disconnect()
assert sizes == [workers] * workers, sizes
assert abs(PI - np.pi) < 1e-4, PI
world.Barrier()
print(f"master {world.Get_rank()} pi {PI:.6f} from {workers} workers", flush=True)
