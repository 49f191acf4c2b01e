"""``mpi4py.util.pkl5``: object communication with pickle protocol 5 and
out-of-band buffers, as mpi4py documents it.

Theory of operation. An object is pickled at protocol 5 (or higher) with
the functions of the module's ``pickle`` (a ``Pickle``, as mpi4py's);
every contiguous buffer of at least its ``THRESHOLD`` bytes (a NumPy array's data, a ``bytearray``,
a ``PickleBuffer``) is left out of the stream and kept as a view of the
object's own memory. The message is one message of the layer: the stream
and the views, which travel as frames of their own (never through pickle
or msgpack, no copy on the sender; above the transport's copy threshold
the memory is pinned until it has been sent, so an ``isend``'s object
must live until its request completes). Message sizes have no 2 GiB
limit: frames carry 64-bit lengths. The receiver unpickles the stream
over the received buffers; a buffer the transport gives read-only is
copied once, so received objects are writable, as in mpi4py.

One message per object (mpi4py needs one per buffer) makes ``irecv``
reliable here, so it works instead of raising ``RuntimeError``; a message
sent by a plain ``send`` is received as its object too. A custom
``pickle`` (``pkl5.pickle = MPI.Pickle(dumps, loads)``) must accept
``buffer_callback=`` and ``buffers=`` as the standard library's does.
The local entry of a collective (the root's own object of ``bcast``,
``gather``, ``scatter``; a rank's own one of ``allgather``, ``alltoall``)
is unpickled from the stream over the original object's buffers, as in
mpi4py: a new object, whose large buffers are the original's memory.
"""

from __future__ import annotations

import pickle as _pickle
from collections.abc import Sequence
from typing import Any

import numpy as np

from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py.comm import Comm as _Comm
from zmqmesh.compat.mpi4py.comm import Intracomm as _Intracomm
from zmqmesh.compat.mpi4py.inter import Intercomm as _Intercomm
from zmqmesh.compat.mpi4py.matched import Message as _Message
from zmqmesh.compat.mpi4py.pickling import Pickle
from zmqmesh.compat.mpi4py.requests import Request as _Request
from zmqmesh.compat.mpi4py.requests import Status

__all__ = [
    "Comm",
    "Intercomm",
    "Intracomm",
    "Message",
    "Pickle",
    "Request",
    "dumps",
    "loads",
    "pickle",
]

_MARK = b"\x00zmqmesh:pkl5\x00"

Wire = tuple[bytes, bytes, list[np.ndarray[Any, np.dtype[np.uint8]]]]


class _BigMPI:
    """mpi4py's knob for the blocks that messages past 2 GiB are cut into.
    Here an object's buffers travel as frames of any size, so the block size
    changes nothing; it is kept so that code which sets it runs unchanged."""

    def __init__(self) -> None:
        self.blocksize = 1 << 30


_bigmpi = _BigMPI()

# The module's own pickler, as in mpi4py (not ``MPI.pickle``): ``dumps`` and
# ``loads`` look it up at each call, so replacing it takes effect at once.
pickle = Pickle()


def dumps(obj: Any) -> Wire:
    """``obj`` as it travels: a marker, the pickle stream (protocol 5 or
    higher) and the out-of-band buffers, views of ``obj``'s memory."""
    buffers: list[np.ndarray[Any, np.dtype[np.uint8]]] = []
    threshold = pickle.THRESHOLD

    def out_of_band(pb: _pickle.PickleBuffer) -> bool:
        try:
            view = pb.raw()
        except BufferError:  # not contiguous: pickle copies it in-band
            return True
        if view.nbytes < threshold:
            return True
        buffers.append(np.frombuffer(view, np.uint8))
        return False

    protocol = max(pickle.PROTOCOL or 5, 5)
    data = pickle._dumps(obj, protocol, buffer_callback=out_of_band)
    return (_MARK, bytes(data), buffers)


def loads(msg: Any, *, local: bool = False) -> Any:
    """The object of a received message (a message a plain ``send`` sent
    is its object already). ``local``: the message never left this rank
    (its own entry of a collective): its buffers are the original
    object's memory and are used as they are, as mpi4py does."""
    if not (type(msg) is tuple and len(msg) == 3 and msg[0] == _MARK):
        return msg
    bufs = [b if local or b.flags.writeable else b.copy() for b in msg[2]]
    return pickle._loads(msg[1], buffers=bufs)


