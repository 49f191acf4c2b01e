"""mpi4py's Spawn in a job across hosts: the world spawns ``N`` children
(argv[1]) where the launcher places them, then ``N`` on the host that
the ``host`` info key names (argv[2]); each child reports the host it
runs on (its ``ZMQMESH_HOST``) and its network namespace, and the world's
rank 0 prints one ``placed`` line per spawn. With a ``-`` host the second
spawn names a host the job does not have and must raise ERR_SPAWN."""

import os
import sys

from mpi4py import MPI

parent = MPI.Comm.Get_parent()
if parent != MPI.COMM_NULL:  # a child
    where = (os.environ.get("ZMQMESH_HOST", ""), os.readlink("/proc/self/ns/net"))
    parent.gather(where, root=0)
    parent.Disconnect()
    sys.exit(0)

world = MPI.COMM_WORLD
n, host = int(sys.argv[1]), sys.argv[2]


def spawn(info):
    kids = world.Spawn(sys.executable, [os.path.abspath(__file__)], maxprocs=n, info=info)
    got = kids.gather(None, root=MPI.ROOT if world.Get_rank() == 0 else MPI.PROC_NULL)
    kids.Disconnect()
    return got


first = spawn(MPI.INFO_NULL)
if world.Get_rank() == 0:
    print("placed", " ".join(f"{h}={ns}" for h, ns in first), flush=True)
info = MPI.Info.Create()
info.Set("host", "nowhere.invalid" if host == "-" else host)
try:
    second = spawn(info)
except MPI.Exception as exc:
    assert exc.Get_error_class() == MPI.ERR_SPAWN
    print("refused", world.Get_rank(), str(exc).splitlines()[0], flush=True)
else:
    if world.Get_rank() == 0:
        print("placed", " ".join(f"{h}={ns}" for h, ns in second), flush=True)
