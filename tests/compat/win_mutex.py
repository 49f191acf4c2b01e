"""A shared counter and a spin mutex on one int in rank 0's window, as
mpi4py's nxtval demos make them. Rank 0 sets the counter with a plain
store right after ``Win.Allocate`` returns, with no barrier (the other
ranks may have sent their first operations by then: they must not be
applied before that store). Every rank then draws ``draws`` numbers with
exclusive-lock ``Get_accumulate`` (all different, 0 up), and takes the
mutex ``rounds`` times (+1 until it was 0, -1 to back off), adding one
to a total with a plain ``Get`` and ``Put`` while it holds it, which
only mutual exclusion keeps exact. Rank 0 prints ``ok counter N`` and
``ok mutex TOTAL``; runs unchanged under MPICH's mpi4py."""

import struct
import sys

import numpy as np
from mpi4py import MPI

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
draws = int(sys.argv[1]) if len(sys.argv) > 1 else 10
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
four = MPI.INT.Get_size()
win = MPI.Win.Allocate(2 * four if rank == 0 else 0, four, MPI.INFO_NULL, comm)
if rank == 0:
    win.tomemory()[:] = struct.pack("ii", 0, 0)


def add(delta, slot=0):
    old = np.zeros(1, "i4")
    win.Lock(0)
    win.Get_accumulate(
        [np.array([delta], "i4"), 1, MPI.INT], [old, 1, MPI.INT], 0, [slot, 1, MPI.INT]
    )
    win.Unlock(0)
    return int(old[0])


got = comm.allreduce([add(1) for _ in range(draws)])
assert sorted(got) == list(range(draws * size)), sorted(got)
if rank == 0:
    print("ok counter", len(got), flush=True)
comm.Barrier()
if rank == 0:  # the mutex starts free: the counter goes back to 0
    add(-draws * size)
comm.Barrier()

for _ in range(rounds):
    while add(1) != 0:  # someone holds it: back off, try again
        add(-1)
    total = np.zeros(1, "i4")
    win.Lock(0)
    win.Get(total, 0, [1, 1, MPI.INT])
    win.Unlock(0)
    total += 1
    win.Lock(0)
    win.Put(total, 0, [1, 1, MPI.INT])
    win.Unlock(0)
    add(-1)

comm.Barrier()
if rank == 0:
    win.Lock(0)
    final = struct.unpack("ii", bytes(win.tomemory()))
    win.Unlock(0)
    assert final == (0, rounds * size), final
    print("ok mutex", final[1], flush=True)
win.Free()
