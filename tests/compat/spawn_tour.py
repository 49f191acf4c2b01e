"""Spawn from the whole world: ``Spawn`` with a root other than 0 and
``Spawn_multiple`` of two scripts, then point to point, collectives and
``Merge`` across the intercommunicators, large buffers (sent by descriptor
between processes of one host) among them. Rank 0 prints one line."""

import sys

import numpy as np
from mpi4py import MPI

MiB = 1 << 20


def big(seed: int) -> np.ndarray:
    return (np.arange(2 * MiB + 3, dtype=np.uint64) * (seed + 5) % 241).astype(np.uint8)


world = MPI.COMM_WORLD
wrank, wsize = world.Get_rank(), world.Get_size()

if len(sys.argv) > 1:  # a child: sys.argv[1] names its kind
    parent = MPI.Comm.Get_parent()
    assert parent.Is_inter() and parent.Get_rank() == wrank
    got = parent.bcast(None, root=1)
    parent.send((sys.argv[1], wrank, got), dest=wrank % parent.Get_remote_size(), tag=2)
    if sys.argv[1] == "one" and wrank == 0:  # large buffers both ways with parent 0
        parent.Send(big(1), dest=0, tag=5)
        got = np.zeros(2 * MiB + 3, np.uint8)
        parent.Recv(got, source=0, tag=6)
        assert np.array_equal(got, big(2))
    merged = parent.Merge(high=True)
    merged.allgather(sys.argv[1])
    if sys.argv[1] == "one" and wrank == 0:
        merged.Send(big(3), dest=0, tag=7)
    parent.Disconnect()
    sys.exit(0)

codes = []
inter = world.Spawn(sys.executable, [__file__, "one"], maxprocs=3, root=1, errcodes=codes)
assert (inter.Get_size(), inter.Get_remote_size(), codes) == (wsize, 3, [0, 0, 0])
inter.bcast({"n": 7} if wrank == 1 else None, root=MPI.ROOT if wrank == 1 else MPI.PROC_NULL)
heard = [inter.recv(source=j, tag=2) for j in range(3) if j % wsize == wrank]
assert heard == [("one", j, {"n": 7}) for j in range(3) if j % wsize == wrank], heard
if wrank == 0:
    got = np.zeros(2 * MiB + 3, np.uint8)
    inter.Recv(got, source=0, tag=5)
    assert np.array_equal(got, big(1))
    inter.Send(big(2), dest=0, tag=6)
merged = inter.Merge(high=False)
assert merged.Get_size() == wsize + 3 and merged.Get_rank() == wrank
kinds = merged.allgather("parent")
assert kinds == ["parent"] * wsize + ["one"] * 3, kinds
if wrank == 0:
    got = np.zeros(2 * MiB + 3, np.uint8)
    merged.Recv(got, source=wsize, tag=7)
    assert np.array_equal(got, big(3))
inter.Disconnect()

multi = world.Spawn_multiple(
    [sys.executable, sys.executable], [[__file__, "a"], [__file__, "b"]], [1, 2], root=0
)
multi.bcast("go" if wrank == 1 else None, root=MPI.ROOT if wrank == 1 else MPI.PROC_NULL)
heard = [multi.recv(source=j, tag=2) for j in range(3) if j % wsize == wrank]
kinds = ["a", "b", "b"]
assert heard == [(kinds[j], j, "go") for j in range(3) if j % wsize == wrank], (heard, wrank)
assert multi.Merge(high=False).allgather(None)[wsize:] == kinds
multi.Disconnect()
world.Barrier()
if wrank == 0:
    print(f"spawn tour ok on {wsize} parents", flush=True)
