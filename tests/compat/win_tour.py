"""One-sided communication on n ranks (n >= 2): fence epochs with Put, Get
and Accumulate on NumPy arrays and derived datatypes, a lock-based
counter (nxtval), shared-lock readers, PSCW, Allocate_shared,
request-based operations, dynamic windows, the window's attributes, and
misuse raising the matching error class (the range only under zmqmesh:
MPICH does not check it at the origin). Prints one ``ok`` line per part
on rank 0; runs unchanged under MPICH's mpi4py."""

import numpy as np
from mpi4py import MPI

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
right, left = (rank + 1) % size, (rank - 1) % size


def report(part):
    comm.Barrier()
    if rank == 0:
        print("ok", part, flush=True)


def error_class(call):
    """The error class ``call()`` raises as ``MPI.Exception``."""
    try:
        call()
    except MPI.Exception as exc:
        return exc.Get_error_class()
    raise AssertionError("no MPI.Exception")


# -- fence: Put, Get, Accumulate -------------------------------------------------------------
mem = np.zeros(16, "d")
win = MPI.Win.Create(mem, MPI.DOUBLE.Get_size(), comm=comm)
assert win.Get_attr(MPI.WIN_DISP_UNIT) == 8 and win.Get_attr(MPI.WIN_SIZE) == mem.nbytes
assert win.flavor == MPI.WIN_FLAVOR_CREATE and win.model in (MPI.WIN_UNIFIED, MPI.WIN_SEPARATE)
assert win.attrs == (MPI.Get_address(mem), mem.nbytes, 8)
assert MPI.Group.Compare(win.Get_group(), comm.Get_group()) == MPI.IDENT
win.Set_name("grid")
assert win.Get_name() == "grid" and win.name == "grid"
assert MPI.Win.fromhandle(win.handle) == win and MPI.WIN_NULL.Get_name() == "MPI_WIN_NULL"
assert len(win.tomemory()) == mem.nbytes and MPI.Get_address(win.tomemory()) == win.attrs[0]
win.Fence()
win.Put(np.full(4, rank + 1.0), right, 2)  # doubles 2..5 of the right neighbour
win.Fence()
assert (mem[2:6] == left + 1.0).all() and mem[:2].sum() == 0 and mem[6:].sum() == 0
got = np.zeros(4)
win.Get(got, left, [2, 4, MPI.DOUBLE])
win.Fence()
assert (got == ((left - 1) % size) + 1.0).all(), got
mem[:] = 0
win.Fence()
for op in (MPI.SUM, MPI.MAX):
    win.Accumulate(np.arange(3, dtype="d") + rank, 0, [8, 3, MPI.DOUBLE], op=op)
win.Fence()
if rank == 0:
    want = sum(np.arange(3) + r for r in range(size)) + 0
    want = np.maximum(want, np.arange(3) + size - 1)
    assert (mem[8:11] == want).all(), (mem[8:11], want)
win.Fence(MPI.MODE_NOSUCCEED)
win.Free()
assert win == MPI.WIN_NULL
report("fence put get accumulate")

# -- derived datatypes at origin and target --------------------------------------------------
grid = np.zeros((4, 4), "i4")
win = MPI.Win.Create(grid, 4, comm=comm)
column = MPI.INT.Create_vector(4, 1, 4).Commit()
win.Fence()
if rank == 0:
    for t in range(size):
        win.Put(np.array([t, t + 1, t + 2, t + 3], "i4"), t, [1, 1, column])  # column 1
win.Fence()
assert (grid[:, 1] == np.arange(4) + rank).all(), grid
assert grid.sum() == (np.arange(4) + rank).sum()
strided, every_other = np.zeros(8, "i4"), MPI.INT.Create_vector(4, 1, 2).Commit()
win.Get([strided, 1, every_other], right, [1, 1, column])
win.Fence()
assert (strided[::2] == np.arange(4) + right).all() and (strided[1::2] == 0).all()
win.Accumulate(np.ones(4, "i4"), right, [1, 1, column], op=MPI.SUM)
win.Fence()
assert (grid[:, 1] == np.arange(4) + rank + 1).all()
column.Free()
every_other.Free()
win.Free()
report("derived datatypes")