class Request:
    """A nonblocking pkl5 operation (not an ``MPI.Request``): ``wait`` and
    ``test`` give the received object, unpickled once."""

    __slots__ = ("_req",)

    def __init__(self, request: _Request | Request | None = None) -> None:
        req = (
            request._req if isinstance(request, Request) else request
        )  # a copy: the same operation
        self._req: _Request = _Request() if req is None else req

    def __eq__(self, other: object) -> bool:
        # as mpi4py's: equal to another naming the same operation, and to
        # the MPI.Request it holds (REQUEST_NULL once complete)
        if isinstance(other, Request):
            return bool(self._req == other._req)
        if isinstance(other, _Request):
            return bool(self._req == other)
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = None  # type: ignore[assignment]

    def __bool__(self) -> bool:
        return bool(self._req)

    def Free(self) -> None:
        """Let the operation complete on its own; the request becomes null."""
        self._req.Free()

    free = Free

    def cancel(self) -> None:
        """Ask to withdraw a receive not matched yet (see ``MPI.Request.Cancel``)."""
        self._req.Cancel()

    def get_status(self, status: Status | None = None) -> bool:
        """Whether the operation has completed, without completing it."""
        return self._req.Get_status(status)

    def test(self, status: Status | None = None) -> tuple[bool, Any]:
        """``(True, object)`` once complete (the request becomes null), else
        ``(False, None)``."""
        flag, msg = self._req.test(status)
        return (True, loads(msg)) if flag else (False, None)

    def wait(self, status: Status | None = None) -> Any:
        """Block until complete; the received object (None for a send)."""
        return loads(self._req.wait(status))

    # MPI 4.1's calls, as MPI.Request's: NotImplementedError (the layer is MPI 4.0)
    get_status_all = _Request.get_status_all
    get_status_any = _Request.get_status_any
    get_status_some = _Request.get_status_some

    @classmethod
    def testall(
        cls, requests: Sequence[Request], statuses: list[Status] | None = None
    ) -> tuple[bool, list[Any] | None]:
        """``(True, objects)`` when every request has completed, else
        ``(False, None)`` and none is completed."""
        flag, msgs = _Request.testall([r._req for r in requests], statuses)
        return (True, [loads(m) for m in msgs or []]) if flag else (False, None)

    @classmethod
    def waitall(
        cls, requests: Sequence[Request], statuses: list[Status] | None = None
    ) -> list[Any]:
        """Block until every request completes; their objects, in order."""
        return [loads(m) for m in _Request.waitall([r._req for r in requests], statuses)]


class Message:
    """A message taken by a matched probe (not an ``MPI.Message``)."""

    __slots__ = ("_msg",)

    def __init__(self, message: _Message | None = None) -> None:
        self._msg = _Message() if message is None else message

    def __bool__(self) -> bool:
        return bool(self._msg)

    def free(self) -> None:
        """Drop the message (``MPI.Message.free``: the handle becomes null)."""
        self._msg.free()

    __hash__ = None  # type: ignore[assignment]  # as mpi4py's: equality, no hash

    def __eq__(self, other: object) -> bool:
        # equal to the MPI.Message it holds (MESSAGE_NO_PROC from a probe
        # of PROC_NULL) and to another pkl5 Message holding the same one
        if isinstance(other, Message):
            return bool(self._msg == other._msg)
        if isinstance(other, _Message):
            return bool(self._msg == other)
        return NotImplemented

    def recv(self, status: Status | None = None) -> Any:
        """The message's object."""
        return loads(self._msg.recv(status))

    def irecv(self) -> Request:
        """A request whose ``wait`` gives the message's object."""
        return Request(self._msg.irecv())

    @classmethod
    def probe(
        cls, comm: Comm, source: int = C.ANY_SOURCE, tag: int = C.ANY_TAG, status: Any = None
    ) -> Message:
        """``comm.mprobe(source, tag, status)``."""
        return _Calls.mprobe(comm, source, tag, status)

    @classmethod
    def iprobe(
        cls, comm: Comm, source: int = C.ANY_SOURCE, tag: int = C.ANY_TAG, status: Any = None
    ) -> Message | None:
        """``comm.improbe(source, tag, status)``."""
        return _Calls.improbe(comm, source, tag, status)


