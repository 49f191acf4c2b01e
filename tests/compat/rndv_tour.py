"""Large buffer messages between ranks of one host (sent by descriptor and
read in one copy unless ZMQMESH_CMA=0): every receive path gets exactly
the bytes sent, and probes count them. Run on 2 ranks."""

import numpy as np
from mpi4py import MPI

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
assert size == 2
peer = 1 - rank
MiB = 1 << 20


def data(seed: int, n: int = 2 * MiB) -> np.ndarray:
    return (np.arange(n, dtype=np.uint64) * (seed + 7) % 251).astype(np.uint8)


if rank == 0:
    comm.Send(data(1), 1, 1)  # Recv into a whole array
    comm.Send(data(2), 1, 2)  # Recv with a status and ANY_SOURCE / ANY_TAG
    MPI.Request.Waitall([comm.Isend(data(10 + i), 1, 3) for i in range(4)])  # a window
    comm.Send(data(4).view(np.float64), 1, 4)  # Probe, Get_count, then Recv
    comm.Send(data(5), 1, 5)  # Mprobe / Mrecv
    comm.Send(data(6), 1, 6)  # into a derived type's layout
    comm.Send([data(7, 4 * MiB), 2 * MiB, MPI.UNSIGNED_SHORT], 1, 7)  # a count of a type
    vec = MPI.DOUBLE.Create_vector(MiB // 4, 1, 2).Commit()  # a strided send packs first
    comm.Send([data(8, 4 * MiB).view(np.float64), 1, vec], 1, 8)
    vec.Free()
    comm.Send(data(9), 1, 9)  # too long for its receive
    comm.Send(data(11), 1, 11)  # Irecv, then Test until done
    comm.Recv(np.zeros(1), 1, 99)
else:
    got = np.zeros(2 * MiB, np.uint8)
    comm.Recv(got, 0, 1)
    assert np.array_equal(got, data(1))
    st = MPI.Status()
    big = np.zeros(3 * MiB, np.uint8)
    comm.Recv(big, MPI.ANY_SOURCE, MPI.ANY_TAG, st)
    assert (st.Get_source(), st.Get_tag(), st.Get_count(MPI.BYTE)) == (0, 2, 2 * MiB)
    assert np.array_equal(big[: 2 * MiB], data(2))
    bufs = [np.zeros(2 * MiB, np.uint8) for _ in range(4)]
    sts = [MPI.Status() for _ in bufs]
    MPI.Request.Waitall([comm.Irecv(b, 0, 3) for b in bufs], sts)
    for i, b in enumerate(bufs):
        assert np.array_equal(b, data(10 + i)), i
        assert sts[i].Get_count(MPI.BYTE) == 2 * MiB
    comm.Probe(0, 4, st)
    assert st.Get_count(MPI.BYTE) == 2 * MiB
    assert st.Get_count(MPI.DOUBLE) == MiB // 4
    doubles = np.empty(st.Get_count(MPI.DOUBLE))
    comm.Recv(doubles, 0, 4)
    assert np.array_equal(doubles.view(np.uint8), data(4))
    msg = comm.Mprobe(0, 5, st)
    assert st.Get_count(MPI.BYTE) == 2 * MiB
    got[:] = 0
    msg.Recv(got)
    assert np.array_equal(got, data(5))
    spread = np.zeros((2 * MiB, 2), np.uint8)  # every other byte
    pairs = MPI.BYTE.Create_vector(2 * MiB, 1, 2).Commit()
    comm.Recv([spread, 1, pairs], 0, 6)
    pairs.Free()
    assert np.array_equal(spread[:, 0], data(6))
    assert not spread[:, 1].any()
    shorts = np.zeros(2 * MiB, np.uint16)
    comm.Recv([shorts, MPI.UNSIGNED_SHORT], 0, 7, st)
    assert st.Get_count(MPI.UNSIGNED_SHORT) == 2 * MiB
    assert np.array_equal(shorts.view(np.uint8), data(7, 4 * MiB))
    strided = np.zeros(MiB // 4)
    comm.Recv(strided, 0, 8)
    assert np.array_equal(strided, data(8, 4 * MiB).view(np.float64)[::2])
    try:
        comm.Recv(np.zeros(MiB, np.uint8), 0, 9)
    except Exception as exc:  # as for any message longer than its receive
        assert "truncated" in str(exc), exc
    else:
        raise AssertionError("a 2 MiB message fit into 1 MiB")
    req = comm.Irecv(got, 0, 11)
    while not req.Test():
        pass
    assert np.array_equal(got, data(11))
    comm.Send(np.zeros(1), 0, 99)
comm.Barrier()
if rank == 0:
    print("rndv tour ok")
