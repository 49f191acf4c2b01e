"""mpi4py.util.pkl5 on n ranks: every object call, its buffers out of band
and received writable; wrong calls raise on the calling rank."""

import pickle

import numpy as np
from mpi4py import MPI
from mpi4py.util import pkl5

comm = pkl5.Intracomm(MPI.COMM_WORLD)
size, rank = comm.Get_size(), comm.Get_rank()
dst, src = (rank + 1) % size, (rank - 1) % size
big = 1 << 20  # past MPI.pickle.THRESHOLD: travels out of band

# the wire form keeps large buffers out of the stream, as views (no copy)
arr = np.full(big, rank, "i4")
mark, stream, bufs = pkl5.dumps({"a": arr})
assert len(stream) < 1000 and len(bufs) == 1 and np.shares_memory(bufs[0], arr)

obj = {"a": arr, "b": [rank] * 3, "c": bytearray(b"x" * 300000), "d": np.arange(6.0)[::2]}
req = comm.isend(obj, dst, tag=42)
got = comm.recv(None, src, tag=42)
req.wait()
assert got["a"].min() == src and got["a"].max() == src and got["b"] == [src] * 3
assert got["a"].flags.writeable and len(got["c"]) == 300000 and got["d"].tolist() == [0, 2, 4]
got["a"][0] = -1  # writable, as mpi4py's

st = MPI.Status()
req = comm.issend(obj, dst, tag=43)
msg = comm.mprobe(status=st)
assert (st.Get_source(), st.Get_tag()) == (src, 43)
assert msg.irecv().wait()["a"][5] == src
req.wait()
req = comm.isend("small", dst, tag=44)
while (m := pkl5.Message.iprobe(comm, src, 44)) is None:
    pass
assert m.recv() == "small"
req.Free()

reqs = [comm.irecv(source=src, tag=45 + i) for i in range(2)]
comm.ssend(np.arange(10.0), dst, tag=45)
comm.send(b"z" * big, dst, tag=46)
a, b = pkl5.Request.waitall(reqs)
assert a.sum() == 45.0 and len(b) == big
assert comm.sendrecv(rank, dst, source=src) == src

root = size - 1
out = comm.bcast(np.ones(big // 4) * 2 if rank == root else None, root)
assert out.sum() == big // 2 and out.flags.writeable
mine = np.full(big // 4, rank)
g = comm.gather(mine, root)
assert g is None if rank != root else [int(x[0]) for x in g] == list(range(size))
if rank == root:  # its own entry: a new array over the original's memory, as mpi4py's
    assert g[rank] is not mine and np.shares_memory(g[rank], mine)
s = comm.scatter([np.full(big // 4, i) for i in range(size)] if rank == root else None, root)
assert s[0] == rank and s.flags.writeable
assert [int(x[-1]) for x in comm.allgather(np.full(big // 4, rank))] == list(range(size))
items = comm.alltoall([np.full(big // 4, rank * 10 + i) for i in range(size)])
assert [int(x[0]) for x in items] == [i * 10 + rank for i in range(size)]

# mistakes raise where they are made, and nothing is left half-sent
for call, error in (
    (lambda: comm.send(lambda: 0, dst), (pickle.PicklingError, AttributeError, TypeError)),
    (lambda: comm.send(1, size), (MPI.Exception, ValueError)),
    (lambda: pkl5.Intracomm(42), TypeError),
):
    try:
        call()
    except error as exc:
        assert str(exc)
    else:
        raise AssertionError("no error")
# None scatters and exchanges Nones, an iterator is a sequence, on the
# plain communicator as on pkl5's (as mpi4py's)
for c in (comm, MPI.COMM_WORLD):
    for root in range(size):
        assert c.scatter(None, root) is None
        assert c.scatter(iter(range(size)) if rank == root else None, root) == rank
    assert c.alltoall(None) == [None] * size
    assert c.alltoall(iter(range(size))) == [rank] * size
# a pkl5 request equals the MPI.Request it holds (REQUEST_NULL once done),
# and a copy of it; a message compares only with messages
req = comm.isend(rank, dst, 77)
assert req == pkl5.Request(req)
assert req != MPI.REQUEST_NULL or not req
assert comm.recv(None, src, 77) == src
req.wait()
assert req == MPI.REQUEST_NULL
assert req.__ne__(MPI.REQUEST_NULL) is False
assert pkl5.Message().__eq__("123") is NotImplemented
data, bufs = pkl5.pickle.dumps_oob(np.zeros(1 << 16))
assert all(type(b) is MPI.buffer for b in bufs)
assert bufs
comm.Barrier()
if rank == 0:
    print(f"pkl5 tour ok on {size} ranks")
