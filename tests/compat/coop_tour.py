"""Large same-host messages that the sender helps copy while it waits for
them (``coop.py``): every byte arrives, whichever side copied it, in every
way a sender can wait, and a receive never waits on a sender that is busy
outside MPI. Run on 2 ranks, with ``COOP_FIFO`` the path of a named pipe
that rank 1 uses to tell rank 0, outside MPI, that its receive completed."""

import mmap
import os

import numpy as np
from mpi4py import MPI

from zmqmesh.compat.mpi4py import coop

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
assert size == 2
MiB = 1 << 20


def data(seed: int, n: int) -> np.ndarray:
    return (np.arange(n, dtype=np.uint64) * (seed + 3) % 253).astype(np.uint8)


# 1. a window of distinct buffers, both sides in Waitall
sizes = [4 * MiB, 6 * MiB + 4097, 2 * MiB, 9 * MiB, 4 * MiB, 3 * MiB + 1, 8 * MiB, 5 * MiB]
if rank == 0:
    MPI.Request.Waitall([comm.Isend(data(i, n), 1, 1) for i, n in enumerate(sizes)])
else:
    bufs = [np.zeros(n, np.uint8) for n in sizes]
    MPI.Request.Waitall([comm.Irecv(b, 0, 1) for b in bufs])
    for i, b in enumerate(bufs):
        assert np.array_equal(b, data(i, b.size)), f"window transfer {i}"

# 2. blocking Send and Recv, a size no chunk divides; a receive too long
if rank == 0:
    comm.Send(data(20, 13 * MiB + 5), 1, 2)
else:
    got = np.zeros(16 * MiB, np.uint8)
    st = MPI.Status()
    comm.Recv(got, 0, 2, st)
    assert st.Get_count(MPI.BYTE) == 13 * MiB + 5
    assert np.array_equal(got[: 13 * MiB + 5], data(20, 13 * MiB + 5))
    assert not got[13 * MiB + 5 :].any()

# 3. each request waited for alone, in the other order than they were sent
if rank == 0:
    a, b = data(30, 4 * MiB), data(31, 4 * MiB)
    ra, rb = comm.Isend(a, 1, 3), comm.Isend(b, 1, 3)
    rb.Wait()
    ra.Wait()
else:
    x, y = np.zeros(4 * MiB, np.uint8), np.zeros(4 * MiB, np.uint8)
    rx, ry = comm.Irecv(x, 0, 3), comm.Irecv(y, 0, 3)
    ry.Wait()
    rx.Wait()
    assert np.array_equal(x, data(30, 4 * MiB)) and np.array_equal(y, data(31, 4 * MiB))

# 4. both ranks send and receive at once (each is a sender and a receiver)
mine, theirs = data(40 + rank, 8 * MiB), np.zeros(8 * MiB, np.uint8)
reqs = [comm.Isend(mine, 1 - rank, 4), comm.Irecv(theirs, 1 - rank, 4)]
MPI.Request.Waitall(reqs)
assert np.array_equal(theirs, data(41 - rank, 8 * MiB))

# 5. mpi4py's osu_bw: [buf, count, MPI.BYTE] over mmap buffers, a window of requests
size = 3 * MiB + 17
if rank == 0:
    src = mmap.mmap(-1, 4 * MiB)
    src[:size] = data(60, size).tobytes()
    MPI.Request.Waitall([comm.Isend([src, size, MPI.BYTE], 1, 6) for _ in range(8)])
else:
    dst = mmap.mmap(-1, 4 * MiB)
    sts = [MPI.Status() for _ in range(8)]
    MPI.Request.Waitall([comm.Irecv([dst, size, MPI.BYTE], 0, 6) for _ in range(8)], sts)
    assert [st.Get_count(MPI.BYTE) for st in sts] == [size] * 8
    got = np.frombuffer(dst, np.uint8)
    assert np.array_equal(got[:size], data(60, size)) and not got[size:].any()
    del got

# 6. a sender busy outside MPI: the receive completes without it
fifo = os.environ["COOP_FIFO"]
if rank == 0:
    req = comm.Isend(data(50, 8 * MiB), 1, 5)
    with open(fifo) as f:  # blocks until rank 1 has received
        assert f.read() == "received"
    req.Wait()
else:
    got = np.zeros(8 * MiB, np.uint8)
    comm.Recv(got, 0, 5)
    with open(fifo, "w") as f:
        f.write("received")
    assert np.array_equal(got, data(50, 8 * MiB))

comm.Barrier()
x = coop.exchange()
assert x is not None and not x.sends and not x.recvs, "transfers left in flight"
print(f"[{rank}] coop tour ok", flush=True)
