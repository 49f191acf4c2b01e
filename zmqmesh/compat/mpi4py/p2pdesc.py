"""The layer's side of large same-host buffer messages sent by descriptor
(``rndv.py`` says how): sending one and waiting for the answer, reading
one into the receive's memory, and a probe's count of one."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

import zmqmesh
from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import coop, runner
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.msgspec import Message, Plain
from zmqmesh.compat.mpi4py.ranks import data_bytes
from zmqmesh.compat.mpi4py.rndv import (
    RNDV_MIN,
    desc_nbytes,
    descriptor,
    enabled,
    is_descriptor,
    readv,
    size_of,
)
from zmqmesh.compat.mpi4py.rndv import read as rndv_read
from zmqmesh.compat.mpi4py.rndv import target as rndv_target
from zmqmesh.compat.mpi4py.sync import Packed
from zmqmesh.runtime.comm import Comm as ZComm

__all__ = ["by_descriptor", "into", "probed_bytes", "read", "send_by_descriptor"]


def _refused(rank: int, mine: bool) -> MPIException:
    who = "this rank cannot read rank {}'s" if mine else "rank {} cannot read this rank's"
    return MPIException(
        C.ERR_OTHER,
        who.format(rank) + " memory for a large message on this host "
        "(cross-memory attach refused); run with ZMQMESH_CMA=0",
    )


def _answer(comm: ZComm, obj: Any, dest: int, tag: int) -> None:
    fut = comm.start_send(obj, dest, tag)
    if fut is not None:
        runner.own(fut)


async def read(
    shadow: ZComm, desc: Any, source: int, tag: int, into: Any, batch: bool = False
) -> Any:
    """A descriptor's bytes (``rndv.py``), read into ``into`` when they fit
    there; with the sender copying along when it waits for them
    (``coop.py``). The sender is told whether they could be read. With
    ``batch`` (a nonblocking receive), the receives matched in the same
    turn of the loop ask together; a blocking one decides at once."""
    ident, slot_addr = int(desc[5]), int(desc[6])
    x = coop.exchange() if ident >= 0 else None
    peer = None if x is None else x.peer(shadow, source)
    if x is None or peer is None:  # an old-style answer: on the shadow, with the message's tag
        data = rndv_read(desc, into)
        _answer(shadow, data is not None, source, tag)
        if data is None:
            raise _refused(source, True)
        return data.view(Packed)
    n, pid, src = size_of(desc), int(desc[1]), int(desc[2])
    dst = rndv_target(desc, into)
    if (
        dst is None
        or coop.chunking(n)[1] < 2
        or not enabled()  # (lets the sender write here)
        or (not batch and not x.worth_asking(peer, n))
        or not coop.sender_waits(pid, slot_addr)
    ):
        return _alone(x, peer, ident, pid, src, n, dst, source)
    claim = np.zeros(1, np.int64)
    done = x.ask(peer, ident, dst.ctypes.data, claim, n)
    if batch:
        await asyncio.sleep(0)  # receives matched in this turn ask in one message
    x.flush(peer)
    if done.done() and done.result() == coop.ALONE:  # too little to ask for
        return _alone(x, peer, ident, pid, src, n, dst, source)
    mine = coop.receiver_copy(pid, src, n, dst.ctypes.data, slot_addr, claim)
    x.answer_later(peer, ident, mine >= 0, mine)  # (before the done: they cross)
    if batch:
        await asyncio.sleep(0)  # receives that read their part in this turn answer in one message
    x.flush(peer)
    theirs = await done
    ok = mine >= 0
    if ok and theirs > mine:  # chunks the sender claimed and could not write
        ok = coop.rest_copy(pid, src, n, dst.ctypes.data, mine, theirs)
        x.answer(peer, ident, ok, coop.UNCLAIMED)
    if not ok:
        raise _refused(source, True)
    return dst.view(Packed)


def _alone(
    x: coop.Exchange, peer: int, ident: int, pid: int, src: int, n: int, dst: Any, source: int
) -> Any:
    """Read a described transfer alone, and answer."""
    ok = dst is not None and (n == 0 or readv(pid, dst.ctypes.data, src, n))
    x.answer(peer, ident, ok, coop.UNCLAIMED)
    if dst is None or not ok:
        raise _refused(source, True)
    return dst.view(Packed)


async def send_by_descriptor(
    z: ZComm, shadow: ZComm, mem: Any, dest: int, tag: int, claim: Any = None
) -> None:
    """Send contiguous bytes ``mem`` to a rank of this host in one copy,
    which the receiver makes, with this rank's help while it waits for
    this send (``coop.py``: ``claim`` is the send's claim slot, whose
    waiting flag its waits set; None for a blocking send, which waits at
    once); returns once the bytes are copied."""
    x = coop.exchange()
    peer = None if x is None else x.peer(z, dest)
    answer: Any
    if x is None or peer is None:
        answer = shadow.irecv(dest, tag)  # posted first: it cannot come earlier
        desc = descriptor(mem)
    else:
        if claim is None:
            claim = coop.slot(True)
        ident, answer = x.sending(peer, mem.ctypes.data, mem.nbytes, claim)
        desc = descriptor(mem, ident, claim.ctypes.data)
    try:
        await z.send(desc, dest, tag)
        ok = await answer
    except BaseException:
        answer.cancel()
        if x is not None and peer is not None:
            x.forget(ident)
        raise
    if ok is not True:
        raise _refused(dest, False)


def by_descriptor(z: ZComm, data: Any, dest: int | None) -> bool:
    """Whether ``data`` (a buffer send's bytes) goes to ``dest`` by descriptor."""
    return (
        dest is not None
        and type(data) is np.ndarray
        and data.dtype == np.uint8
        and data.nbytes >= RNDV_MIN
        and enabled()
        and z.on_this_host(dest)
    )


def into(msg: Any) -> Any:
    """Where a descriptor's bytes may be read to: a receive's own memory,
    when its bytes lie in one run there (a plain array, ``[buf, count,
    MPI.BYTE]``...); None for a layout that unpacks from a copy."""
    if type(msg) is Plain:
        return msg.mem
    if isinstance(msg, Message) and msg.stand_in_for is None:
        p = msg.plan()
        if p.kind == "slice" and p.start >= 0 and p.start + p.nbytes <= msg.mem.size:
            return msg.mem[p.start : p.start + p.nbytes]
    return None


def probed_bytes(z: ZComm, st: zmqmesh.Status) -> int:
    """The bytes a receive of a probed message gets (a descriptor's: those
    it describes)."""
    if st.nbytes == desc_nbytes() and st.source is not None:
        got = z.peek(st.source, st.tag)
        if is_descriptor(got):
            return size_of(got)
    return data_bytes(st.nbytes)
