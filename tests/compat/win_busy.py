"""A target busy computing still serves a lock-based counter once it
makes its next MPI call: rank 0 holds the counter and computes in pure
Python while every other rank draws ids from it; its next call is a
``Barrier`` (first round) and a ``recv`` from the last rank, sent only
after that rank's draws (second round). Every id is drawn exactly once.
Runs unchanged under MPICH's mpi4py."""

import numpy as np
from mpi4py import MPI

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
DRAWS = 10

win = MPI.Win.Allocate(8 if rank == 0 else 0, 8, comm=comm)
if rank == 0:
    np.frombuffer(win.tomemory(), "i8")[:] = 0
comm.Barrier()


def draw():
    one, got = np.ones(1, "i8"), np.zeros(1, "i8")
    win.Lock(0, MPI.LOCK_EXCLUSIVE)
    win.Fetch_and_op(one, got, 0, 0, op=MPI.SUM)
    win.Unlock(0)
    return int(got[0])


def compute():
    total = 0
    for i in range(2_000_000):  # pure Python: no MPI call in here
        total += i * i % 7
    return total


drawn = []
for round_ in range(2):
    if rank == 0:
        compute()
        if round_ == 0:
            comm.Barrier()
        else:
            assert comm.recv(source=size - 1, tag=7) == "drawn"
    else:
        drawn += [draw() for _ in range(DRAWS)]
        if round_ == 0:
            comm.Barrier()
        elif rank == size - 1:
            comm.send("drawn", dest=0, tag=7)
every = sorted(i for part in comm.allgather(drawn) for i in part)
assert every == list(range(2 * DRAWS * (size - 1))), every
win.Free()
if rank == 0:
    print("ok busy target served", len(every), "ids", flush=True)
