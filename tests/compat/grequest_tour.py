"""Generalized requests under ``zmqmesh launch --mpi4py``: a thread does
the work and completes the request, which waits beside a receive."""

import threading

import numpy as np
from mpi4py import MPI

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
calls: list[str] = []


def query(status, what):  # type: ignore[no-untyped-def]
    calls.append(f"query {what}")
    status.Set_source(rank)
    status.Set_tag(11)
    status.Set_elements(MPI.DOUBLE, 3)


def free(what):  # type: ignore[no-untyped-def]
    calls.append(f"free {what}")


def cancel(completed, what):  # type: ignore[no-untyped-def]
    calls.append(f"cancel {completed} {what}")


# a thread computes, then completes the request; Waitall waits on it and on
# a receive from the next rank at once
result = np.zeros(3)
greq = MPI.Grequest.Start(query, free, cancel, args=("sum",))
assert not greq.Test()
worker = threading.Thread(target=lambda: (result.__setitem__(slice(None), rank), greq.Complete()))
got = np.zeros(1, "i")
recv = comm.Irecv(got, (rank + 1) % size, 5)
comm.Send(np.array([rank], "i"), (rank - 1) % size, 5)
worker.start()
statuses = [MPI.Status(), MPI.Status()]
MPI.Request.Waitall([greq, recv], statuses)
worker.join()
assert not greq
assert (result == rank).all()
assert got[0] == (rank + 1) % size
st = statuses[0]
assert (st.Get_source(), st.Get_tag(), st.Get_count(MPI.DOUBLE)) == (rank, 11, 3), st
assert calls == ["query sum", "free sum"], calls

# cancel tells whether it completed; the object of complete(obj) comes back
calls.clear()
greq = MPI.Grequest.Start(query, free, cancel, args=("obj",))
greq.Cancel()
greq.complete({"answer": 42})
greq.cancel()
flag, obj = greq.test()
assert flag
assert obj == {"answer": 42}
assert calls == ["cancel False obj", "cancel True obj", "query obj", "free obj"], calls

# no callbacks: an empty status
greq = MPI.Grequest.Start()
greq.Complete()
st = MPI.Status()
greq.Wait(st)
assert (st.Get_source(), st.Get_tag(), st.Get_error()) == (MPI.ANY_SOURCE, MPI.ANY_TAG, 0)


# a callback that raises: MPI.Exception, with its class or ERR_OTHER
def boom(*_args):  # type: ignore[no-untyped-def]
    raise ValueError("boom")


greq = MPI.Grequest.Start(boom)
greq.Complete()
try:
    greq.Wait()
except MPI.Exception as exc:
    assert exc.Get_error_class() == MPI.ERR_OTHER
else:
    raise AssertionError("no error")
try:
    MPI.Prequest(MPI.Grequest.Start())
except TypeError:
    pass
else:
    raise AssertionError("a Grequest is not a Prequest")
assert type(MPI.Request(greq)) is MPI.Request
comm.Barrier()
if rank == 0:
    print(f"grequest tour ok on {size} ranks")