class _Calls:
    """The pkl5 forms of the object calls, mixed in before ``MPI.Comm``."""

    __slots__ = ()

    def send(self, obj: Any, dest: int, tag: int = 0) -> None:
        """Send ``obj``; returns once the transport has it."""
        _Comm.send(self, dumps(obj), dest, tag)  # type: ignore[arg-type]

    def ssend(self, obj: Any, dest: int, tag: int = 0) -> None:
        """Send ``obj``; returns once the receiver has matched it."""
        _Comm.ssend(self, dumps(obj), dest, tag)  # type: ignore[arg-type]

    def bsend(self, obj: Any, dest: int, tag: int = 0) -> None:
        """Send ``obj`` through the attached buffer, counted by the size of
        its stream and buffers."""
        wire = dumps(obj)
        nbytes = len(wire[1]) + sum(b.nbytes for b in wire[2])
        _Comm._buffered(self, wire, dest, tag, nbytes)  # type: ignore[arg-type]

    def isend(self, obj: Any, dest: int, tag: int = 0) -> Request:
        """Start sending ``obj``; keep ``obj`` unchanged until the request completes."""
        return Request(_Comm.isend(self, dumps(obj), dest, tag))  # type: ignore[arg-type]

    def issend(self, obj: Any, dest: int, tag: int = 0) -> Request:
        """``isend`` completing once the receiver has matched the message."""
        return Request(_Comm.issend(self, dumps(obj), dest, tag))  # type: ignore[arg-type]

    def ibsend(self, obj: Any, dest: int, tag: int = 0) -> Request:
        """``bsend`` as a request (complete at once)."""
        self.bsend(obj, dest, tag)
        return Request(_Request._of(None))

    def recv(
        self,
        buf: Any = None,
        source: int = C.ANY_SOURCE,
        tag: int = C.ANY_TAG,
        status: Status | None = None,
    ) -> Any:
        """The object of the next message matching ``source`` and ``tag``
        (``buf`` is ignored, as in mpi4py)."""
        return loads(_Comm.recv(self, None, source, tag, status))  # type: ignore[arg-type]

    def irecv(self, buf: Any = None, source: int = C.ANY_SOURCE, tag: int = C.ANY_TAG) -> Request:
        """A receive request; ``wait`` gives the object."""
        return Request(_Comm.irecv(self, None, source, tag))  # type: ignore[arg-type]

    def sendrecv(
        self,
        sendobj: Any,
        dest: int,
        sendtag: int = 0,
        recvbuf: Any = None,
        source: int = C.ANY_SOURCE,
        recvtag: int = C.ANY_TAG,
        status: Status | None = None,
    ) -> Any:
        """Send ``sendobj`` to ``dest`` and receive from ``source``; the received object."""
        got = _Comm.sendrecv(
            self,  # type: ignore[arg-type]
            dumps(sendobj),
            dest,
            sendtag,
            None,
            source,
            recvtag,
            status,
        )
        return loads(got)

    def mprobe(
        self, source: int = C.ANY_SOURCE, tag: int = C.ANY_TAG, status: Status | None = None
    ) -> Message:
        """Wait for a matching message and take it out of matching."""
        return Message(_Comm.mprobe(self, source, tag, status))  # type: ignore[arg-type]

    def improbe(
        self, source: int = C.ANY_SOURCE, tag: int = C.ANY_TAG, status: Status | None = None
    ) -> Message | None:
        """As ``mprobe`` if a matching message has arrived, else None."""
        got = _Comm.improbe(self, source, tag, status)  # type: ignore[arg-type]
        return None if got is None else Message(got)

    # -- collectives: the layer's algorithms, carrying streams and buffers --------------------
    def bcast(self, obj: Any, root: int = 0) -> Any:
        """``obj`` of ``root``, on every rank (on ``root``, over ``obj``'s buffers)."""
        mine = self.Get_rank() == root  # type: ignore[attr-defined]
        got = _Comm.bcast(self, dumps(obj) if mine else None, root)  # type: ignore[arg-type]
        return loads(got, local=mine)

    def gather(self, sendobj: Any, root: int = 0) -> list[Any] | None:
        """The objects of every rank, in rank order, on ``root``; None elsewhere."""
        got = _Comm.gather(self, dumps(sendobj), root)  # type: ignore[arg-type]
        if got is None:
            return None
        me = self.Get_rank()  # type: ignore[attr-defined]
        return [loads(m, local=i == me) for i, m in enumerate(got)]

    def scatter(self, sendobj: Any, root: int = 0) -> Any:
        """Item ``rank`` of ``root``'s sequence of one object per rank."""
        mine = self.Get_rank() == root  # type: ignore[attr-defined]
        if mine and sendobj is None:  # as mpi4py: every rank gets None
            sendobj = [None] * self.Get_size()  # type: ignore[attr-defined]
        wires = [dumps(o) for o in sendobj] if mine else sendobj
        return loads(_Comm.scatter(self, wires, root), local=mine)  # type: ignore[arg-type]

    def allgather(self, sendobj: Any) -> list[Any]:
        """The objects of every rank, in rank order, on every rank."""
        got = _Comm.allgather(self, dumps(sendobj))  # type: ignore[arg-type]
        me = self.Get_rank()  # type: ignore[attr-defined]
        return [loads(m, local=i == me) for i, m in enumerate(got)]

    def alltoall(self, sendobj: Any) -> list[Any]:
        """Item ``i`` of this rank's sequence goes to rank ``i``; the items
        addressed to this rank, in rank order."""
        if sendobj is None:  # as mpi4py: every rank gets Nones
            sendobj = [None] * self.Get_size()  # type: ignore[attr-defined]
        wires = [dumps(o) for o in sendobj]
        got = _Comm.alltoall(self, wires)  # type: ignore[arg-type]
        me = self.Get_rank()  # type: ignore[attr-defined]
        return [loads(m, local=i == me) for i, m in enumerate(got)]


