"""The workers of ``spawn_master.py``: their own ``COMM_WORLD``, the
master through ``Get_parent``."""

import numpy as np
from mpi4py import MPI

comm = MPI.Comm.Get_parent()
size, rank = comm.Get_size(), comm.Get_rank()
assert comm.Is_inter()
assert comm.Get_remote_size() == 1
assert MPI.COMM_WORLD.Get_size() == size
assert MPI.COMM_WORLD.Get_rank() == rank

N = np.array(0, dtype="i")
comm.Bcast([N, MPI.INT], root=0)
h = 1.0 / N
s = 0.0
for i in range(rank, N, size):
    x = h * (i + 0.5)
    s += 4.0 / (1.0 + x**2)
PI = np.array(s * h, dtype="d")
comm.Reduce([PI, MPI.DOUBLE], None, op=MPI.SUM, root=0)
comm.gather(MPI.COMM_WORLD.allreduce(1), root=0)
if rank == size - 1:
    assert comm.recv(source=0, tag=5) == "bye"
comm.Disconnect()
assert MPI.Comm.Get_parent() == MPI.COMM_NULL
