"""The rest of point to point on real ranks (run under launch --mpi4py on
2 or more ranks; ranks beyond 1 only take part in the barrier)."""

import numpy as np
from mpi4py import MPI

comm = MPI.COMM_WORLD
rank = comm.Get_rank()
done = []

# Issend completes only once the receiver has matched the message: rank 1
# matches tag 10 only after rank 0's "go" (tag 11), sent after the checks.
if rank == 0:
    req = comm.Issend(np.arange(3, dtype="i4"), dest=1, tag=10)
    assert not any(req.Test() for _ in range(20)), "Issend completed before the match"
    assert not req.Get_status()
    comm.send("go", dest=1, tag=11)
    req.Wait()
    assert req == MPI.REQUEST_NULL
    # a lower-case synchronous send, acknowledged by a plain recv
    r2 = comm.issend({"k": 1}, dest=1, tag=12)
    assert not any(r2.Test() for _ in range(5))
    comm.send("go", dest=1, tag=11)
    r2.wait()
    comm.Ssend([np.ones(2), MPI.DOUBLE], dest=1, tag=13)
    comm.ssend("plain", dest=1, tag=14)
    done.append("ssend")
elif rank == 1:
    assert comm.recv(source=0, tag=11) == "go"
    got = np.zeros(3, "i4")
    st = MPI.Status()
    comm.Probe(source=0, tag=10, status=st)
    assert st.Get_count(MPI.INT) == 3, st.Get_count(MPI.INT)
    comm.Recv(got, source=0, tag=10, status=st)
    assert got.tolist() == [0, 1, 2] and st.Get_count(MPI.INT) == 3
    assert comm.recv(source=0, tag=11) == "go"
    assert comm.recv(source=0, tag=12) == {"k": 1}
    two = np.zeros(2)
    comm.Irecv(two, source=0, tag=13).Wait()
    assert two.tolist() == [1.0, 1.0]
    assert comm.recv(source=0, tag=14) == "plain"
    done.append("ssend")

# ready sends are standard sends
if rank == 0:
    comm.Rsend(np.full(2, 7, "i8"), dest=1, tag=15)
    comm.Irsend(np.full(2, 8, "i8"), dest=1, tag=16).Wait()
elif rank == 1:
    a, b = np.zeros(2, "i8"), np.zeros(2, "i8")
    comm.Recv(a, 0, 15)
    comm.Recv(b, 0, 16)
    assert a.tolist() == [7, 7] and b.tolist() == [8, 8]

# buffered sends and the attached buffer's accounting
if rank == 0:
    space = bytearray(64 + MPI.BSEND_OVERHEAD)
    MPI.Attach_buffer(space)
    try:
        MPI.Attach_buffer(bytearray(10))
        raise AssertionError("a second buffer attached")
    except MPI.Exception as exc:
        assert exc.Get_error_class() == MPI.ERR_BUFFER
    try:
        comm.Bsend(np.zeros(65, "u1"), dest=1, tag=17)
        raise AssertionError("an oversized Bsend was accepted")
    except MPI.Exception as exc:
        assert exc.Get_error_class() == MPI.ERR_BUFFER, exc
        assert "Insufficient space in Bsend buffer" in str(exc)
    msg = np.arange(64, dtype="u1")
    comm.Bsend(msg, dest=1, tag=17)
    msg[:] = 0  # the bytes were copied at the call
    assert MPI.Detach_buffer() is space
    MPI.Attach_buffer(MPI.buffer.allocate(1 << 16))
    comm.Ibsend(np.full(3, 5.0), dest=1, tag=18).Wait()
    comm.bsend(["obj"], dest=1, tag=19)
    pb = comm.Bsend_init(np.full(1, 9, "i4"), dest=1, tag=20)
    pb.Start()
    pb.Wait()
    pb.Free()
    MPI.Detach_buffer()
elif rank == 1:
    got = np.zeros(64, "u1")
    comm.Recv(got, 0, 17)
    assert got.tolist() == list(range(64))
    f = np.zeros(3)
    comm.Recv(f, 0, 18)
    assert f.tolist() == [5.0] * 3
    assert comm.recv(source=0, tag=19) == ["obj"]
    one = np.zeros(1, "i4")
    comm.Recv(one, 0, 20)
    assert one[0] == 9

