"""Two threads whose first MPI calls overlap (the world is joined by the
first call, not at import): one sends 4 MB to this rank itself, the
other receives them; then they swap roles on ``COMM_SELF``. Prints
``ok threads`` on every rank. Runs unchanged under MPICH's mpi4py."""

import threading

import numpy as np
from mpi4py import MPI

data = np.arange(1_000_000, dtype="i")
got = {name: np.zeros_like(data) for name in ("world", "self")}
start = threading.Event()


def send(comm_name):
    start.wait()
    comm = MPI.COMM_WORLD if comm_name == "world" else MPI.COMM_SELF
    comm.Send([data, MPI.INT], dest=comm.Get_rank(), tag=0)


def recv(comm_name):
    start.wait()
    comm = MPI.COMM_WORLD if comm_name == "world" else MPI.COMM_SELF
    comm.Recv([got[comm_name], MPI.INT], source=comm.Get_rank(), tag=0)


threads = [threading.Thread(target=f, args=(c,)) for c in ("world", "self") for f in (recv, send)]
for t in threads:
    t.start()
start.set()
for t in threads:
    t.join()
assert all((g == data).all() for g in got.values())
print("ok threads", flush=True)
