"""Buffer specifications, datatypes and the module surface of mpi4py on
real ranks (run under launch --mpi4py; any size >= 2)."""

import mpi4py
import numpy as np
from mpi4py import rc

rc.threads = True  # accepted before MPI loads
from mpi4py import MPI  # noqa: E402

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
right, left = (rank + 1) % size, (rank - 1) % size
assert mpi4py.rc is rc
assert MPI.Query_thread() >= MPI.THREAD_SINGLE
assert MPI.DOUBLE.Get_size() == 8
assert comm != MPI.COMM_NULL
assert comm != MPI.COMM_SELF

# [buf, count, MPI.BYTE] and typecode strings
if rank == 0:
    comm.Send([bytearray(b"hello!"), 5, MPI.BYTE], dest=1, tag=1)
    comm.Send([np.arange(4, dtype="i4"), "i"], dest=1, tag=2)
elif rank == 1:
    got = bytearray(8)
    st = MPI.Status()
    comm.Recv([got, MPI.BYTE], source=0, tag=1, status=st)
    assert got[:5] == b"hello"
    assert st.Get_count(MPI.BYTE) == 5
    assert st.Get_source() == 0
    comm.Probe(source=0, tag=2, status=st)
    n = st.Get_count(MPI.INT)
    buf = np.empty(n, "i4")
    comm.Recv(buf, source=0, tag=2)
    assert n == 4, n
    assert buf.tolist() == [0, 1, 2, 3], buf

# a derived type on the send side, contiguous on the receive side
col = MPI.DOUBLE.Create_vector(3, 1, 4).Commit()
grid = np.arange(12, dtype="f8").reshape(3, 4) + 100 * rank
into = np.zeros(3)
req = comm.Irecv([into, 3, MPI.DOUBLE], source=left, tag=3)
comm.Send([grid.reshape(-1)[1:], 1, col], dest=right, tag=3)
st = MPI.Status()
req.Wait(st)
assert req == MPI.REQUEST_NULL
assert st.Get_count(MPI.DOUBLE) == 3
assert into.tolist() == [100.0 * left + c for c in (1, 5, 9)], into
col.Free()

# a subarray received into place; a struct of int and double
block = np.zeros((4, 4), "i4")
sub = MPI.INT.Create_subarray([4, 4], [2, 2], [1, 1]).Commit()
comm.Sendrecv(np.full(4, rank, "i4"), right, 4, [block, 1, sub], left, 4)
assert block[1:3, 1:3].tolist() == [[left] * 2] * 2
assert block.sum() == 4 * left
pair = MPI.Datatype.Create_struct([1, 1], [0, 8], [MPI.INT, MPI.DOUBLE]).Commit()
rec = np.zeros(
    2, np.dtype({"names": ["i", "d"], "formats": ["i4", "f8"], "offsets": [0, 8], "itemsize": 16})
)
mine = rec.copy()
mine["i"], mine["d"] = rank, rank / 2
comm.Sendrecv([mine, pair], right, 5, [rec, pair], left, 5)
assert rec["i"].tolist() == [left] * 2
assert rec["d"].tolist() == [left / 2] * 2

# PROC_NULL, REQUEST_NULL and the request arrays
comm.Send(np.zeros(1), dest=MPI.PROC_NULL)
st = MPI.Status()
comm.Recv(np.zeros(1), source=MPI.PROC_NULL, status=st)
assert st.Get_source() == MPI.PROC_NULL
assert st.Get_count() == 0
reqs = [comm.Isend(np.full(2, rank, "i8"), dest=right, tag=6), MPI.REQUEST_NULL]
back = np.zeros(2, "i8")
reqs.append(comm.Irecv(back, source=left, tag=6))
MPI.Request.Waitall(reqs)
assert back.tolist() == [left, left]
buf = np.full(3, rank, "f8")
comm.Sendrecv_replace(buf, dest=right, sendtag=7, source=left, recvtag=7)
assert buf.tolist() == [left] * 3

# collectives with specifications, IN_PLACE and the v-variants
v = np.arange(4, dtype="i4") if rank == 0 else np.zeros(4, "i4")
comm.Bcast([v, MPI.INT], root=0)
assert v.tolist() == [0, 1, 2, 3]
total = np.full(3, rank + 1, "f8")
comm.Allreduce(MPI.IN_PLACE, total, op=MPI.SUM)
assert total.tolist() == [size * (size + 1) / 2] * 3
counts = [r + 1 for r in range(size)]
displs = [sum(counts[:r]) for r in range(size)]
every = np.zeros(sum(counts), "i4")
comm.Allgatherv(np.full(rank + 1, rank, "i4"), [every, counts, displs, MPI.INT])
assert every.tolist() == [r for r in range(size) for _ in range(r + 1)], every
gathered = np.zeros(sum(counts), "i4") if rank == 0 else None
comm.Gatherv(
    np.full(rank + 1, rank, "i4"), [gathered, (counts, displs), MPI.INT] if rank == 0 else None
)
assert rank != 0 or gathered.tolist() == every.tolist()
part = np.zeros(rank + 1, "i4")
comm.Scatterv([every, counts, displs, MPI.INT] if rank == 0 else None, part, root=0)
assert part.tolist() == [rank] * (rank + 1)
sendc = [1] * size
out = np.zeros(size, "f8")
comm.Alltoallv(
    [np.arange(size, dtype="f8") + 10 * rank, sendc, MPI.DOUBLE], [out, sendc, MPI.DOUBLE]
)
assert out.tolist() == [10.0 * r + rank for r in range(size)]
scan = np.zeros(2, "i8")
comm.Scan(np.full(2, rank + 1, "i8"), scan)
assert scan.tolist() == [(rank + 1) * (rank + 2) // 2] * 2
red = np.zeros(1, "i8")
comm.Reduce_scatter_block(np.arange(size, dtype="i8"), red)
assert red.tolist() == [rank * size]
MPI.SUM.Reduce_local(np.ones(2), total[:2])
# a 3 x 10 array distributed block-cyclically over the ranks' columns: rank 0
# sends each rank its part with that rank's darray type, in one message
glob = np.arange(30, dtype="f8").reshape(3, 10)


def part(r):
    none, cyclic, dflt = MPI.DISTRIBUTE_NONE, MPI.DISTRIBUTE_CYCLIC, MPI.DISTRIBUTE_DFLT_DARG
    return MPI.DOUBLE.Create_darray(size, r, [3, 10], [none, cyclic], [dflt, 2], [1, size]).Commit()


mine = part(rank)
cols = [c for c in range(10) if (c // 2) % size == rank]
assert mine.Get_extent() == (0, 240) and mine.Get_size() == 8 * 3 * len(cols)
if rank == 0:
    reqs = [comm.Isend([glob, 1, part(r)], dest=r, tag=9) for r in range(size)]
piece = np.zeros((3, len(cols)))
comm.Recv(piece, source=0, tag=9)
if rank == 0:
    MPI.Request.Waitall(reqs)
assert piece.tolist() == glob[:, cols].tolist(), (rank, piece)
placed = np.zeros_like(glob)
comm.Sendrecv([piece, MPI.DOUBLE], dest=rank, recvbuf=[placed, 1, mine], source=rank)
assert placed[:, cols].tolist() == glob[:, cols].tolist()
comm.Barrier()
if rank == 0:
    print("buffers tour ok on", size, "ranks;", MPI.get_vendor()[0], MPI.Get_version())
