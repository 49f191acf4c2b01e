"""Intercommunicators, as an mpi4py program: the even and the odd ranks of
the world as two groups (uneven at 3 ranks), every call checked. Runs
unchanged under mpi4py on MPICH; prints one line on world rank 0."""

import numpy as np
from mpi4py import MPI
from mpi4py.util import pkl5

world = MPI.COMM_WORLD
wrank, wsize = world.Get_rank(), world.Get_size()
color = wrank % 2
local = world.Split(color, wrank)
inter = local.Create_intercomm(0, world, 1 - color, tag=7)
me, size, rsize = inter.Get_rank(), inter.Get_size(), inter.Get_remote_size()
evens, odds = list(range(0, wsize, 2)), list(range(1, wsize, 2))
mine, theirs = (evens, odds) if color == 0 else (odds, evens)

assert inter.Is_inter() and inter.is_inter and not inter.Is_intra()
assert not local.Is_inter() and local.Is_intra()
assert (size, rsize, inter.remote_size) == (len(mine), len(theirs), len(theirs))
assert inter.Get_remote_group().Get_size() == rsize
assert inter.Get_group().Get_rank() == me and inter.Get_remote_group().Get_rank() == MPI.UNDEFINED
wgroup = world.Get_group()
assert MPI.Group.Translate_ranks(inter.Get_remote_group(), list(range(rsize)), wgroup) == theirs
assert isinstance(inter, MPI.Intercomm)

# -- point to point: ranks name the remote group ---------------------------------------------
for j in range(rsize):
    inter.send((color, me), dest=j, tag=3)
seen = set()
for _ in range(rsize):
    st = MPI.Status()
    got = inter.recv(source=MPI.ANY_SOURCE, tag=3, status=st)
    assert got == (1 - color, st.Get_source()), (got, st.Get_source())
    seen.add(st.Get_source())
assert seen == set(range(rsize))

peer = me % rsize  # a remote rank to pair with; every remote rank hears from someone
out = np.full(4, 10 * wrank, dtype="i")
reqs = [inter.Isend([out, MPI.INT], dest=peer, tag=4)]
inbox = {}
for j in range(rsize):
    # remote rank j sent to (j % size): receive what was sent to me
    if j % size == me:
        buf = np.zeros(4, dtype="i")
        inter.Recv([buf, MPI.INT], source=j, tag=4)
        inbox[j] = int(buf[0])
MPI.Request.Waitall(reqs)
assert inbox == {j: 10 * theirs[j] for j in range(rsize) if j % size == me}, inbox

if me < min(size, rsize):  # pairs: local i with remote i
    got = inter.sendrecv(("pair", wrank), dest=me, sendtag=5, source=me, recvtag=5)
    assert got == ("pair", theirs[me])
    a = np.arange(3, dtype="d") + wrank
    b = np.empty(3, dtype="d")
    inter.Sendrecv(a, dest=me, sendtag=6, recvbuf=b, source=me, recvtag=6)
    assert (b == np.arange(3) + theirs[me]).all()
    # large buffers (by descriptor on one host, copied from both ends):
    # the lower world rank of a pair sends first, so no pair deadlocks
    big = (np.arange((2 << 20) + 7, dtype=np.uint64) * (wrank + 3) % 239).astype(np.uint8)
    into = np.zeros_like(big)
    if wrank < theirs[me]:
        inter.Send(big, dest=me, tag=9)
        MPI.Request.Waitall([inter.Irecv(into, source=me, tag=9)])
    else:
        MPI.Request.Waitall([inter.Irecv(into, source=me, tag=9)])
        inter.Send(big, dest=me, tag=9)
    want = (np.arange((2 << 20) + 7, dtype=np.uint64) * (theirs[me] + 3) % 239).astype(np.uint8)
    assert np.array_equal(into, want)
    sync = inter.issend("sync", dest=me, tag=8)
    st = MPI.Status()
    inter.probe(source=me, tag=8, status=st)
    assert st.Get_source() == me
    assert inter.iprobe(source=me, tag=8)
    msg = inter.mprobe(source=MPI.ANY_SOURCE, tag=8, status=st)
    assert st.Get_source() == me and msg.recv() == "sync"
    sync.wait()
    r = inter.irecv(source=me, tag=9)
    inter.isend(wrank, dest=me, tag=9).wait()
    assert r.wait() == theirs[me]

