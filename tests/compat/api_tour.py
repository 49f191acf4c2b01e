"""mpi4py's common calls under launch --mpi4py (run on 3 ranks)."""

import numpy as np
from mpi4py import MPI

comm = MPI.COMM_WORLD
rank = comm.Get_rank()
size = comm.Get_size()
print(f"Hello from process {rank} of {size} on {MPI.Get_processor_name()}")
if rank == 0:
    for i in range(1, size):
        comm.send({"a": 7, "b": 3.14}, dest=i, tag=11)
else:
    print("rank", rank, "got", comm.recv(source=0, tag=11))
s = comm.allreduce(rank, op=MPI.SUM)
g = comm.gather(rank**2, root=0)
b = comm.bcast("cfg" if rank == 0 else None, root=0)
out = np.empty(4)
comm.Allreduce(np.full(4, rank, dtype="d"), out, op=MPI.SUM)
buf = np.arange(3.0) if rank == 0 else np.empty(3)
comm.Bcast(buf, root=0)
req = comm.isend(rank, dest=(rank + 1) % size, tag=5)
got = comm.irecv(source=(rank - 1) % size, tag=5).wait()
req.wait()
mine = np.full(2, rank, dtype="i8")
every = np.empty(2 * size, dtype="i8")
comm.Allgather(mine, every)
assert every.tolist() == [r for r in range(size) for _ in range(2)], every
root_buf = np.empty(2 * size, dtype="i8") if rank == 0 else None
comm.Gather(mine, root_buf, root=0)
assert rank != 0 or root_buf.tolist() == every.tolist(), root_buf
swapped = np.empty(size, dtype="f8")
comm.Alltoall(np.arange(size, dtype="f8") + 10 * rank, swapped)
assert swapped.tolist() == [10.0 * r + rank for r in range(size)], swapped
part = np.empty(2, dtype="i8")
comm.Scatter(np.arange(2 * size, dtype="i8") if rank == 0 else None, part, root=0)
assert part.tolist() == [2 * rank, 2 * rank + 1], part
strided = np.zeros(8)[::2]  # a view that is not contiguous: refused, as by mpi4py
try:
    comm.Allreduce(np.ones(4), strided, op=MPI.SUM)
except BufferError:
    pass
else:
    raise AssertionError("a strided receive buffer was accepted")
into = np.empty(3)
req = comm.Irecv(into, source=(rank - 1) % size, tag=6)
comm.Isend(np.full(3, float(rank)), dest=(rank + 1) % size, tag=6).wait()
req.wait()
assert into.tolist() == [float((rank - 1) % size)] * 3, into
sub = comm.Split(rank % 2, rank)
comm.barrier()
if rank == 0:
    print(f"sum {s} gather {g} bcast {b} Allreduce {out} Bcast {buf} ring {got}", end=" ")
    print(f"sub {sub.Get_size()}")
