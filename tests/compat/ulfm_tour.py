"""The ULFM calls of mpi4py 4 (Agree, Iagree, Shrink, Ishrink, Get_failed,
Ack_failed, Is_revoked, Revoke) in a job where no process has failed, on
an intracommunicator and an intercommunicator. Runs unchanged under mpi4py
on MPICH; prints one line on world rank 0. Run on 2 or more ranks."""

import contextlib
import struct

from mpi4py import MPI

world = MPI.COMM_WORLD
rank, size = world.Get_rank(), world.Get_size()
half = world.Split(rank % 2, rank)
inter = half.Create_intercomm(0, world, 1 - rank % 2, tag=11)

for comm in (world, inter):
    assert not comm.Is_revoked()
    failed = comm.Get_failed()
    assert MPI.Group.Compare(failed, MPI.GROUP_EMPTY) in (MPI.IDENT, MPI.CONGRUENT)
    failed.Free()
    assert comm.Ack_failed() == 0 and comm.Ack_failed(comm.Get_size()) == 0
    # the AND of every member's flag; of an intercommunicator, of the
    # remote group's members (as an intercommunicator's reduction)
    mine = 0b110 if rank == 0 else 0b011
    assert comm.Agree(0b111) == 0b111
    got = comm.Agree(mine)
    if not comm.Is_inter():
        assert got == 0b010
    else:  # the world's even ranks (rank 0 among them) form one group
        evens = 0b110 if size == 2 else 0b010  # rank 0's flag, and 0b011 from rank 2
        assert got == (0b011 if rank % 2 == 0 else evens), got
    flag = memoryview(bytearray(struct.calcsize("i"))).cast("i")
    flag[0] = -1 if rank else 0b1010
    comm.Iagree(flag).Wait()
    want = 0b1010 if not comm.Is_inter() or rank % 2 == 1 else -1
    assert flag[0] == want, (flag[0], want)
    shrunk = comm.Shrink()
    assert (shrunk.Get_size(), shrunk.Get_rank()) == (comm.Get_size(), comm.Get_rank())
    assert shrunk.Is_inter() == comm.Is_inter()
    shrunk.Free()
    shrunk, req = comm.Ishrink()
    req.Wait()
    assert not req and shrunk.Get_size() == comm.Get_size()
    shrunk.Free()

# a rank may start an agreement before a collective the others call first
flag = memoryview(bytearray(struct.calcsize("i"))).cast("i")
if rank == 0:
    flag[0] = 0b1011
    req = world.Iagree(flag)
    world.Barrier()
else:
    flag[0] = 0b1101
    world.Barrier()
    req = world.Iagree(flag)
req.Wait()
assert flag[0] == 0b1001

for bad, kind in ((0, TypeError), (bytearray(8), ValueError)):
    try:
        world.Iagree(bad)
        raise AssertionError(f"Iagree took {bad!r}")
    except kind:
        pass
with contextlib.suppress(NotImplementedError):  # (MPICH's and the layer's)
    world.Dup().Revoke()
inter.Free()
half.Free()
world.Barrier()
if rank == 0:
    print(f"ulfm tour ok on {size} ranks", flush=True)
