"""Sessions (MPI 4.0) as an mpi4py program: process sets, their info and
groups, communicators made from them, error handlers, and the errors of
the null session. Runs unchanged under mpi4py on MPICH; prints one line
on world rank 0."""

import pickle

from mpi4py import MPI

world = MPI.COMM_WORLD
session = MPI.Session.Init()
assert session and session != MPI.SESSION_NULL and MPI.Session(session) == session
names = [session.Get_nth_pset(i) for i in range(session.Get_num_psets())]
assert "mpi://WORLD" in names and "mpi://SELF" in names, names
info = session.Get_pset_info("mpi://WORLD")
assert info.Get("mpi_size") == str(world.Get_size())
info.Free()
assert session.Get_pset_info("mpi://SELF").Get("mpi_size") == "1"
session.Get_info().Free()

group = session.Create_group("mpi://WORLD")
assert (group.Get_size(), group.Get_rank()) == (world.Get_size(), world.Get_rank())
comm = MPI.Intracomm.Create_from_group(group, "org.example.session-tour")
assert comm.Get_size() == world.Get_size() and comm.Get_rank() == world.Get_rank()
assert comm.allreduce(1) == world.Get_size()
comm.Free()
group.Free()
one = MPI.Group.Create_from_session_pset(session, "mpi://SELF")
assert (one.Get_size(), one.Get_rank()) == (1, 0)
solo = MPI.Intracomm.Create_from_group(one)
assert solo.Get_size() == 1 and solo.bcast("me") == "me"
solo.Free()
one.Free()

seen = []
eh = MPI.Session.Create_errhandler(lambda s, code: seen.append(code))
session.Set_errhandler(eh)
session.Call_errhandler(MPI.ERR_OTHER)
assert seen == [MPI.ERR_OTHER]
session.Set_errhandler(MPI.ERRORS_RETURN)
eh.Free()
try:
    session.Get_pset_info("no://such-set")
    raise AssertionError("an unknown process set was accepted")
except MPI.Exception as exc:
    assert exc.Get_error_class() == MPI.ERR_ARG
try:
    pickle.dumps(session)
    raise AssertionError("a live session was pickled")
except ValueError:
    pass
assert pickle.loads(pickle.dumps(MPI.SESSION_NULL)) is MPI.SESSION_NULL
session.Finalize()
assert session == MPI.SESSION_NULL
for call, args in (
    (MPI.SESSION_NULL.Get_num_psets, ()),
    (MPI.SESSION_NULL.Create_group, ("mpi://SELF",)),
):
    try:
        call(*args)
        raise AssertionError("the null session was used")
    except MPI.Exception as exc:
        assert exc.Get_error_class() == MPI.ERR_SESSION
other = MPI.Session.Init()  # sessions come and go
other.Finalize()
world.Barrier()
if world.Get_rank() == 0:
    print(f"session tour ok on {world.Get_size()} ranks", flush=True)
