"""The point-to-point calls of ``MPI.Comm``, lower- and upper-case.

Every receive of the layer (``recv``, ``Recv``, their ``I`` forms, the
receive half of ``Sendrecv``, matched probes, persistent receives) takes
its message through :func:`_take`, which acknowledges a synchronous
message as it is matched (see ``sync``). Sends come in four modes:
standard (returns once the transport has the message), synchronous
(``Ssend``: returns once the receiver has matched it), ready (``Rsend``:
a standard send, which MPI allows) and buffered (``Bsend``: the bytes are
copied, counted against the attached buffer, and sent in the background).
Persistent requests (``Send_init``, ...) start the matching ``I`` call on
each ``Start``.
"""

from __future__ import annotations

import asyncio
import pickle
import warnings
from typing import Any

import numpy as np

import zmqmesh
from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import coop, runner
from zmqmesh.compat.mpi4py.matched import Message, arrival_count
from zmqmesh.compat.mpi4py.msgspec import Message as Spec
from zmqmesh.compat.mpi4py.msgspec import Plain, parse, parse_counted, parse_plain
from zmqmesh.compat.mpi4py.p2pdesc import by_descriptor, probed_bytes, send_by_descriptor
from zmqmesh.compat.mpi4py.p2pdesc import into as desc_into
from zmqmesh.compat.mpi4py.p2pdesc import read as desc_read
from zmqmesh.compat.mpi4py.pickling import object_of
from zmqmesh.compat.mpi4py.ranks import dest_in, source_in, unpack_into
from zmqmesh.compat.mpi4py.requests import Prequest, Request, Status
from zmqmesh.compat.mpi4py.rndv import RNDV_MIN, is_descriptor
from zmqmesh.compat.mpi4py.sync import (
    BsendSpace,
    marked_bytes,
    marked_object,
    opened,
)
from zmqmesh.runtime.comm import Comm as ZComm

__all__ = ["PointToPointCalls", "Took"]

Took = tuple[Any, int | None, int, int]  # content, source, tag, nbytes on the wire
_NOTHING: Took = (None, None, C.ANY_TAG, 0)


def _acknowledge(shadow: ZComm, source: int, tag: int) -> None:
    fut = shadow.start_send(None, source, tag)
    if fut is not None:
        runner.own(fut)


async def took(
    shadow: ZComm, got: Any, st: zmqmesh.Status, into: Any = None, batch: bool = False
) -> Took:
    """Inside the loop: what a receive matched, acknowledged if synchronous;
    a descriptor's bytes read from its sender (into ``into`` when they fit:
    the receive's own contiguous bytes; ``batch``: see ``p2pdesc.read``)."""
    obj, ack = opened(got)
    nbytes = max(st.nbytes, 0)
    if ack and st.source is not None:
        if is_descriptor(obj):
            obj = await desc_read(shadow, obj, st.source, st.tag, into, batch)
            nbytes = obj.size
        else:
            _acknowledge(shadow, st.source, st.tag)
    return obj, st.source, st.tag, nbytes


async def _take(
    z: ZComm, shadow: ZComm, source: int | None, tag: int, into: Any = None, batch: bool = False
) -> Took:
    if source is None:
        return _NOTHING
    st = zmqmesh.Status()
    got = await z.recv(source, tag, st)
    return await took(shadow, got, st, into, batch)


async def _send(z: ZComm, shadow: ZComm, obj: Any, dest: int | None, tag: int, sync: bool) -> None:
    if not sync or dest is None:
        await z.send(obj, dest, tag)
        return
    ack = shadow.irecv(dest, tag)  # posted first: the answer cannot come earlier
    try:
        await z.send(obj, dest, tag)
        await ack
    except BaseException:
        ack.cancel()
        raise


async def _sendrecv(
    z: ZComm, shadow: ZComm, obj: Any, dest: int | None, sendtag: int, source: int | None, tag: int
) -> Took:
    recv = asyncio.ensure_future(_take(z, shadow, source, tag))
    try:
        await z.send(obj, dest, sendtag)
        return await recv
    except BaseException:
        recv.cancel()
        raise


def _spec(buf: Any, *, writable: bool) -> Spec | Plain:
    return (
        parse_plain(buf, writable=writable)
        or parse_counted(buf, writable=writable)
        or parse(buf, writable=writable)
    )