# -- rooted collectives, both root forms, each group the root's in turn -----------------------
for rooting in (0, 1):
    root = (MPI.ROOT if me == 0 else MPI.PROC_NULL) if color == rooting else 0
    sender = color == rooting and me == 0
    got = inter.bcast({"from": wrank} if sender else None, root=root)
    assert got == (None if color == rooting else {"from": theirs[0]}), got
    buf = np.arange(5, dtype="i") * 7 if sender else np.zeros(5, dtype="i")
    inter.Bcast([buf, MPI.INT], root=root)
    assert (buf == (np.arange(5) * 7 if color != rooting or sender else 0)).all()

    got = inter.gather(wrank * 2, root=root)
    assert got == ([2 * r for r in theirs] if sender else None), got
    recv = np.full((rsize, 2), -1, dtype="l") if sender else None
    inter.Gather(np.array([wrank, -wrank], dtype="l"), recv, root=root)
    if sender:
        assert (recv == np.array([[r, -r] for r in theirs])).all()
    counts = [j + 1 for j in range(rsize)]
    rv = np.zeros(sum(counts), dtype="d") if sender else None
    mine_n = me + 1
    spec = [rv, counts, MPI.DOUBLE] if sender else None
    inter.Gatherv(np.full(mine_n, float(wrank)), spec, root=root)
    if sender:
        want = np.concatenate([np.full(c, float(theirs[j])) for j, c in enumerate(counts)])
        assert (rv == want).all(), rv

    got = inter.scatter([f"to{j}" for j in range(rsize)] if sender else None, root=root)
    assert got == (None if color == rooting else f"to{me}"), got
    sbuf = np.arange(rsize * 3, dtype="f") if sender else None
    rbuf = np.zeros(3, dtype="f")
    inter.Scatter(sbuf, rbuf, root=root)
    if color != rooting:
        assert (rbuf == np.arange(3 * me, 3 * me + 3)).all()
    sv = [np.arange(sum(counts), dtype="i"), counts, MPI.INT] if sender else None
    rv2 = np.zeros(mine_n, dtype="i")
    inter.Scatterv(sv, rv2, root=root)
    if color != rooting:
        start = sum(range(1, me + 1))
        assert (rv2 == np.arange(start, start + mine_n)).all(), rv2

    got = inter.reduce(wrank + 1, op=MPI.SUM, root=root)
    assert got == (sum(r + 1 for r in theirs) if sender else None), got
    red = np.zeros(2, dtype="d")
    inter.Reduce(np.array([wrank, 1.0]), red if sender else None, op=MPI.MAX, root=root)
    if sender:
        assert (red == [max(theirs), 1.0]).all(), red
    inter.Barrier()

