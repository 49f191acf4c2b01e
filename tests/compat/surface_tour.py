"""mpi4py's buffer kinds and module surface on real ranks: run under
``zmqmesh launch --mpi4py -n N``; rank 0 prints ``surface tour ok`` when
every check passed. Written from mpi4py's documentation: buffers may be
objects with the buffer protocol, DLPack exporters or objects with
``__cuda_array_interface__``, whose memory is used in place."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from mpi4py import MPI

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
peer_to, peer_from = (rank + 1) % size, (rank - 1) % size


class DLPackOnly:
    """Memory offered only through DLPack (no buffer protocol)."""

    def __init__(self, arr: np.ndarray[Any, Any]) -> None:
        self.arr = arr

    def __dlpack__(self, **kwargs: Any) -> Any:
        return self.arr.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> Any:
        return self.arr.__dlpack_device__()


class CAIOnly:
    """Memory offered only through ``__cuda_array_interface__``."""

    def __init__(self, arr: np.ndarray[Any, Any], **extra: Any) -> None:
        self.arr = arr
        self.__cuda_array_interface__ = {
            "data": (arr.ctypes.data, not arr.flags.writeable),
            "typestr": arr.dtype.str,
            "shape": arr.shape,
            "strides": None,
            "version": 3,
            **extra,
        }


def expect(exc: type[BaseException], fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except exc:
        return
    raise AssertionError(f"{fn} did not raise {exc.__name__}")


# DLPack: the receive lands in the exporter's own memory
src = np.arange(5, dtype="i4") + 10 * rank
dst = np.zeros(5, dtype="i4")
comm.Sendrecv(DLPackOnly(src), peer_to, 1, DLPackOnly(dst), peer_from, 1)
assert dst.tolist() == (np.arange(5) + 10 * peer_from).tolist(), dst
assert MPI.Get_address(DLPackOnly(dst)) == dst.ctypes.data

# CUDA array interface, taken as host memory; errors as mpi4py raises them
dst[:] = 0
comm.Sendrecv(CAIOnly(src), peer_to, 2, CAIOnly(dst), peer_from, 2)
assert dst.tolist() == (np.arange(5) + 10 * peer_from).tolist(), dst
ro = src.copy()
ro.flags.writeable = False
# (a receive reads its buffer before it waits: these raise, nothing is left pending)
expect(BufferError, comm.Recv, CAIOnly(ro), peer_from, 3)
expect(BufferError, comm.Recv, CAIOnly(dst, mask=True), peer_from, 3)
bad = CAIOnly(dst)
del bad.__cuda_array_interface__["typestr"]
expect(KeyError, comm.Recv, bad, peer_from, 3)
with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter("always")
    MPI.Get_address(CAIOnly(src, descr=[("a", "<i4"), ("b", "<i4")]))
assert any(issubclass(w.category, RuntimeWarning) for w in seen), seen

# memory that is not contiguous, or in foreign byte order, is refused
expect(BufferError, comm.Recv, np.zeros(8)[::2], peer_from, 3)
expect(BufferError, comm.Recv, np.zeros(3, ">i4" if np.little_endian else "<i4"), peer_from, 3)

# None stands for IN_PLACE where MPI allows IN_PLACE (mpi4py's rule)
for root in range(size):
    whole = np.arange(3 * size, dtype="f8") if rank == root else None
    mine = None if rank == root else np.empty(3)
    comm.Scatter(whole, mine, root=root)
    got = whole[3 * rank : 3 * rank + 3] if whole is not None else mine
    assert got is not None and got.tolist() == [3.0 * rank, 3.0 * rank + 1, 3.0 * rank + 2]
    back = np.zeros(3 * size) if rank == root else None
    if back is not None:
        back[3 * rank : 3 * rank + 3] = 7
    comm.Gather(None if rank == root else np.full(3, 7.0), back, root=root)
    assert back is None or back.tolist() == [7.0] * (3 * size), back
total = np.ones(4)
comm.Allreduce(None, total, op=MPI.SUM)
assert total.tolist() == [float(size)] * 4, total

# Reduce_scatter without counts: each rank's share is its receive buffer's size
share = np.zeros(rank + 1, dtype="i8")
comm.Reduce_scatter(np.ones(size * (size + 1) // 2, dtype="i8"), share, None, MPI.SUM)
assert share.tolist() == [size] * (rank + 1), share

# reductions refuse buffers of different datatypes or counts
expect(ValueError, comm.Allreduce, np.ones(2, "i4"), np.zeros(2, "f4"))
expect(ValueError, comm.Allreduce, np.ones(2, "i4"), np.zeros(3, "i4"))
expect(ValueError, MPI.SUM.Reduce_local, np.ones(2, "i4"), np.zeros(3, "i4"))

# absolute addresses: BOTTOM and a struct of Get_address displacements
sendmem, recvmem = bytearray(b"abcdef"), bytearray(6)
stype = MPI.Datatype.Create_struct([6], [MPI.Get_address(sendmem)], [MPI.CHAR]).Commit()
rtype = MPI.Datatype.Create_struct([6], [MPI.Get_address(recvmem)], [MPI.CHAR]).Commit()
comm.Sendrecv([MPI.BOTTOM, 1, stype], rank, 4, [MPI.BOTTOM, 1, rtype], rank, 4)
assert recvmem == sendmem, recvmem
recvmem[:] = bytes(6)
comm.Alltoallw(
    [MPI.BOTTOM, [1 if r == rank else 0 for r in range(size)], [0] * size, [stype] * size],
    [MPI.BOTTOM, ([1 if r == rank else 0 for r in range(size)], [0] * size), [rtype] * size],
)
assert recvmem == sendmem, recvmem
stype.Free()
rtype.Free()
expect(ValueError, comm.Send, [None, 1, MPI.INT], MPI.PROC_NULL)

# Alltoallw's short form: one element of each type at displacement 0
wsend, wrecv = np.full(1, rank, "i4"), np.full(1, -1, "i4")
comm.Alltoallw([wsend, [MPI.INT] * size], [wrecv, [MPI.INT] * size])
assert wrecv[0] in range(size), wrecv

# objects travel as mpi4py's do: any picklable object, and buffer messages
# and object calls meet through MPI.pickle
assert comm.sendrecv({1, 2, rank}, peer_to, 5, None, peer_from, 5) == {1, 2, peer_from}
req = comm.Isend([MPI.pickle.dumps(("obj", rank)), "B"], peer_to, 6)
assert comm.recv(None, peer_from, 6) == ("obj", peer_from)
req.Wait()
req = comm.Isend([None, 0, "B"], peer_to, 7)
assert comm.recv(None, peer_from, 7) is None
req.Wait()
req = comm.isend(np.arange(3, dtype="u1"), peer_to, 8)  # a uint8 array stays an array
got_array = comm.recv(None, peer_from, 8)
assert isinstance(got_array, np.ndarray) and got_array.tolist() == [0, 1, 2], got_array
req.wait()
req = comm.isend(["to", "bytes"], peer_to, 9)
st = MPI.Status()
comm.Probe(peer_from, 9, st)
raw = bytearray(4096)
comm.Recv([raw, MPI.BYTE], peer_from, 9)
assert MPI.pickle.loads(raw) == ["to", "bytes"]
req.wait()
p0 = MPI.Pickle(protocol=0)
assert p0.PROTOCOL == 0 and p0.loads(p0.dumps([1, "a"])) == [1, "a"]
data, bufs = MPI.pickle.dumps_oob(np.zeros(1 << 20))
assert len(bufs) == 1 and MPI.pickle.loads_oob(data, bufs).shape == (1 << 20,)

# handles have integers that convert back, within the process
for h in (comm, MPI.DOUBLE, MPI.SUM, MPI.COMM_NULL, MPI.DATATYPE_NULL, MPI.INFO_ENV):
    for there, back in (("handle", "fromhandle"), ("toint", "fromint"), ("py2f", "f2py")):
        number = getattr(h, there)
        number = number() if callable(number) else number
        assert isinstance(number, int) and getattr(type(h), back)(number) == h, (h, there)
st = MPI.Status()
st.source, st.tag, st.error = 3, 4, MPI.ERR_OTHER
fst = st.py2f()
assert len(fst) == MPI.F_STATUS_SIZE and fst[MPI.F_SOURCE] == 3 and fst[MPI.F_TAG] == 4
assert MPI.Status.f2py(fst) == st
expect(TypeError, MPI.Status, 123)
pre = comm.Send_init(b"", MPI.PROC_NULL)
expect(TypeError, MPI.Grequest, pre)
assert MPI.Prequest.fromhandle(pre.handle) == pre
pre.Free()

# Isendrecv and Isendrecv_replace (MPI 4.0), and the object form
back_buf = np.zeros(3, "i8")
req = comm.Isendrecv(np.full(3, rank, "i8"), peer_to, 11, back_buf, peer_from, 11)
req.Wait(st)
assert back_buf.tolist() == [peer_from] * 3 and st.Get_source() == peer_from, back_buf
inout = np.full(2, rank, "i8")
comm.Isendrecv_replace(inout, peer_to, 12, peer_from, 12).Wait()
assert inout.tolist() == [peer_from] * 2, inout
assert comm.isendrecv(("hi", rank), peer_to, 13, None, peer_from, 13).wait() == ("hi", peer_from)
statuses = (MPI.Status(),)
MPI.Request.Waitall([comm.Isend(b"x", rank, 14), comm.Irecv(bytearray(1), rank, 14)], statuses)
assert len(statuses) == 1  # a tuple keeps its length

# handles are made in __new__, as mpi4py's extension types are: a subclass
# may hand another handle on, and that one is kept


class MyComm(MPI.Intracomm):
    def __new__(cls, base: Any = None) -> Any:
        return super().__new__(cls, base.Dup() if base else base)


mine_comm = MyComm(MPI.COMM_SELF)
assert type(mine_comm) is MyComm and mine_comm != MPI.COMM_SELF
mine_comm.Free()  # its own duplicate, not COMM_SELF
expect(MPI.Exception, MPI.COMM_SELF.Free)
assert MPI.COMM_SELF.Get_size() == 1


class MyRequest(MPI.Request):
    def test(self) -> Any:  # type: ignore[override]
        return super(type(self), self).Test()


assert MyRequest(MPI.REQUEST_NULL).test() is True

# groups and communicator management
group = comm.Get_group()
assert (group.Get_size(), group.Get_rank()) == (size, rank)
assert group.Translate_ranks([0, size - 1], MPI.COMM_SELF.Get_group()) == [
    0 if rank == 0 else MPI.UNDEFINED,
    0 if rank == size - 1 else MPI.UNDEFINED,
]
evens = group.Incl(list(range(0, size, 2)))
assert evens.Get_rank() == (rank // 2 if rank % 2 == 0 else MPI.UNDEFINED)
assert MPI.Group.Compare(group, group.Excl([])) == MPI.IDENT
assert MPI.Group.Union(evens, group).Get_size() == size
assert MPI.Group.Difference(group, group).Get_size() == 0
even_comm = comm.Create(evens)
assert (even_comm == MPI.COMM_NULL) == (rank % 2 == 1)
if even_comm != MPI.COMM_NULL:
    assert even_comm.Get_size() == (size + 1) // 2
    even_comm.Free()
dup = comm.Dup()
assert MPI.Comm.Compare(comm, dup) == MPI.CONGRUENT and comm.Compare(comm) == MPI.IDENT
dup.Free()
idup, ireq = comm.Idup()
ireq.Wait()
assert MPI.Comm.Compare(comm, idup) == MPI.CONGRUENT
idup.Free()
shared = comm.Split_type(MPI.COMM_TYPE_SHARED)
assert shared.Get_size() == size  # every rank of a local job is on this host
shared.Free()
assert comm.Split_type(MPI.UNDEFINED) == MPI.COMM_NULL
assert MPI.Comm.Get_parent() == MPI.COMM_NULL
import pickle  # noqa: E402

assert pickle.loads(pickle.dumps(MPI.COMM_WORLD)) is MPI.COMM_WORLD
assert pickle.loads(pickle.dumps(MPI.GROUP_EMPTY)) is MPI.GROUP_EMPTY
expect(ValueError, pickle.dumps, group)
st = MPI.Status()
st.source, st.tag = 3, 4
for protocol in range(pickle.HIGHEST_PROTOCOL + 1):  # 0 and 1 too
    back = pickle.loads(pickle.dumps(st, protocol))
    assert (back.source, back.tag, back.error) == (3, 4, MPI.SUCCESS), protocol
assert MPI._handleof(st) > 0
group.Free()
evens.Free()

# attributes: keyvals with copy and delete functions, on communicators and types
deleted: list[Any] = []
kv = MPI.Comm.Create_keyval(copy_fn=True, delete_fn=lambda o, k, v: deleted.append(v))
work = comm.Dup()
work.Set_attr(kv, "mine")
twin = work.Dup()
assert twin.Get_attr(kv) == "mine" and work.Get_attr(kv) == "mine"
twin.Free()
assert deleted == ["mine"]
work.Delete_attr(kv)
assert work.Get_attr(kv) is None and deleted == ["mine", "mine"]
work.Free()
assert MPI.Comm.Free_keyval(kv) == MPI.KEYVAL_INVALID
tkv = MPI.Datatype.Create_keyval(copy_fn=lambda o, k, v: NotImplemented)
dt = MPI.INT.Dup()
dt.Set_attr(tkv, 5)
dt2 = dt.Dup()
assert dt.Get_attr(tkv) == 5 and dt2.Get_attr(tkv) is None
dt2.Free()
dt.Free()
MPI.Datatype.Free_keyval(tkv)
assert comm.Get_attr(MPI.TAG_UB) >= 32767

# Fortran 90 parameterized types: predefined, with their constructor's contents
i4 = MPI.Datatype.Create_f90_integer(9)
assert i4.Get_size() == 4 and i4.is_predefined and not i4.is_named
assert i4.Get_envelope() == (1, 0, 0, 0, MPI.COMBINER_F90_INTEGER) and i4.contents[0] == [9]
assert MPI.Datatype.Create_f90_real(15, 300).typestr == "f8"
assert MPI.Datatype.Create_f90_complex(6, 30).Get_size() == 8
assert pickle.loads(pickle.dumps(i4)).Get_size() == 4
assert MPI.INT.Dup().tocode() == "i"
assert pickle.loads(pickle.dumps(MPI.DATATYPE_NULL)) is MPI.DATATYPE_NULL
assert MPI.DATATYPE_NULL.Get_name() == "MPI_DATATYPE_NULL"
expect(ValueError, MPI.DATATYPE_NULL.tocode)
expect(MPI.Exception, MPI.Datatype.Get_value_index, MPI.DATATYPE_NULL, MPI.INT)

# mpi4py's per-communicator locks of the object collectives, and recv's
# deprecated buffer argument
locked = comm.Dup()
table = MPI._comm_lock_table(locked)
assert "bcast" not in table
locked.bcast(None, root=0)
assert "bcast" in table and MPI._comm_lock(locked, "bcast") is table["bcast"]
locked.Free()
with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter("always")
    assert comm.recv(bytearray(8), MPI.PROC_NULL) is None
assert any(issubclass(w.category, UserWarning) for w in seen), seen

# the module surface: mpi4py.rc as a module, safe free, pickling of the
# predefined handles, Info as a mapping, user error handlers, MESSAGE_NO_PROC
import mpi4py.rc  # noqa: E402

assert mpi4py.rc is mpi4py.rc  # importable, as mpi4py's
for constant in (MPI.INT, MPI.SUM, MPI.INFO_ENV, MPI.ERRORS_RETURN, MPI.COMM_WORLD):
    constant.free()
    assert constant  # a predefined handle stays
    copy_of = type(constant)(constant)
    copy_of.free()
    assert not copy_of and constant  # a copy only becomes null
    assert pickle.loads(pickle.dumps(constant)) is constant
assert pickle.loads(pickle.dumps(MPI.Op(MPI.MAX))) == MPI.MAX
made = MPI.Info.Create()
made["k"] = "v"
assert made.pop("k") == "v" and made.pop("k", None) is None and len(made) == 0
assert pickle.loads(pickle.dumps(MPI.Info.Create({"a": "1"}))).items() == [("a", "1")]
made.free()
assert not made and len(MPI.INFO_NULL) == 0 and MPI.INFO_NULL.get("k") is None
expect(KeyError, MPI.INFO_NULL.__getitem__, "k")
assert MPI.Info.Create_env().Get("command") is not None
calls: list[int] = []
eh = MPI.Comm.Create_errhandler(lambda c, code: calls.append(code))
work = comm.Dup()
work.Set_errhandler(eh)
eh.Free()  # the communicator keeps its own reference
work.Call_errhandler(MPI.ERR_OTHER)
assert calls == [MPI.ERR_OTHER], calls
work.Free()
MPI.MESSAGE_NO_PROC.recv()
assert MPI.MESSAGE_NO_PROC  # the constant stays; a copy is consumed
noproc = MPI.Message(MPI.MESSAGE_NO_PROC)
noproc.recv()
assert noproc == MPI.MESSAGE_NULL

# a root that is not a rank is MPI's ERR_ROOT, for objects and buffers alike
for bad_root in (-1, size):
    for call, args in (
        (comm.bcast, (None,)),
        (comm.reduce, (None, MPI.NO_OP)),
        (comm.Bcast, (np.zeros(1),)),
    ):
        try:
            call(*args, root=bad_root)
        except MPI.Exception as exc:
            assert exc.Get_error_class() == MPI.ERR_ROOT
        else:
            raise AssertionError("a bad root was accepted")

# a derived type keeps what it was made from, whatever the caller frees; its
# contents and decode give new handles; opaque types are "V<extent>"
piece = MPI.DOUBLE.Create_contiguous(2)
pair_of = MPI.Datatype.Create_struct([1, 1], [0, 16], [piece, piece])
piece.Free()
assert pair_of.Get_size() == 32 and pair_of.typestr == "V32" and pair_of.typechar == "V"
old_t, kind, params = pair_of.decode()
assert kind == "STRUCT" and old_t == MPI.DATATYPE_NULL and len(params["datatypes"]) == 2
params["datatypes"][0].Free()
again = MPI.Datatype.Create_struct(**{**params, "datatypes": pair_of.contents[3]})
assert again.Get_size() == 32
assert MPI.INT_INT.typechar == "V" and MPI.DATATYPE_NULL.typestr == ""
again.Free()
pair_of.Free()

# external32: big-endian bytes that unpack back, for basic and mixed types
ints = np.arange(5, dtype="i4")
packed = bytearray(MPI.INT.Pack_external_size("external32", 5))
assert MPI.INT.Pack_external("external32", ints, packed, 0) == 20
assert bytes(packed[:8]) == b"\x00\x00\x00\x00\x00\x00\x00\x01"
back_ints = np.zeros(5, "i4")
assert MPI.INT.Unpack_external("external32", packed, 0, back_ints) == 20
assert back_ints.tolist() == ints.tolist()
mixed = MPI.Datatype.Create_struct([1, 1], [0, 8], [MPI.DOUBLE, MPI.INT]).Create_resized(0, 16)
rec = np.zeros(2, dtype=[("d", "f8"), ("i", "i4"), ("pad", "i4")])
rec["d"], rec["i"] = [1.5, -2.0], [7, 9]
out = bytearray(mixed.Pack_external_size("external32", 2))
mixed.Pack_external("external32", rec, out, 0)
rec2 = np.zeros_like(rec)
mixed.Unpack_external("external32", out, 0, rec2)
assert rec2["d"].tolist() == [1.5, -2.0] and rec2["i"].tolist() == [7, 9]
expect(MPI.Exception, MPI.INT.Pack_external_size, "native", 1)
mixed.Free()

# MPI.buffer: a view of bytes with the buffer protocol, over any buffer kind
mem = MPI.Alloc_mem(16)
assert type(mem) is MPI.buffer and mem.nbytes == 16 and not mem.readonly and mem.address
view = memoryview(mem)
assert view.format == "B" and view.shape == (16,)
mem[1:5] = b"abcd"
assert mem[1] == ord("a") and mem[1:5].tobytes() == b"abcd"
expect(IndexError, mem.__getitem__, slice(None, None, 2))
MPI.Free_mem(mem)
assert mem.address == 0 and mem.nbytes == 0
empty = MPI.buffer()
assert empty.address == 0 and empty.obj is None and len(empty) == 0
expect(TypeError, MPI.buffer, None)
ro = MPI.buffer(b"abc")
assert ro.readonly and ro.obj == b"abc"
expect(TypeError, ro.__setitem__, slice(None), 0)
expect(BufferError, MPI.Attach_buffer, ro)
of_dlpack = MPI.buffer(DLPackOnly(np.arange(4, dtype="u1")))
assert of_dlpack.tobytes() == bytes([0, 1, 2, 3])
raw_mem = np.arange(3, dtype="u1")
at = MPI.buffer.fromaddress(raw_mem.ctypes.data, 3)
at[0] = 9
assert raw_mem[0] == 9 and at.toreadonly().address == at.address

# null handles and invalid keys raise MPI.Exception with MPI's error class
for call, args, klass in (
    (MPI.REQUEST_NULL.Free, (), MPI.ERR_REQUEST),
    (MPI.REQUEST_NULL.Cancel, (), MPI.ERR_REQUEST),
    (MPI.COMM_NULL.Get_attr, (MPI.TAG_UB,), MPI.ERR_COMM),
    (MPI.COMM_NULL.Is_inter, (), MPI.ERR_COMM),
    (MPI.Comm.Compare, (MPI.COMM_NULL, MPI.COMM_NULL), MPI.ERR_COMM),
    (comm.Get_attr, (MPI.KEYVAL_INVALID,), MPI.ERR_KEYVAL),
    (MPI.INFO_NULL.Get_nkeys, (), MPI.ERR_INFO),
    (MPI.Info.Create().Get_nthkey, (0,), MPI.ERR_INFO_KEY),
    (MPI.COMM_SELF.Set_errhandler, (MPI.ERRHANDLER_NULL,), MPI.ERR_ARG),
):
    try:
        call(*args)
    except MPI.Exception as exc:
        assert exc.Get_error_class() == klass, (call, exc.Get_error_class())
    else:
        raise AssertionError(f"{call} did not raise")

# ops called directly, user ops on bytes with their datatype, and pickling
first, second = [1], [1]
got_loc = MPI.MINLOC([first, 1], [second, 0])
assert got_loc[0] is second and got_loc[1] == 0
expect(ValueError, MPI.OP_NULL, None, None)
seen_types: list[Any] = []


def bitwise_or(a: Any, b: Any, dt: Any) -> None:
    seen_types.append(dt)
    for k in range(len(a)):
        b[k] = a[k] | b[k]


bor = MPI.Op.Create(bitwise_or)
b_in, b_out = bytearray([2] * 3), bytearray([4] * 3)
bor.Reduce_local([b_in, MPI.BYTE], [b_out, MPI.BYTE])
assert list(b_out) == [6, 6, 6] and seen_types == [MPI.BYTE]
bor.Free()

# MPI.Exception as mpi4py's: repr, ordering and hashing by error code
err = MPI.Exception(MPI.ERR_ARG)
assert repr(err) == f"MPI.Exception({MPI.ERR_ARG})"
assert str(err) == MPI.Get_error_string(MPI.ERR_ARG)
assert MPI.SUCCESS <= err <= MPI.ERR_LASTCODE and err > MPI.SUCCESS
assert hash(err) == hash(MPI.ERR_ARG)
assert MPI.Exception(-1) == MPI.ERR_UNKNOWN
assert comm.Get_attr(MPI.LASTUSEDCODE) >= 0

# counts must be integers (NumPy's too, 0-d or not); a null datatype
# cannot place a displacement; device memory is not the host's to read
vsend, vrecv = bytearray(b"abc"), bytearray(4)
if size == 1:
    comm.Alltoallv([vsend, np.array(3)], [vrecv, (np.int64(3), [np.array([1])[0]])])
    assert vrecv[1:] == vsend
expect(TypeError, comm.Alltoallv, [vsend, np.array([3.5] * size)], [vrecv, 3])
expect(ValueError, comm.Recv, [bytearray(8), 1, 1, MPI.DATATYPE_NULL], MPI.PROC_NULL)


class OnDevice(DLPackOnly):
    def __dlpack_device__(self) -> Any:
        return (2, 0)  # kDLCUDA: memory taken as it is, but not read as the host's

    def __dlpack__(self, **kwargs: Any) -> Any:
        kwargs.pop("stream", None)
        return self.arr.__dlpack__(**kwargs)


dev = MPI.buffer(OnDevice(np.zeros(4, "u1")))
expect(BufferError, dev.tobytes)

# Status: its own memory (MPICH's layout), weak references, pickling
import weakref  # noqa: E402

st2 = MPI.Status()
st2.source, st2.tag, st2.error = 11, 22, 33
mem_view = st2.tomemory()
mem_view[list(mem_view).index(22)] = 222
assert st2.tag == 222 and st2.source == 11
st2.count = (1 << 33) + 5
st2.Set_cancelled(True)
assert st2.count == (1 << 33) + 5 and st2.Is_cancelled()
copied = pickle.loads(pickle.dumps(st2))
assert copied == st2 and copied is not st2
assert weakref.ref(st2)() is st2 and weakref.ref(comm)() is comm

# mpi4py.typing's names exist, for annotations
import mpi4py.typing  # noqa: E402

assert mpi4py.typing.BufSpec is not None and mpi4py.typing.Count is not None

# mpi4py.profile loads a library found on its path, refuses a missing one
import mpi4py  # noqa: E402

expect(ValueError, mpi4py.profile, "@no-such-library")
with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter("always")
    mpi4py.profile("hosts", path=["/etc"])  # a file, but not a library
assert any(issubclass(w.category, UserWarning) for w in seen), seen

# user error classes, codes and strings
uclass = MPI.Add_error_class()
assert uclass == comm.Get_attr(MPI.LASTUSEDCODE) and MPI.Get_error_string(uclass) == ""
ucode = MPI.Add_error_code(uclass)
MPI.Add_error_string(ucode, "mine")
assert MPI.Get_error_class(ucode) == uclass and MPI.Get_error_string(ucode) == "mine"
assert MPI.Exception(ucode).Get_error_class() == uclass

# the C face that Python objects can give: handle integers and C sizes
assert MPI._handleof(comm) == comm.handle and MPI._sizeof(MPI.INT) == MPI._sizeof(MPI.Datatype)
expect(TypeError, MPI._handleof, None)
expect(TypeError, MPI._sizeof, None)

# a grid of one rank: both neighbors of its dimension are PROC_NULL
cart = MPI.COMM_SELF.Create_cart([1], periods=[False])
assert cart.neighbor_allgather("x") == [None, None] and cart.inoutedges == ([-1, -1], [-1, -1])
cart.Free()

# a type too large to keep entry by entry is refused at once, not built
expect(NotImplementedError, MPI.BYTE.Create_contiguous, (1 << 31) - 1)

comm.Barrier()
if rank == 0:
    print(f"surface tour ok on {size} ranks")
