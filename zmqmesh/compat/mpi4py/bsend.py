"""Buffered sends' space: ``Attach_buffer``, ``Detach_buffer``,
``Flush_buffer``, for the process and per communicator.

The bytes of a ``Bsend`` are copied at the call, so the space attached is
never written: it is counted (``sync.BsendSpace``), as MPI counts what a
buffered send may hold, so that a program that overflows its buffer under
MPICH raises here too.
"""

from __future__ import annotations

from typing import Any

from zmqmesh.compat.mpi4py import runner
from zmqmesh.compat.mpi4py.handles import BUFFER_AUTOMATIC
from zmqmesh.compat.mpi4py.msgspec import as_bytes
from zmqmesh.compat.mpi4py.requests import Request
from zmqmesh.compat.mpi4py.sync import BsendSpace

__all__ = [
    "PROCESS_BUFFER",
    "Attach_buffer",
    "Detach_buffer",
    "Flush_buffer",
    "Iflush_buffer",
    "attach_to",
    "detach_from",
    "flush",
]

PROCESS_BUFFER = BsendSpace()


def attach_to(space: BsendSpace, buf: Any) -> None:
    if buf is BUFFER_AUTOMATIC:
        space.attach(buf, None)
        return
    # writable memory only, as mpi4py (BufferError for read-only memory)
    space.attach(buf, as_bytes(buf, True)[0].nbytes)


def flush(space: BsendSpace) -> None:
    """Wait until every buffered send holding room in ``space`` is sent."""
    while space.used:
        runner.poll(0.0005)


def detach_from(space: BsendSpace) -> Any:
    flush(space)
    buf = space.detach()
    return BUFFER_AUTOMATIC if buf is None else buf


def Attach_buffer(buf: Any) -> None:
    """Attach ``buf`` (or ``BUFFER_AUTOMATIC``) for buffered sends.
    Raises ``MPI.Exception(ERR_BUFFER)`` if one is attached already."""
    attach_to(PROCESS_BUFFER, buf)


def Detach_buffer() -> Any:
    """Wait for the pending buffered sends; the buffer detached
    (``BUFFER_AUTOMATIC`` when none was, as MPICH answers)."""
    return detach_from(PROCESS_BUFFER)


def Flush_buffer() -> None:
    """Deliver what the attached buffer holds (the layer's buffered sends
    complete at the call: nothing waits)."""
    flush(PROCESS_BUFFER)


def Iflush_buffer() -> Request:
    """Nonblocking ``Flush_buffer``, as a request complete once it returns."""
    flush(PROCESS_BUFFER)
    return Request._of(None)
