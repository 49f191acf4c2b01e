"""The layer's side of large same-host buffer messages sent by descriptor
(``rndv.py`` says how): sending one and waiting for the answer, reading
one into the receive's memory, and a probe's count of one."""

from __future__ import annotations

from typing import Any

import numpy as np

import zmqmesh
from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import runner
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.msgspec import Plain
from zmqmesh.compat.mpi4py.ranks import data_bytes
from zmqmesh.compat.mpi4py.rndv import (
    RNDV_MIN,
    desc_nbytes,
    descriptor,
    enabled,
    is_descriptor,
    size_of,
)
from zmqmesh.compat.mpi4py.rndv import read as rndv_read
from zmqmesh.compat.mpi4py.sync import Packed
from zmqmesh.runtime.comm import Comm as ZComm

__all__ = ["by_descriptor", "into", "probed_bytes", "read", "send_by_descriptor"]


def read(shadow: ZComm, desc: Any, source: int, tag: int, into: Any) -> Any:
    """A descriptor's bytes (``rndv.py``); the sender is told whether they
    could be read."""
    data = rndv_read(desc, into)
    fut = shadow.start_send(data is not None, source, tag)
    if fut is not None:
        runner.own(fut)
    if data is None:
        raise MPIException(
            C.ERR_OTHER,
            f"cannot read rank {source}'s memory for a large message on this host "
            "(cross-memory attach refused); run with ZMQMESH_CMA=0",
        )
    return data.view(Packed)


async def send_by_descriptor(z: ZComm, shadow: ZComm, mem: Any, dest: int, tag: int) -> None:
    """Send contiguous bytes ``mem`` to a rank of this host in one copy,
    which the receiver makes (``rndv.py``); returns once it has."""
    answer = shadow.irecv(dest, tag)  # posted first: it cannot come earlier
    try:
        await z.send(descriptor(mem), dest, tag)
        ok = await answer
    except BaseException:
        answer.cancel()
        raise
    if ok is not True:
        raise MPIException(
            C.ERR_OTHER,
            f"rank {dest} cannot read this rank's memory for a large message on this "
            "host (cross-memory attach refused); run with ZMQMESH_CMA=0",
        )


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
    """Where a descriptor's bytes may be read to: a plain receive's memory."""
    return msg.mem if type(msg) is Plain else None


def probed_bytes(z: ZComm, st: zmqmesh.Status) -> int:
    """The bytes a receive of a probed message gets (a descriptor's: those
    it describes)."""
    if st.nbytes == desc_nbytes() and st.source is not None:
        got = z.peek(st.source, st.tag)
        if is_descriptor(got):
            return size_of(got)
    return data_bytes(st.nbytes)
