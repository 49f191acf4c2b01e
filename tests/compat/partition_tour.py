"""Partitioned point-to-point (MPI 4.0) as an mpi4py program: rounds of a
ring exchange marked ready one by one, by range and by list, a large
same-host buffer, counts per partition, PROC_NULL, and every misuse the
layer refuses. Run on 2 or 3 ranks; world rank 0 prints one line. (MPICH
4.0 crashes in Psend_init to PROC_NULL and lets the misuses pass, as an
erroneous program may: this program checks the layer.)"""

import numpy as np
from mpi4py import MPI

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
dest, source = (rank + 1) % size, (rank - 1) % size


def refused(call, *args, kind=MPI.Exception):
    try:
        call(*args)
    except kind:
        return True
    return False


# rounds of a ring exchange, partitions marked one by one, by range, by list
for parts, n in ((1, 5), (3, 4), (4, 1 << 20)):  # the last: 4 MiB of doubles... by descriptor
    sbuf = np.full(parts * n, rank, np.float64)
    rbuf = np.full(parts * n, -1.0)
    sreq = comm.Psend_init(sbuf, parts, dest, tag=3)
    rreq = comm.Precv_init(rbuf, parts, source, tag=3)
    for rnd in range(3):
        rreq.Start()
        comm.Barrier()
        assert not any(rreq.Parrived(i) for i in range(parts)), (parts, rnd)
        comm.Barrier()  # every rank looked before any sends
        sreq.Start()
        assert not sreq.Test()  # nothing ready yet
        if rnd == 0:
            for i in range(parts):
                sreq.Pready(i)
        elif rnd == 1:
            sreq.Pready_range(0, parts - 1)
        else:
            sreq.Pready_list(list(reversed(range(parts))))
        for i in range(parts):
            while not rreq.Parrived(i):
                pass
        MPI.Request.Waitall([sreq, rreq])
        assert sreq != MPI.REQUEST_NULL and rreq != MPI.REQUEST_NULL  # persistent
        assert (rbuf == source).all(), (parts, rnd)
        rbuf[:] = -1
        sbuf += size  # the next round's data: packed when its last partition is ready
        comm.Barrier()
        sbuf -= size
    sreq.Free()
    rreq.Free()
    assert sreq == MPI.REQUEST_NULL and rreq == MPI.REQUEST_NULL

# a count per partition in the specification; PROC_NULL; no partitions
buf = np.arange(12, dtype="i")
got = np.zeros(12, dtype="i")
sreq = comm.Psend_init([buf, 3, MPI.INT], 4, dest, tag=4)
rreq = comm.Precv_init([got, 3, MPI.INT], 4, source, tag=4)
MPI.Prequest.Startall([sreq, rreq])
sreq.Pready_range(0, 3)
MPI.Request.Waitall([sreq, rreq])
assert (got == np.arange(12)).all()
null = comm.Psend_init(buf, 2, MPI.PROC_NULL)
null.Start()
null.Pready_list([0, 1])
null.Wait()
none = comm.Precv_init(got, 2, MPI.PROC_NULL)
none.Start()
none.Wait()
empty = comm.Psend_init(np.zeros(0), 0, MPI.PROC_NULL)
empty.Start()
empty.Wait()
for r in (sreq, rreq, null, none, empty):
    r.Free()

# misuse
sreq = comm.Psend_init(buf, 4, dest, tag=5)
rreq = comm.Precv_init(got, 4, source, tag=5)
assert refused(sreq.Pready, 0)  # not started
sreq.Start()
rreq.Start()
assert refused(sreq.Pready, 4)  # out of range
assert refused(sreq.Pready, -1)
sreq.Pready(1)
assert refused(sreq.Pready, 1)  # twice in a round
assert refused(sreq.Pready_list, [2, 2])
assert refused(sreq.Wait)  # would never complete
assert refused(sreq.Parrived, 0)  # not a receive
assert refused(rreq.Pready, 0)  # not a send
assert refused(rreq.Parrived, 9)
sreq.Pready_list([0, 2, 3])
MPI.Request.Waitall([sreq, rreq])
assert (got == np.arange(12)).all()
assert refused(comm.Psend_init, np.zeros(10), 3, dest, kind=ValueError)  # 10 in 3 partitions
assert refused(comm.Psend_init, [buf, 4, MPI.INT], 4, dest, kind=ValueError)  # past the end
assert refused(comm.Precv_init, got, -1, source, kind=ValueError)
sreq.Free()
rreq.Free()
comm.Barrier()
if rank == 0:
    print(f"partition tour ok on {size} ranks", flush=True)