def _fill(status: Status | None, got: Took, count: int) -> None:
    if status is not None:
        status._fill(got[1], got[2], count)


class PointToPointCalls:
    """Mixed into ``Comm``: needs ``_z()``, the zmqmesh communicator,
    ``_shadow()``, its duplicate for acknowledgements, and ``_space()``."""

    __slots__ = ()

    def _z(self) -> ZComm:
        raise NotImplementedError

    def _shadow(self) -> ZComm:
        raise NotImplementedError

    def _space(self) -> BsendSpace:
        raise NotImplementedError

    # -- objects ----------------------------------------------------------------------------------
    def _osend(self, obj: Any, dest: int, tag: int, sync: bool) -> None:
        d = dest_in(dest)
        runner.run(_send(self._z(), self._shadow(), marked_object(obj, sync), d, tag, sync))

    def send(self, obj: Any, dest: int, tag: int = 0) -> None:
        """Send ``obj``; returns once the transport has it."""
        self._osend(obj, dest, tag, False)

    def ssend(self, obj: Any, dest: int, tag: int = 0) -> None:
        """Send ``obj``; returns once the receiver has matched it."""
        self._osend(obj, dest, tag, True)

    def bsend(self, obj: Any, dest: int, tag: int = 0) -> None:
        """Send ``obj`` through the attached buffer (counted by its pickled size)."""
        self._buffered(marked_object(obj, False), dest, tag, len(pickle.dumps(obj, 5)))

    def recv(
        self,
        buf: Any = None,
        source: int = C.ANY_SOURCE,
        tag: int = C.ANY_TAG,
        status: Status | None = None,
    ) -> Any:
        if buf is not None:
            warnings.warn("the 'buf' argument is deprecated", UserWarning, stacklevel=2)
        got: Took = runner.run(_take(self._z(), self._shadow(), source_in(source), tag))
        _fill(status, got, got[3])
        return object_of(got[0])

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
        z, obj = self._z(), marked_object(sendobj, False)
        got: Took = runner.run(
            _sendrecv(z, self._shadow(), obj, dest_in(dest), sendtag, source_in(source), recvtag)
        )
        _fill(status, got, got[3])
        return object_of(got[0])

    def isend(self, obj: Any, dest: int, tag: int = 0) -> Request:
        z, d = self._z(), dest_in(dest)
        return Request._of(runner.now(lambda: z.isend(marked_object(obj, False), d, tag)))

    def issend(self, obj: Any, dest: int, tag: int = 0) -> Request:
        task = runner.start(
            _send(self._z(), self._shadow(), marked_object(obj, True), dest_in(dest), tag, True)
        )
        return Request._of(task)

    def ibsend(self, obj: Any, dest: int, tag: int = 0) -> Request:
        self.bsend(obj, dest, tag)
        return Request._of(None)

    def irecv(self, buf: Any = None, source: int = C.ANY_SOURCE, tag: int = C.ANY_TAG) -> Request:
        task = runner.start(_take(self._z(), self._shadow(), source_in(source), tag, batch=True))

        def finish(got: Took, status: Status) -> Any:
            status._fill(got[1], got[2], got[3])
            return object_of(got[0])

        return Request._of(task, finish, cancellable=True)

    # -- probes -----------------------------------------------------------------------------------
    def probe(
        self, source: int = C.ANY_SOURCE, tag: int = C.ANY_TAG, status: Status | None = None
    ) -> bool:
        src = source_in(source)
        if src is None:  # PROC_NULL: at once, an empty message
            _fill(status, _NOTHING, 0)
            return True
        z = self._z()
        st = runner.run(z.probe(src, tag))
        if status is not None:
            status._fill(st.source, st.tag, probed_bytes(z, st))
        return True

    def iprobe(
        self, source: int = C.ANY_SOURCE, tag: int = C.ANY_TAG, status: Status | None = None
    ) -> bool:
        runner.poll()  # take in what has arrived
        src = source_in(source)
        if src is None:
            _fill(status, _NOTHING, 0)
            return True
        z = self._z()
        st = runner.now(lambda: z.iprobe(src, tag))
        if st is not None and status is not None:
            status._fill(st.source, st.tag, probed_bytes(z, st))
        return st is not None

    Probe, Iprobe = probe, iprobe

    def mprobe(
        self, source: int = C.ANY_SOURCE, tag: int = C.ANY_TAG, status: Status | None = None
    ) -> Message:
        """Wait for a matching message and take it out of matching: only
        the returned ``Message`` can receive it."""
        return self._mprobe(source, tag, status, wait=True)  # type: ignore[return-value]

    def improbe(
        self, source: int = C.ANY_SOURCE, tag: int = C.ANY_TAG, status: Status | None = None
    ) -> Message | None:
        """As ``mprobe`` if a matching message has arrived, else None."""
        return self._mprobe(source, tag, status, wait=False)

    Mprobe, Improbe = mprobe, improbe

    def _mprobe(self, source: int, tag: int, status: Status | None, wait: bool) -> Message | None:
        src = source_in(source)
        if src is None:
            _fill(status, _NOTHING, 0)
            return Message._no_proc()
        got: Took | None = runner.run(_claim(self._z(), self._shadow(), src, tag, wait))
        if got is None:
            return None
        _fill(status, got, arrival_count(got))
        return Message._of(got)

    # -- buffers ----------------------------------------------------------------------------------
    def _packed(self, buf: Any, dest: int | None, sync: bool) -> Any:
        # the buffer is read even for PROC_NULL, so a bad one raises as in mpi4py
        msg = _spec(buf, writable=False)
        if dest is None:
            return None
        return marked_bytes(msg.pack(), sync)

    def Send(self, buf: Any, dest: int, tag: int = 0) -> None:
        """Send the buffer specification ``buf`` (returns once handed off)."""
        plain = None
        if type(dest) is int and dest >= 0:
            plain = (
                parse_plain(buf, writable=False)
                if type(buf) is np.ndarray
                else parse_counted(buf, writable=False)
            )
            if plain is not None and plain.mem.nbytes < RNDV_MIN:
                runner.run(self._z().send(plain.mem, dest, tag))  # the commonest call
                return
        d = dest_in(dest)
        z = self._z()
        data = plain.mem if plain is not None else self._packed(buf, d, False)  # (parsed once)
        if by_descriptor(z, data, d):
            assert d is not None
            runner.run(send_by_descriptor(z, self._shadow(), data, d, tag))
            return
        runner.run(z.send(data, d, tag))

    Rsend = Send  # a ready send may be a standard one (MPI 3.1, 3.4)

    def Ssend(self, buf: Any, dest: int, tag: int = 0) -> None:
        """Send ``buf``; returns once the receiver has matched the message."""
        d = dest_in(dest)
        runner.run(_send(self._z(), self._shadow(), self._packed(buf, d, True), d, tag, True))

    def Bsend(self, buf: Any, dest: int, tag: int = 0) -> None:
        """Copy ``buf`` into the attached buffer and send it from there.
        Raises ``MPI.Exception(ERR_BUFFER)`` when it does not fit."""
        d = dest_in(dest)
        data = np.array(self._packed(buf, d, False), copy=True) if d is not None else None
        self._buffered(data, dest, tag, 0 if data is None else data.nbytes)

    def _buffered(self, obj: Any, dest: int, tag: int, nbytes: int) -> None:
        d = dest_in(dest)
        if d is None:
            return
        space = self._space()
        try:
            held = space.reserve(nbytes)
        except Exception:
            runner.poll()  # sends done by now give their room back
            held = space.reserve(nbytes)
        z = self._z()

        def post() -> None:
            fut = z.start_send(obj, d, tag)
            if fut is None:
                space.release(held)
                return
            runner.own(fut, progress=True)
            fut.add_done_callback(lambda _: space.release(held))

        try:
            runner.now(post)
        except BaseException:
            space.release(held)
            raise

    def Recv(
        self,
        buf: Any,
        source: int = C.ANY_SOURCE,
        tag: int = C.ANY_TAG,
        status: Status | None = None,
    ) -> None:
        """Receive into the buffer specification ``buf``; raises
        ``ValueError`` when the message is longer than the buffer."""
        if status is None and type(source) is int and source >= 0 and type(tag) is int and tag >= 0:
            plain = (
                parse_plain(buf, writable=True)
                if type(buf) is np.ndarray
                else parse_counted(buf, writable=True)
            )
            if plain is not None:  # the commonest call, in the fewest steps
                data = runner.run(self._z().recv(source, tag))
                if type(data) is np.ndarray and data.dtype.char == "B":
                    plain.unpack(data)  # a standard send's bytes
                    return
                content, ack = opened(data)
                if ack:
                    shadow = self._shadow()
                    if is_descriptor(content):
                        content = runner.run(desc_read(shadow, content, source, tag, plain.mem))
                    else:
                        runner.now(lambda: _acknowledge(shadow, source, tag))
                unpack_into(plain, content, None)
                return
        src = source_in(source)
        msg = _spec(buf, writable=True)
        got: Took = runner.run(_take(self._z(), self._shadow(), src, tag, desc_into(msg)))
        _fill(status, got, 0)
        if msg is not None:
            unpack_into(msg, got[0], status)

    def Isend(self, buf: Any, dest: int, tag: int = 0) -> Request:
        """Start sending ``buf``; it must not change before the request completes."""
        d = dest_in(dest)
        return self._isend(self._packed(buf, d, False), d, tag)

    def _isend(self, data: Any, d: int | None, tag: int) -> Request:
        """``Isend`` of packed bytes ``data`` to ``d`` (None: ``PROC_NULL``)."""
        z = self._z()
        if by_descriptor(z, data, d):
            assert d is not None
            claim = coop.slot(False)  # its waits say when this rank waits for it
            task = runner.start(send_by_descriptor(z, self._shadow(), data, d, tag, claim))
            return Request._of(task, claim=claim)
        return Request._of(runner.now(lambda: z.isend(data, d, tag)))

    Irsend = Isend

    def Issend(self, buf: Any, dest: int, tag: int = 0) -> Request:
        """Start a synchronous send: the request completes once the
        receiver has matched the message."""
        d = dest_in(dest)
        data = self._packed(buf, d, True)
        return Request._of(runner.start(_send(self._z(), self._shadow(), data, d, tag, True)))

    def Ibsend(self, buf: Any, dest: int, tag: int = 0) -> Request:
        """``Bsend``, as a request that is complete at once (the bytes are copied)."""
        self.Bsend(buf, dest, tag)
        return Request._of(None)

    def Irecv(self, buf: Any, source: int = C.ANY_SOURCE, tag: int = C.ANY_TAG) -> Request:
        """Start receiving into ``buf``; it is filled when the request completes."""
        src = source_in(source)
        return self._irecv(_spec(buf, writable=True) if src is not None else None, src, tag)

    def _irecv(self, msg: Spec | Plain | None, src: int | None, tag: int) -> Request:
        """``Irecv`` into parsed ``msg`` from ``src`` (None: ``PROC_NULL``)."""
        task = runner.start(_take(self._z(), self._shadow(), src, tag, desc_into(msg), True))

        def finish(got: Took, status: Status) -> None:
            status._fill(got[1], got[2], 0)
            if msg is not None:
                unpack_into(msg, got[0], status)

        return Request._of(task, finish, cancellable=True)

    def Sendrecv(
        self,
        sendbuf: Any,
        dest: int,
        sendtag: int = 0,
        recvbuf: Any = None,
        source: int = C.ANY_SOURCE,
        recvtag: int = C.ANY_TAG,
        status: Status | None = None,
    ) -> None:
        d, src = dest_in(dest), source_in(source)
        data = self._packed(sendbuf, d, False)
        msg = parse(recvbuf, writable=True) if src is not None and recvbuf is not None else None
        got: Took = runner.run(_sendrecv(self._z(), self._shadow(), data, d, sendtag, src, recvtag))
        _fill(status, got, 0)
        if msg is not None:
            unpack_into(msg, got[0], status)

    def Sendrecv_replace(
        self,
        buf: Any,
        dest: int,
        sendtag: int = 0,
        source: int = C.ANY_SOURCE,
        recvtag: int = C.ANY_TAG,
        status: Status | None = None,
    ) -> None:
        """Send ``buf`` and receive into it (the bytes sent are copied first)."""
        msg = _spec(buf, writable=True)
        data = np.array(msg.pack(), copy=True)  # the buffer is overwritten next
        d, src = dest_in(dest), source_in(source)
        sent = data if d is not None else None
        got: Took = runner.run(_sendrecv(self._z(), self._shadow(), sent, d, sendtag, src, recvtag))
        _fill(status, got, 0)
        if src is not None:
            unpack_into(msg, got[0], status)

    def Isendrecv(
        self,
        sendbuf: Any,
        dest: int,
        sendtag: int = 0,
        recvbuf: Any = None,
        source: int = C.ANY_SOURCE,
        recvtag: int = C.ANY_TAG,
    ) -> Request:
        """``Sendrecv`` started: ``recvbuf`` is filled when the request completes."""
        d, src = dest_in(dest), source_in(source)
        data = self._packed(sendbuf, d, False)
        msg = parse(recvbuf, writable=True) if recvbuf is not None else None
        return self._sendrecv_started(data, d, sendtag, src, recvtag, msg)

    def Isendrecv_replace(
        self,
        buf: Any,
        dest: int,
        sendtag: int = 0,
        source: int = C.ANY_SOURCE,
        recvtag: int = C.ANY_TAG,
    ) -> Request:
        """``Sendrecv_replace`` started (the bytes sent are copied at the call)."""
        msg = _spec(buf, writable=True)
        d, src = dest_in(dest), source_in(source)
        sent = np.array(msg.pack(), copy=True) if d is not None else None
        into = msg if src is not None else None
        return self._sendrecv_started(sent, d, sendtag, src, recvtag, into)

    def _sendrecv_started(
        self, data: Any, d: int | None, sendtag: int, src: int | None, recvtag: int, msg: Any
    ) -> Request:
        """The request of a started sendrecv that unpacks into ``msg`` (None: nothing)."""
        task = runner.start(_sendrecv(self._z(), self._shadow(), data, d, sendtag, src, recvtag))

        def finish(got: Took, status: Status) -> None:
            status._fill(got[1], got[2], 0)
            if msg is not None:
                unpack_into(msg, got[0], status)

        return Request._of(task, finish)

    def isendrecv(
        self,
        sendobj: Any,
        dest: int,
        sendtag: int = 0,
        recvbuf: Any = None,
        source: int = C.ANY_SOURCE,
        recvtag: int = C.ANY_TAG,
    ) -> Request:
        """``sendrecv`` started: ``wait`` gives the object received."""
        z, obj = self._z(), marked_object(sendobj, False)
        task = runner.start(
            _sendrecv(z, self._shadow(), obj, dest_in(dest), sendtag, source_in(source), recvtag)
        )

        def finish(got: Took, status: Status) -> Any:
            status._fill(got[1], got[2], got[3])
            return object_of(got[0])

        return Request._of(task, finish)

    # -- persistent requests ----------------------------------------------------------------------
    def Send_init(self, buf: Any, dest: int, tag: int = 0) -> Prequest:
        """A persistent standard send: each ``Start`` sends ``buf`` as it is then."""
        return Prequest._persistent(lambda: self.Isend(buf, dest, tag))

    def Ssend_init(self, buf: Any, dest: int, tag: int = 0) -> Prequest:
        return Prequest._persistent(lambda: self.Issend(buf, dest, tag))

    def Bsend_init(self, buf: Any, dest: int, tag: int = 0) -> Prequest:
        return Prequest._persistent(lambda: self.Ibsend(buf, dest, tag))

    def Rsend_init(self, buf: Any, dest: int, tag: int = 0) -> Prequest:
        return Prequest._persistent(lambda: self.Irsend(buf, dest, tag))

    def Recv_init(self, buf: Any, source: int = C.ANY_SOURCE, tag: int = C.ANY_TAG) -> Prequest:
        """A persistent receive: each ``Start`` posts a receive into ``buf``."""
        return Prequest._persistent(lambda: self.Irecv(buf, source, tag))


async def _claim(z: ZComm, shadow: ZComm, source: int, tag: int, wait: bool) -> Took | None:
    """Inside the loop: take the first message matching ``(source, tag)``
    out of matching, or None (``wait`` false and none there). The probe
    and the take happen in one step of the loop, so no other receive can
    come between them."""
    await asyncio.sleep(0)  # take in what has arrived
    while True:
        st = z.iprobe(source, tag)
        if st is not None:
            # The message is queued: this receive completes at once.
            return await _take(z, shadow, st.source, st.tag)
        if not wait:
            return None
        await z.probe(source, tag)