# -- nxtval: a counter at rank 0 drawn under an exclusive lock --------------------------------
counter = MPI.Win.Allocate(8 if rank == 0 else 0, 8, comm=comm)
if rank == 0:
    np.frombuffer(counter.tomemory(), "i8")[:] = 0
comm.Barrier()
one, drawn, ids = np.ones(1, "i8"), np.zeros(1, "i8"), []
for i in range(25):
    counter.Lock(0, MPI.LOCK_EXCLUSIVE)
    if i % 2:
        counter.Get_accumulate(one, drawn, 0, [0, 1, MPI.INT64_T], op=MPI.SUM)
    else:
        counter.Fetch_and_op(one, drawn, 0, 0, op=MPI.SUM)
    counter.Unlock(0)
    ids.append(int(drawn[0]))
every = sorted(i for part in comm.allgather(ids) for i in part)
assert every == list(range(25 * size)), every
counter.Free()
report("nxtval counter")

# -- shared-lock readers, an exclusive writer between them ------------------------------------
data = np.full(8, rank, "i8")
win = MPI.Win.Create(data, 8, comm=comm)
seen = np.zeros(8, "i8")
for t in range(size):
    win.Lock(t, MPI.LOCK_SHARED)
    win.Get(seen, t)
    win.Flush(t)
    assert (seen == t).all()
    win.Unlock(t)
comm.Barrier()
win.Lock(right, MPI.LOCK_EXCLUSIVE)
win.Put(np.full(8, 100 + rank, "i8"), right)
win.Unlock(right)
comm.Barrier()
assert (data == 100 + left).all()
win.Lock_all()
for t in range(size):
    win.Get(seen, t)
    win.Flush_local(t)
    assert (seen == 100 + (t - 1) % size).all()
win.Flush_all()
win.Unlock_all()
win.Free()
report("shared locks")

# -- PSCW: each rank exposes to its left neighbour and writes to its right --------------------
box = np.zeros(2, "d")
win = MPI.Win.Create(box, 8, comm=comm)
world = comm.Get_group()
to_right, from_left = world.Incl([right]), world.Incl([left])
for step in range(3):
    win.Post(from_left)
    win.Start(to_right)
    win.Put(np.array([step, rank], "d"), right)
    win.Complete()
    win.Wait()
    assert list(box) == [step, left], box
win.Post(from_left)
win.Start(to_right)
win.Accumulate(np.ones(2), right, op=MPI.SUM)
win.Complete()
while not win.Test():
    pass
assert list(box) == [3, left + 1]
others = world.Excl([0])
if rank == 0:  # one target, every other rank an origin
    box[:] = 0
    win.Post(others)
    win.Wait()
    assert list(box) == [size - 1, sum(range(size))], box
else:
    win.Start(world.Incl([0]))
    win.Accumulate(np.array([1.0, rank]), 0, op=MPI.SUM)
    win.Complete()
win.Free()
report("post start complete wait")

# -- Allocate_shared: every rank writes its part, every rank reads them all -------------------
node = comm.Split_type(MPI.COMM_TYPE_SHARED)
nrank, nsize = node.Get_rank(), node.Get_size()
win = MPI.Win.Allocate_shared(4 * 8, 8, comm=node)
mine = np.frombuffer(win.tomemory(), "i8")
assert win.flavor == MPI.WIN_FLAVOR_SHARED
win.Lock_all()
mine[:] = 10 * nrank + np.arange(4)
win.Sync()
node.Barrier()
win.Sync()
for r in range(nsize):
    mem_r, unit = win.Shared_query(r)
    assert unit == 8 and len(mem_r) == 32
    assert (np.frombuffer(mem_r, "i8") == 10 * r + np.arange(4)).all()
node.Barrier()
theirs = np.frombuffer(win.Shared_query((nrank + 1) % nsize)[0], "i8")
theirs[0] = -1 - nrank  # a store into the next rank's part
win.Sync()
node.Barrier()
win.Sync()
assert mine[0] == -1 - (nrank - 1) % nsize
win.Unlock_all()
win.Free()
node.Free()
report("allocate shared")

