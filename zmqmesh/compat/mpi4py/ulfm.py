"""User-level failure mitigation, as mpi4py 4 names it (``Comm.Agree``,
``Iagree``, ``Shrink``, ``Ishrink``, ``Get_failed``, ``Ack_failed``,
``Is_revoked``, ``Revoke``).

Theory of operation. In a zmqmesh job a process that fails ends the job
(its launcher stops the others and says which rank failed and why), so
while a program runs, no member of any communicator has failed. The
calls answer for that world: ``Get_failed`` is the empty group and
``Ack_failed`` acknowledges none; ``Agree`` is the bitwise AND of every
member's flag (of an intercommunicator, of the remote group's, as MPICH
gives) and ``Shrink`` a duplicate. The agreement runs on the communicator's shadow, where no
other collective runs, so a rank may start one (``Iagree``) before a
collective that the others call first, as the ULFM agreement allows.
``Revoke`` raises ``NotImplementedError``, as MPICH's; ``Is_revoked`` is
false.
"""

from __future__ import annotations

import struct
from typing import Any

import zmqmesh
from zmqmesh.compat.mpi4py import runner
from zmqmesh.compat.mpi4py.groups import GROUP_EMPTY, Group
from zmqmesh.compat.mpi4py.requests import Request

__all__ = ["FaultCalls"]


async def _agree(shadow: Any, flag: int, remote: int) -> int:
    """The AND of the flags of the shadow's members; of an
    intercommunicator's ``remote`` group only, as MPICH's agreement (and
    an intercommunicator's reduction) gives."""
    if not hasattr(shadow, "union"):
        got: int = await shadow.allreduce(flag, op=zmqmesh.BAND)
        return got
    union, at = shadow.union(0)  # the remote group: union ranks at .. at + remote - 1
    flags = await union.allgather(flag)
    out = -1
    for v in flags[at : at + remote]:
        out &= int(v)
    return out


class FaultCalls:
    """Mixed into ``Comm``: needs ``_shadow()``, ``_comm`` and ``Dup``."""

    __slots__ = ()

    def _shadow(self) -> Any:
        raise NotImplementedError

    def Dup(self, info: Any = None) -> Any:
        raise NotImplementedError

    def _remote(self) -> int:
        """The remote group's size (an intercommunicator's), else 0."""
        remote = getattr(self, "Get_remote_size", None)
        return int(remote()) if self.Is_inter() and remote is not None else 0

    def Is_inter(self) -> bool:
        raise NotImplementedError

    def Is_revoked(self) -> bool:
        """Indicate whether the communicator has been revoked."""
        self._shadow()  # (checks the handle)
        return False

    Revoke = runner.unsupported(
        "Comm.Revoke", "a failed process ends the job, so a communicator is never revoked"
    )

    def Get_failed(self) -> Group:
        """Extract the group of failed processes."""
        self._shadow()
        return Group(GROUP_EMPTY)

    def Ack_failed(self, num_to_ack: int | None = None) -> int:
        """Acknowledge failures on a communicator."""
        self._shadow()
        return 0

    def Agree(self, flag: int) -> int:
        """Blocking agreement."""
        got: int = runner.run(_agree(self._shadow(), int(flag), self._remote()))
        return got

    def Iagree(self, flag: Any) -> Request:
        """Nonblocking agreement: ``flag`` is a buffer of one C int, which
        holds the agreed value once the request completes."""
        try:
            view = memoryview(flag).cast("B")
        except TypeError:
            raise TypeError(
                f"Iagree takes a buffer of one C int, not {type(flag).__name__}"
            ) from None
        if view.nbytes != struct.calcsize("i") or view.readonly:
            raise ValueError(
                f"Iagree takes a writable buffer of one C int ({struct.calcsize('i')} bytes), "
                f"not {view.nbytes} bytes{' read-only' if view.readonly else ''}"
            )
        (value,) = struct.unpack("i", view)
        task = runner.start(_agree(self._shadow(), value, self._remote()))

        def finish(got: int, status: Any) -> None:
            view[:] = struct.pack("i", int(got))

        return Request._of(task, finish)

    def Shrink(self) -> Any:
        """Shrink a communicator to remove all failed processes."""
        return self.Dup()

    def Ishrink(self) -> tuple[Any, Request]:
        """Nonblocking shrink: the new communicator, and a request that
        completes at once (it is made when the call returns)."""
        return self.Dup(), Request._of(None)