# persistent requests: three rounds, the send buffer read at each Start
if rank in (0, 1):
    other = 1 - rank
    out = np.zeros(2, "i4")
    into = np.zeros(2, "i4")
    reqs = [
        comm.Send_init(out, dest=other, tag=21),
        comm.Recv_init(into, source=other, tag=21),
        comm.Ssend_init([out, 1, MPI.INT], dest=other, tag=22),
        comm.Recv_init([into, 1, MPI.INT], source=other, tag=22),
        comm.Rsend_init(out, dest=other, tag=23),
        comm.Recv_init(np.zeros(2, "i4"), source=other, tag=23),
    ]
    assert all(isinstance(r, MPI.Prequest) for r in reqs)
    for step in range(3):
        out[:] = 10 * step + rank
        MPI.Prequest.Startall(reqs[:2])
        MPI.Request.Waitall(reqs[:2])
        assert into.tolist() == [10 * step + other] * 2, into
        assert all(reqs[:2]), "a persistent request became null"
        assert reqs[0].Test() and reqs[1].Wait()  # inactive: at once
    for r in reqs[2:]:
        r.Start()
    MPI.Request.Waitall(reqs[2:])
    try:
        reqs[0].Start()
        reqs[0].Start()
        raise AssertionError("an active request started again")
    except MPI.Exception as exc:
        assert exc.Get_error_class() == MPI.ERR_REQUEST
    reqs[0].Wait()
    reqs[1].Start()
    reqs[1].Wait()
    for r in reqs:
        r.Free()
    assert not any(reqs)

# matched probe: the message taken is no other receive's
if rank == 0:
    comm.send("first", dest=1, tag=24)
    comm.send("second", dest=1, tag=24)
    comm.Send(np.arange(5, dtype="f8"), dest=1, tag=25)
    comm.Ssend(np.arange(2, dtype="i4"), dest=1, tag=26)  # acknowledged by the mprobe
    comm.send("last", dest=1, tag=27)
elif rank == 1:
    m = comm.mprobe(source=0, tag=24)
    assert comm.recv(source=0, tag=24) == "second"
    assert m.recv() == "first"
    assert m == MPI.MESSAGE_NULL and not m
    st = MPI.Status()
    m = comm.Mprobe(source=MPI.ANY_SOURCE, tag=25, status=st)
    assert (st.Get_source(), st.Get_tag(), st.Get_count(MPI.DOUBLE)) == (0, 25, 5)
    five = np.zeros(5)
    m.Recv(five, status=st)
    assert five.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0] and st.Get_count(MPI.DOUBLE) == 5
    m = None
    while m is None:
        m = comm.Improbe(source=0, tag=26)
    two = np.zeros(2, "i4")
    m.Irecv(two).Wait()
    assert two.tolist() == [0, 1]
    m = MPI.Message.probe(comm, source=0, tag=27)
    assert m.irecv().wait() == "last"
    assert comm.improbe(source=0, tag=999) is None
    nop = comm.mprobe(source=MPI.PROC_NULL, status=st)
    assert nop == MPI.MESSAGE_NO_PROC and st.Get_source() == MPI.PROC_NULL
    assert nop.recv(st) is None and st.Get_source() == MPI.PROC_NULL

# Cancel: a receive that never matches is withdrawn; a send is not
if rank == 1:
    st = MPI.Status()
    never = comm.Irecv(np.zeros(1), source=0, tag=998)
    never.Cancel()
    never.Wait(st)
    assert st.Is_cancelled()
    assert never == MPI.REQUEST_NULL
    r = comm.irecv(source=0, tag=28)
    while not r.Get_status():  # completes without being consumed
        pass
    st = MPI.Status()
    assert r.Get_status(st) and st.Get_tag() == 28 and r  # still not completed
    r.Cancel()  # too late: it has matched
    assert r.wait(st) == "cancel me not" and not st.Is_cancelled()
elif rank == 0:
    comm.send("cancel me not", dest=1, tag=28)

# Sendrecv_replace around a ring
buf = np.full(4, rank, "i8")
size = comm.Get_size()
st = MPI.Status()
comm.Sendrecv_replace(
    buf, dest=(rank + 1) % size, sendtag=29, source=(rank - 1) % size, recvtag=29, status=st
)
assert buf.tolist() == [(rank - 1) % size] * 4 and st.Get_source() == (rank - 1) % size
assert st.Get_count(MPI.INT64_T) == 4

comm.Barrier()
if rank == 0:
    print(f"p2p tour ok on {size} ranks")
