"""How a message says it was sent synchronously, and the buffered-send
space; pure (no I/O).

Synchronous sends. ``Ssend`` completes once the receiver has matched the
message, so the receiving side must learn which messages ask for that and
answer. A buffer message travels as a 1-D array of bytes: ``uint8`` for a
standard send, ``int8`` for a synchronous one (the same bytes, the same
header size, so a probe's count is the same). An object travels as itself,
or as ``(SYNC, obj)`` when sent synchronously; an object that could be
taken for either form (an ``int8`` or ``uint8`` array, a tuple opening
with a marker) travels as ``(PLAIN, obj)``. Every receive of the layer passes what it
matched through :func:`opened`, which says whether to acknowledge. The
acknowledgement is an empty message on the communicator's shadow (a
duplicate no program sees) with the message's own tag: the matches of one
sender's messages with one tag happen in the order they were sent (MPI's
non-overtaking rule), so the sender's posted acknowledgement receives,
matched first-posted first, complete its synchronous sends in order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.rndv import is_descriptor

__all__ = ["PLAIN", "SYNC", "BsendSpace", "Packed", "marked_bytes", "marked_object", "opened"]

SYNC = b"\x00zmqmesh:ssend\x00"
PLAIN = b"\x00zmqmesh:plain\x00"


def marked_bytes(data: npt.NDArray[np.uint8], sync: bool) -> npt.NDArray[Any]:
    """The packed bytes of a buffer send, as they travel."""
    return data.view(np.int8) if sync else data


def marked_object(obj: Any, sync: bool) -> Any:
    """An object of a lower-case send, as it travels."""
    if sync:
        return (SYNC, obj)
    if (isinstance(obj, np.ndarray) and obj.dtype in (np.int8, np.uint8)) or _wrapped(obj):
        return (PLAIN, obj)
    return obj


def _wrapped(obj: Any) -> bool:
    return (
        type(obj) is tuple and len(obj) == 2 and type(obj[0]) is bytes and obj[0] in (SYNC, PLAIN)
    )


class Packed(np.ndarray[Any, np.dtype[np.uint8]]):
    """The bytes of a buffer message, as a receive gets them (an object
    call unpickles them, as mpi4py's would)."""


def opened(got: Any) -> tuple[Any, bool]:
    """``(content, acknowledge)`` of a matched message; a buffer message's
    content is :class:`Packed`."""
    if isinstance(got, np.ndarray) and got.dtype == np.int8:
        return got.view(np.uint8).view(Packed), True
    if isinstance(got, np.ndarray) and got.dtype == np.uint8:
        return got.view(Packed), False
    if _wrapped(got):
        return got[1], got[0] == SYNC
    if is_descriptor(got):  # (rndv.py) read, then answered
        return got, True
    return got, False


class BsendSpace:
    """The attached buffer of ``Bsend``: how much of it pending sends hold.

    A buffered send of ``n`` bytes holds ``n + BSEND_OVERHEAD`` until the
    transport has taken it, as MPICH counts; more than the buffer holds
    raises ``MPI.Exception(ERR_BUFFER)``. ``BUFFER_AUTOMATIC`` has no limit.
    """

    __slots__ = ("buf", "size", "used")

    def __init__(self) -> None:
        self.buf: Any = None
        self.size = 0
        self.used = 0

    def attach(self, buf: Any, size: int | None) -> None:
        """Attach ``buf`` of ``size`` bytes (None: no limit). Raises
        ``MPI.Exception(ERR_BUFFER)`` if one is attached already."""
        if self.buf is not None:
            raise MPIException(C.ERR_BUFFER, "Invalid buffer pointer: a buffer is attached already")
        self.buf, self.size, self.used = buf, -1 if size is None else int(size), 0

    def detach(self) -> Any:
        """The buffer attached (None when none); call once nothing holds it."""
        buf, self.buf, self.size = self.buf, None, 0
        return buf

    def reserve(self, nbytes: int) -> int:
        """Hold room for a send of ``nbytes``; the amount held. Raises
        ``MPI.Exception(ERR_BUFFER)`` when it does not fit."""
        need = int(nbytes) + C.BSEND_OVERHEAD
        if self.buf is None or (self.size >= 0 and self.used + need > self.size):
            total = 0 if self.buf is None else self.size
            raise MPIException(
                C.ERR_BUFFER,
                f"Insufficient space in Bsend buffer; requested {int(nbytes)}; "
                f"total buffer size is {total}",
            )
        self.used += need
        return need

    def release(self, held: int) -> None:
        self.used -= held