# -- request-based operations ----------------------------------------------------------------
buf = np.zeros(8, "f4")
win = MPI.Win.Create(buf, 4, comm=comm)
win.Lock_all()
spot = 2 * (rank % 3)  # where this rank writes at its right neighbour
reqs = [win.Rput(np.full(2, rank, "f4"), right, [spot, 2, MPI.FLOAT])]
reqs.append(win.Raccumulate(np.ones(1, "f4"), left, [7, 1, MPI.FLOAT], op=MPI.SUM))
MPI.Request.Waitall(reqs)
win.Flush_all()
comm.Barrier()
out, old = np.zeros(2, "f4"), np.zeros(1, "f4")
r1 = win.Rget(out, right, [spot, 2, MPI.FLOAT])
r2 = win.Rget_accumulate(np.zeros(1, "f4"), old, right, [7, 1, MPI.FLOAT], op=MPI.NO_OP)
r1.Wait()
while not r2.Test():
    pass
assert (out == rank).all(), out
assert old[0] == 1, old
win.Unlock_all()
win.Free()
report("request-based")

# -- dynamic windows: memory attached later, displacements are addresses ----------------------
win = MPI.Win.Create_dynamic(comm=comm)
region = np.zeros(4, "i8")
win.Attach(region)
where = comm.allgather(MPI.Get_address(region))
win.Fence()
win.Put(np.array([rank], "i8"), right, [where[right] + 8, 1, MPI.INT64_T])
win.Fence()
assert list(region) == [0, left, 0, 0]
win.Fence(MPI.MODE_NOSUCCEED)
if "zmqmesh" in MPI.Get_library_version():  # checked at the target, raised by Unlock
    win.Lock(right)
    win.Put(np.ones(1, "i8"), right, [where[right] + 32, 1, MPI.INT64_T])
    assert error_class(lambda: win.Unlock(right)) == MPI.ERR_RMA_RANGE
win.Detach(region)
assert win.flavor == MPI.WIN_FLAVOR_DYNAMIC and win.attrs[:2] == (0, 0)
assert MPI.Get_address(win.tomemory()) == 0 and len(win.tomemory()) == 0  # MPI_BOTTOM
win.Free()
report("dynamic")

# -- compare and swap: one winner per round ---------------------------------------------------
flag = np.zeros(1, "i4")
win = MPI.Win.Create(flag, 4, comm=comm)
before = np.zeros(1, "i4")
win.Lock(0)
win.Compare_and_swap(np.array([rank + 1], "i4"), np.zeros(1, "i4"), before, 0, 0)
win.Unlock(0)
winners = comm.allgather(int(before[0]) == 0)
assert winners.count(True) == 1, winners
win.Free()
report("compare and swap")

# -- misuse raises its error class -----------------------------------------------------------
mem = np.zeros(4, "i4")
win = MPI.Win.Create(mem, 4, comm=comm)
one = np.ones(1, "i4")
assert error_class(lambda: win.Put(one, right)) == MPI.ERR_RMA_SYNC  # no epoch yet
assert error_class(lambda: win.Unlock(right)) == MPI.ERR_RMA_SYNC
assert error_class(lambda: win.Complete()) == MPI.ERR_RMA_SYNC
assert error_class(lambda: win.Wait()) == MPI.ERR_RMA_SYNC
assert error_class(lambda: win.Unlock_all()) == MPI.ERR_RMA_SYNC
assert error_class(lambda: win.Flush(right)) == MPI.ERR_RMA_SYNC
win.Lock(right)
assert error_class(lambda: win.Lock(right)) == MPI.ERR_RMA_SYNC
assert error_class(lambda: win.Put(one, size)) == MPI.ERR_RANK
if "zmqmesh" in MPI.Get_library_version():  # MPICH does not check the range at the origin
    assert error_class(lambda: win.Put(one, right, 4)) == MPI.ERR_RMA_RANGE
    assert error_class(lambda: win.Get(np.ones(5, "i4"), right)) == MPI.ERR_RMA_RANGE
win.Put(one, right, 3)
win.Unlock(right)
if "zmqmesh" in MPI.Get_library_version():  # one rank's bad size: every rank raises, none waits
    bad = -1 if rank == size - 1 else 8
    assert error_class(lambda: MPI.Win.Allocate(bad, comm=comm)) == MPI.ERR_SIZE
    assert error_class(lambda: MPI.Win.Allocate_shared(bad, comm=comm)) == MPI.ERR_SIZE
comm.Barrier()
assert list(mem) == [0, 0, 0, 1]
win.Free()
report("errors")