class Comm(_Calls, _Comm):  # type: ignore[misc]  # pkl5 requests, as mpi4py
    """A communicator whose object calls use pickle protocol 5 with
    out-of-band buffers: ``pkl5.Comm(MPI.COMM_WORLD)``."""

    __slots__ = ()


class Intracomm(_Calls, _Intracomm):  # type: ignore[misc]
    """An intracommunicator with the pkl5 object calls."""

    __slots__ = ()


class Intercomm(_Calls, _Intercomm):  # type: ignore[misc]
    """An intercommunicator with the pkl5 object calls; its collectives'
    roots and items name the remote group, as ``MPI.Intercomm``'s."""

    __slots__ = ()

    def bcast(self, obj: Any, root: int = 0) -> Any:
        """``obj`` of the remote ``root`` (``MPI.ROOT`` sends, ``PROC_NULL`` waits for nothing)."""
        got = _Intercomm.bcast(self, dumps(obj) if root == C.ROOT else None, root)
        return None if got is None else loads(got)

    def gather(self, sendobj: Any, root: int = 0) -> list[Any] | None:
        """At ``MPI.ROOT`` the remote group's objects, in its rank order; None elsewhere."""
        got = _Intercomm.gather(self, dumps(sendobj), root)
        return None if got is None else [loads(m) for m in got]

    def scatter(self, sendobj: Any, root: int = 0) -> Any:
        """Item ``rank`` of the remote ``root``'s sequence (None at the root's group)."""
        wires = [dumps(o) for o in self._each(sendobj)] if root == C.ROOT else None
        got = _Intercomm.scatter(self, wires, root)
        return None if got is None else loads(got)

    def allgather(self, sendobj: Any) -> list[Any]:
        """The remote group's objects, in its rank order."""
        return [loads(m) for m in _Intercomm.allgather(self, dumps(sendobj))]

    def alltoall(self, sendobj: Any) -> list[Any]:
        """Item ``j`` goes to remote rank ``j``; the items the remote ranks sent here."""
        got = _Intercomm.alltoall(self, [dumps(o) for o in self._each(sendobj)])
        return [loads(m) for m in got]

    def _each(self, seq: Any) -> Any:
        """None stands for one None per remote process, as in mpi4py."""
        return [None] * self.Get_remote_size() if seq is None else seq