# -- exchanges between the groups ------------------------------------------------------------
assert inter.allgather(wrank) == theirs
assert inter.alltoall([(wrank, j) for j in range(rsize)]) == [(r, me) for r in theirs]
assert inter.allreduce(wrank, op=MPI.SUM) == sum(theirs)
ag = np.zeros(rsize, dtype="i")
inter.Allgather(np.array([wrank], dtype="i"), ag)
assert list(ag) == theirs
at = np.zeros(rsize, dtype="i")
inter.Alltoall(np.array([100 * wrank + j for j in range(rsize)], dtype="i"), at)
assert list(at) == [100 * r + me for r in theirs]
ar = np.zeros(3, dtype="d")
inter.Allreduce(np.full(3, float(wrank)), ar, op=MPI.SUM)
assert (ar == sum(theirs)).all()
counts = [j + 1 for j in range(rsize)]
agv = np.zeros(sum(counts), dtype="i")
inter.Allgatherv(np.full(me + 1, wrank, dtype="i"), [agv, counts, MPI.INT])
assert list(agv) == [r for j, r in enumerate(theirs) for _ in range(j + 1)]
sc = [2] * rsize
avs = np.array([wrank] * (2 * rsize), dtype="i")
avr = np.zeros(2 * rsize, dtype="i")
inter.Alltoallv([avs, sc, MPI.INT], [avr, sc, MPI.INT])
assert list(avr) == [r for r in theirs for _ in range(2)]
# each group's send buffers hold 4 items, scattered over the other group
each = 4 // size
rsb = np.zeros(each, dtype="i")
inter.Reduce_scatter_block(np.arange(4, dtype="i") + wrank, rsb, op=MPI.SUM)
assert list(rsb) == [rsize * k + sum(theirs) for k in range(me * each, me * each + each)], rsb
rs = np.zeros(4 // size, dtype="i")
inter.Reduce_scatter(np.arange(4, dtype="i") * wrank, rs, [each] * size, op=MPI.SUM)
assert list(rs) == [k * sum(theirs) for k in range(me * each, me * each + each)], rs

# -- nonblocking forms, several in flight ----------------------------------------------------
b1, ones = np.zeros(2, dtype="d"), np.full(2, 1.0)
r1 = inter.Iallreduce(ones, b1, op=MPI.SUM)
root = 0 if color == 1 else (MPI.ROOT if me == 0 else MPI.PROC_NULL)
b2 = np.array([3.0, 4.0]) if (color == 0 and me == 0) else np.zeros(2)
r2 = inter.Ibcast(b2, root=root)
r3 = inter.Ibarrier()
MPI.Request.Waitall([r3, r2, r1])
assert (b1 == rsize).all(), (b1, rsize, wrank)
assert (b2 == ([3.0, 4.0] if color == 1 or me == 0 else 0)).all()

# -- new communicators -----------------------------------------------------------------------
dup = inter.Dup()
assert dup.Is_inter() and dup.Get_remote_size() == rsize
assert inter.Compare(dup) == MPI.CONGRUENT and inter.Compare(inter) == MPI.IDENT
assert inter.Compare(local) == MPI.UNEQUAL
assert dup.allgather(me) == list(range(rsize))
dup.Free()

lo = inter.Merge(high=color == 1)  # the evens first
assert lo.Get_size() == wsize and not lo.Is_inter()
assert lo.allgather(wrank) == evens + odds
hi = inter.Merge(high=color == 0)  # the odds first
assert hi.allgather(wrank) == odds + evens
assert hi.Get_rank() == (len(odds) + me if color == 0 else me)

half = inter.Split(color=me % 2, key=-me)
if rsize <= me % 2:  # no remote rank of this colour
    assert half == MPI.COMM_NULL
else:
    assert half.Is_inter()
    assert half.allgather(wrank) == [r for j, r in enumerate(theirs) if j % 2 == me % 2][::-1]
    half.Free()
sub = inter.Create(inter.Get_group().Incl([0]))
if me == 0:
    assert sub.Get_size() == 1 and sub.Get_remote_size() == 1
    assert sub.bcast(wrank if color == 0 else None, root=MPI.ROOT if color == 0 else 0) == (
        None if color == 0 else 0
    )
    sub.Free()
else:
    assert sub == MPI.COMM_NULL

# -- pkl5 over the intercommunicator ----------------------------------------------------------
big = pkl5.Intercomm(inter)
assert big.Is_inter()
assert big.allgather(np.full(2, wrank)) is not None
root = MPI.ROOT if (color == 0 and me == 0) else (MPI.PROC_NULL if color == 0 else 0)
got = big.bcast(np.arange(4) if root == MPI.ROOT else None, root=root)
assert (got == np.arange(4)).all() if color == 1 else got is None
if me < min(size, rsize):
    big.send({"x": np.ones(3) * wrank}, dest=me, tag=11)
    assert (big.recv(source=me, tag=11)["x"] == theirs[me]).all()

assert MPI.Comm.Get_parent() == MPI.COMM_NULL
inter.Free()
local.Free()
world.Barrier()
if wrank == 0:
    print(f"inter tour ok on {wsize} ranks ({len(evens)} + {len(odds)})", flush=True)
