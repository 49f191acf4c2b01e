"""Ports within one job: the first half of the world accepts on a port
that its rank 0 opened, the second half connects, twice. Runs unchanged
under mpi4py on MPICH; rank 0 prints one line."""

from mpi4py import MPI

world = MPI.COMM_WORLD
wrank, wsize = world.Get_rank(), world.Get_size()
color = 0 if wrank < wsize // 2 else 1
local = world.Split(color, wrank)
port = MPI.Open_port() if wrank == 0 else None
port = world.bcast(port, root=0)
for _ in range(2):
    if color == 0:
        inter = local.Accept(port if local.Get_rank() == 0 else None, root=0)
    else:
        inter = local.Connect(port, root=0)
    assert inter.Is_inter()
    assert inter.Get_remote_size() == wsize - local.Get_size()
    got = inter.allgather(wrank)
    assert got == (list(range(wsize // 2, wsize)) if color == 0 else list(range(wsize // 2)))
    merged = inter.Merge(high=color == 1)
    assert merged.allgather(wrank) == list(range(wsize))
    merged.Free()
    inter.Disconnect()
    assert inter == MPI.COMM_NULL
if wrank == 0:
    MPI.Close_port(port)
world.Barrier()
if wrank == 0:
    print(f"ports ok on {wsize} ranks", flush=True)
