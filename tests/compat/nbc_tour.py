"""Nonblocking and persistent collectives on real ranks (launch --mpi4py,
3 or more ranks; argv[1] is a directory the ranks share).

Overlap, by events: rank 1 starts Ibarrier and Iallreduce before any other
rank has (the others wait for its "started" file), then computes in NumPy
until every other rank has finished its Wait (their "done" files). In a
dissemination barrier on 3 or more ranks some rank's second round needs
rank 1's second-round message, which rank 1 can only send after hearing
from the others, that is while it computes: without a loop progressing
during the computation the others never finish and rank 1 gives up.
"""

import sys
import threading

import numpy as np
from mpi4py import MPI
from overlap import compute_until, mark, wait_for

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
shared = sys.argv[1]
assert size >= 3


total = np.zeros(4)
if rank == 1:
    bar = comm.Ibarrier()
    red = comm.Iallreduce(np.full(4, float(rank)), total, op=MPI.SUM)
    mark(shared, "started")
    compute_until(shared, [f"done.{r}" for r in range(size) if r != 1])
    MPI.Request.Waitall([bar, red])
else:
    gave_up = threading.Event()
    wait_for(shared, ["started"], gave_up)
    bar = comm.Ibarrier()
    red = comm.Iallreduce(np.full(4, float(rank)), total, op=MPI.SUM)
    bar.Wait()
    red.Wait()
    mark(shared, f"done.{rank}")
assert total.tolist() == [size * (size - 1) / 2] * 4, total
comm.Barrier()

# every nonblocking form gives what its blocking form gives
right, left = (rank + 1) % size, (rank - 1) % size
reqs = []
b = np.arange(3, dtype="i4") if rank == 0 else np.zeros(3, "i4")
reqs.append(comm.Ibcast(b, root=0))
g = np.zeros(size, "i8") if rank == 0 else None
reqs.append(comm.Igather(np.full(1, rank, "i8"), g, root=0))
counts = [r + 1 for r in range(size)]
displs = [sum(counts[:r]) for r in range(size)]
gv = np.zeros(sum(counts), "i4")
reqs.append(comm.Igatherv(np.full(rank + 1, rank, "i4"), [gv, counts, displs, MPI.INT], root=0))
sc = np.zeros(1, "f8")
reqs.append(comm.Iscatter(np.arange(size, dtype="f8") if rank == 0 else None, sc, root=0))
sv = np.zeros(rank + 1, "i4")
every = np.array([r for r in range(size) for _ in range(r + 1)], "i4")
reqs.append(comm.Iscatterv([every, counts, displs, MPI.INT] if rank == 0 else None, sv, root=0))
ag = np.zeros(size, "i4")
reqs.append(comm.Iallgather(np.full(1, rank, "i4"), ag))
agv = np.zeros(sum(counts), "i4")
reqs.append(comm.Iallgatherv(np.full(rank + 1, rank, "i4"), [agv, counts, displs, MPI.INT]))
a2a = np.zeros(size, "i4")
reqs.append(comm.Ialltoall(np.arange(size, dtype="i4") + 10 * rank, a2a))
a2v = np.zeros(size, "f8")
ones = [1] * size
reqs.append(
    comm.Ialltoallv(
        [np.arange(size, dtype="f8") + 10 * rank, ones, MPI.DOUBLE], [a2v, ones, MPI.DOUBLE]
    )
)
# Alltoallw: block j of rank i is i+j as an int to every rank, in bytes
a2w_in = np.array([rank + j for j in range(size)], "i4")
a2w = np.zeros(size, "i4")
bytes_at = [4 * j for j in range(size)]
reqs.append(
    comm.Ialltoallw([a2w_in, ones, bytes_at, [MPI.INT] * size], [a2w, ones, bytes_at, MPI.INT])
)
rd = np.zeros(2, "i8")
reqs.append(comm.Ireduce(np.full(2, rank, "i8"), rd, op=MPI.MAX, root=0))
rsb = np.zeros(1, "i8")
reqs.append(comm.Ireduce_scatter_block(np.arange(size, dtype="i8"), rsb))
rs = np.zeros(rank + 1, "i8")
reqs.append(comm.Ireduce_scatter(np.ones(sum(counts), "i8"), rs, counts))
scan = np.zeros(1, "i8")
reqs.append(comm.Iscan(np.full(1, rank + 1, "i8"), scan))
ex = np.full(1, -1, "i8")
reqs.append(comm.Iexscan(np.full(1, rank + 1, "i8"), ex))
statuses = [MPI.Status() for _ in reqs]
MPI.Request.Waitall(reqs, statuses)
assert all(r == MPI.REQUEST_NULL for r in reqs)
assert b.tolist() == [0, 1, 2]
assert rank != 0 or g.tolist() == list(range(size))
assert rank != 0 or gv.tolist() == every.tolist()
assert sc.tolist() == [float(rank)]
assert sv.tolist() == [rank] * (rank + 1)
assert ag.tolist() == list(range(size))
assert agv.tolist() == every.tolist()
assert a2a.tolist() == [10 * r + rank for r in range(size)]
assert a2v.tolist() == [10.0 * r + rank for r in range(size)]
assert a2w.tolist() == [r + rank for r in range(size)], a2w
assert rank != 0 or rd.tolist() == [size - 1] * 2
assert rsb.tolist() == [rank * size]
assert rs.tolist() == [size] * (rank + 1)
assert scan.tolist() == [(rank + 1) * (rank + 2) // 2]
assert ex.tolist() == ([-1] if rank == 0 else [rank * (rank + 1) // 2])
out = np.zeros(size, "i4")
comm.Alltoallw([a2w_in, ones, bytes_at, [MPI.INT] * size], [out, ones, bytes_at, MPI.INT])
assert out.tolist() == a2w.tolist()

# persistent collectives: each Start reads the send buffer anew
send = np.zeros(2, "f8")
acc = np.zeros(2, "f8")
pers = [
    comm.Allreduce_init(send, acc, op=MPI.SUM),
    comm.Barrier_init(),
]
bc = np.zeros(1, "i4")
pers.append(comm.Bcast_init(bc, root=size - 1))
for step in range(3):
    send[:] = step + rank
    if rank == size - 1:
        bc[0] = 100 + step
    MPI.Prequest.Startall(pers)
    MPI.Request.Waitall(pers)
    assert acc.tolist() == [size * step + size * (size - 1) / 2] * 2, acc
    assert bc.tolist() == [100 + step]
    assert all(pers)
for name in (
    "Gather_init",
    "Scatter_init",
    "Allgather_init",
    "Alltoall_init",
    "Reduce_init",
    "Scan_init",
    "Exscan_init",
    "Reduce_scatter_block_init",
    "Alltoallw_init",
    "Gatherv_init",
    "Scatterv_init",
    "Allgatherv_init",
    "Alltoallv_init",
    "Reduce_scatter_init",
):
    assert callable(getattr(comm, name)), name
for p in pers:
    p.Free()
comm.Barrier()
if rank == 0:
    print(f"nbc tour ok on {size} ranks")
