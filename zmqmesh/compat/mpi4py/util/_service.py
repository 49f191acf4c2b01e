"""A shared object of ``mpi4py.util.sync`` held by one rank and served by
messages (see ``_syncstate``).

Theory of operation. Making a service is collective: the communicator is
duplicated (its messages never meet the program's) and the root starts
a task on the layer's event loop that receives requests from any rank,
feeds them to the state machine and sends what it answers. The task is
started as one that must progress on its own (``runner.start(...,
progress=True)``): between the program's MPI calls the layer's progress
thread runs the loop, so the root answers while its program computes or
waits in a blocking call, and a rank whose program never returns to MPI
does not stall the others. While a service lives, each MPI call of the
root's program hands the loop over to and back from that thread.

A client (every rank, the root too) sends its request and waits for the
answer; a rank has at most one request in flight per service. ``free``
is collective: a barrier (every rank is done with the object), then the
root stops its task. Services not freed are stopped at exit, before the
layer finalizes.

Invariants: the task exists on the root only, is owned by the layer's
runner, and is cancelled and awaited by ``free`` or at exit.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Protocol

import zmqmesh
from zmqmesh.compat.mpi4py import runner
from zmqmesh.compat.mpi4py.comm import Intracomm
from zmqmesh.compat.mpi4py.util._syncstate import REPLY, Instruction
from zmqmesh.runtime.comm import Comm as ZComm

__all__ = ["Machine", "Service", "intracomm"]

_REQUEST, _ANSWER, _NOTIFY = 1, 2, 3
_ERRORS: dict[str, type[Exception]] = {"RuntimeError": RuntimeError, "ValueError": ValueError}


class Machine(Protocol):
    def handle(self, src: int, request: Any) -> list[Instruction]: ...


def intracomm(comm: Any, what: str) -> Intracomm:
    """``comm`` if it is a live intracommunicator; else ``TypeError``/``ValueError``."""
    if not isinstance(comm, Intracomm):
        raise TypeError(f"{what}: comm must be an MPI.Intracomm, not {type(comm).__name__}")
    if not comm:
        raise ValueError(f"{what}: comm is the null communicator")
    return comm


async def _serve(z: ZComm, machine: Machine) -> None:
    while True:
        st = zmqmesh.Status()
        request = await z.recv(zmqmesh.ANY_SOURCE, _REQUEST, st)
        assert st.source is not None
        for dest, kind, answer in machine.handle(st.source, request):
            await z.send(answer, dest, _ANSWER if kind == REPLY else _NOTIFY)


async def _ask(z: ZComm, root: int, request: Any) -> Any:
    await z.send(request, root, _REQUEST)
    return await z.recv(root, _ANSWER)


class Service:
    """One shared object: its duplicate communicator, its root, and on the
    root the task serving it."""

    __slots__ = ("_comm", "_task", "_z", "root")

    def __init__(self, comm: Intracomm, root: int, machine: Machine | None) -> None:
        size = comm.Get_size()
        if not (isinstance(root, int) and 0 <= root < size):
            raise ValueError(f"root {root!r} out of range for a communicator of size {size}")
        self._comm: Intracomm | None = comm.Dup()
        self.root = root
        self._z: ZComm | None = self._comm._z()
        self._task: asyncio.Future[Any] | None = None
        if self._comm.Get_rank() == root:
            assert machine is not None
            self._task = runner.start(_serve(self._z, machine), progress=True)
            _live.add(self)
            _stop_at_exit()

    @property
    def rank(self) -> int:
        return self._live_comm().Get_rank()

    @property
    def freed(self) -> bool:
        return self._comm is None

    def _live_comm(self) -> Intracomm:
        if self._comm is None:
            raise RuntimeError("the object has been freed")
        return self._comm

    def call(self, request: Any) -> Any:
        """Send ``request`` to the root and wait for its answer; raises
        what the root answers with an error."""
        z = self._live_comm()._z()
        answer = runner.run(_ask(z, self.root, request))
        if isinstance(answer, tuple) and len(answer) == 3 and answer[0] == "error":
            raise _ERRORS.get(answer[1], RuntimeError)(answer[2])
        return answer

    def notified(self) -> None:
        """Wait for this rank's next wake-up from the root."""
        z = self._live_comm()._z()
        runner.run(z.recv(self.root, _NOTIFY))

    def free(self) -> None:
        """Collective: once every rank is done with the object, stop serving it."""
        if self._comm is None:
            return
        z = self._comm._z()
        runner.run(z.barrier())
        self._stop()
        self._comm.Free()
        self._comm = self._z = None

    def _stop(self) -> None:
        task, self._task = self._task, None
        _live.discard(self)
        if task is not None and not task.done():
            runner.now(task.cancel)
            runner.run(asyncio.wait([task]))


_live: set[Service] = set()  # held until stopped: a dropped object is still served
_registered: list[bool] = []


def _stop_all() -> None:
    for service in list(_live):
        service._stop()


def _stop_at_exit() -> None:
    # Threading's exit hooks run in reverse order of registration: this one,
    # registered after the layer's Finalize, runs before it.
    if _registered:
        return
    _registered.append(True)
    threading._register_atexit(_stop_all)  # type: ignore[attr-defined]
