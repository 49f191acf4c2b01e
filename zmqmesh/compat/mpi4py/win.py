"""``MPI.Win``: one-sided communication windows.

Making a window is collective over its communicator: ``Create`` (the
program's memory), ``Allocate`` (new memory), ``Allocate_shared`` (one
segment every rank of the host maps, ``Shared_query`` gives any rank's
part), ``Create_dynamic`` (memory ``Attach``-ed later). Each window takes
a duplicate of the communicator for its messages and serves the other
ranks' operations whenever this rank is inside an MPI call (see
``winserve``); the operations are in ``winops``.

Synchronisation, as MPI's: ``Fence`` (collective; it completes every
operation of the epoch before it, everywhere), passive target ``Lock``/
``Unlock``, ``Lock_all``/``Unlock_all`` with ``Flush``/``Flush_all``/
``Flush_local``/``Flush_local_all``/``Sync``, and generalised active target
``Post``/``Start``/``Complete``/``Wait``/``Test``. Misuse (an operation
outside every epoch, ``Unlock`` without ``Lock``, ``Complete`` without
``Start``...) raises ``MPI.Exception(ERR_RMA_SYNC)``. The memory model is
unified: the window is the program's memory.
"""

from __future__ import annotations

import operator
import socket
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import runner
from zmqmesh.compat.mpi4py import winmem as M
from zmqmesh.compat.mpi4py.attributes import KeyvalCalls
from zmqmesh.compat.mpi4py.comm import COMM_SELF, Comm
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.foreign import as_bytes
from zmqmesh.compat.mpi4py.groups import Group
from zmqmesh.compat.mpi4py.handles import Handle, is_bottom
from zmqmesh.compat.mpi4py.membuf import buffer
from zmqmesh.compat.mpi4py.objects import ERRORS_RETURN, INFO_NULL, Errhandler, Info
from zmqmesh.compat.mpi4py.winops import RmaCalls, Window, sync_error
from zmqmesh.compat.mpi4py.winserve import Port, error_of

__all__ = ["WIN_NULL", "Win"]


def _intracomm(comm: Any) -> Comm:
    if not isinstance(comm, Comm) or not comm:
        raise MPIException(C.ERR_COMM, "Invalid communicator")
    if comm.Is_inter():
        raise MPIException(C.ERR_COMM, "Invalid communicator: windows need an intracommunicator")
    return comm


def _address(arr: Any) -> int:
    return int(arr.__array_interface__["data"][0]) if arr.size else 0


T = TypeVar("T")


def _local(comm: Comm, step: Callable[[], T]) -> T:
    """Collective: ``step()`` on every rank of ``comm``; if it raised on any
    rank, every rank raises (that rank's own error; the others
    ``MPI.Exception`` of its class), so none waits for a rank that left."""
    problem: Exception | None = None
    try:
        got = step()
    except Exception as exc:
        problem = exc
    told = runner.run(comm._z().allgather(None if problem is None else error_of(problem)))
    if problem is not None:
        raise problem
    for r, p in enumerate(told):
        if p is not None:
            raise MPIException(p[0], f"{p[1]} (on rank {r})")
    return got


def _size(size: Any) -> int:
    n = operator.index(size)
    if n < 0:
        raise MPIException(C.ERR_SIZE, f"Invalid size argument {n}")
    return n


def _unit(disp_unit: Any) -> int:
    unit = operator.index(disp_unit)
    if unit <= 0:
        raise MPIException(C.ERR_DISP, f"Invalid displacement unit {unit}")
    return unit


def _memory_of(memory: Any) -> Any:
    if memory is None or is_bottom(memory):
        return np.zeros(0, np.uint8)
    mem, _, _ = as_bytes(memory, False)
    return mem


class Win(KeyvalCalls, Handle, RmaCalls):
    """A window of memory other ranks read and write (MPI_Win)."""

    __slots__ = ()

    def _w(self) -> Window:
        w: Window | None = self._h
        if w is None:
            raise MPIException(C.ERR_WIN, "Invalid MPI_Win (the null window)")
        return w

    # -- making one ------------------------------------------------------------------------------
    @classmethod
    def _make(
        cls, comm: Comm, base: Any, unit: int, flavor: int, info: Any, dynamic: bool = False
    ) -> Win:
        dup = comm.Dup()
        z = dup._z()
        port = Port(z, M.Memory(base, unit, dynamic))
        w = Window(dup, port, flavor, dup._members())
        runner.now(port.open)
        got = runner.run(z.allgather((int(base.size) if base is not None else 0, unit)))
        runner.at_next_call(port.serve_early)
        w.sizes = [int(s) for s, _ in got]
        w.units = [int(u) for _, u in got]
        w.errhandler = Errhandler(ERRORS_RETURN)
        if info is not None and info:
            w.info = dict(info.items())
        win = cls()
        win._h = w
        return win

    @classmethod
    def Create(
        cls, memory: Any, disp_unit: int = 1, info: Any = INFO_NULL, comm: Any = COMM_SELF
    ) -> Win:
        """Collective: a window over ``memory`` (a buffer, or ``BOTTOM``/None for none)."""
        comm = _intracomm(comm)
        base, unit = _local(comm, lambda: (_memory_of(memory), _unit(disp_unit)))
        return cls._make(comm, base, unit, C.WIN_FLAVOR_CREATE, info)

    @classmethod
    def Allocate(
        cls, size: int, disp_unit: int = 1, info: Any = INFO_NULL, comm: Any = COMM_SELF
    ) -> Win:
        """Collective: a window over ``size`` new bytes (zeroed) at each rank."""
        comm = _intracomm(comm)
        n, unit = _local(comm, lambda: (_size(size), _unit(disp_unit)))
        base = buffer.allocate(n, clear=True).view(np.ndarray).view(np.uint8)
        return cls._make(comm, base, unit, C.WIN_FLAVOR_ALLOCATE, info)

    @classmethod
    def Allocate_shared(
        cls, size: int, disp_unit: int = 1, info: Any = INFO_NULL, comm: Any = COMM_SELF
    ) -> Win:
        """Collective over ranks of one host: ``size`` bytes at each rank in one
        segment every rank maps (``Shared_query``). ``ERR_RMA_SHARED`` for
        ranks on more than one host."""
        comm = _intracomm(comm)
        n, unit = _local(comm, lambda: (_size(size), _unit(disp_unit)))
        z = comm._z()
        hosts = runner.run(z.allgather((socket.gethostname(), n)))
        if len({h for h, _ in hosts}) > 1:
            raise MPIException(C.ERR_RMA_SHARED, "Allocate_shared: the ranks are on several hosts")
        sizes = [s for _, s in hosts]
        made: M.SharedSegment | None = None
        if z.rank == 0:
            made = _local(
                comm, lambda: M.SharedSegment(M.SharedSegment.new_path(), sum(sizes), True)
            )
            path = runner.run(z.bcast(made.path, 0))
        else:
            _local(comm, lambda: None)  # rank 0 made the file, or every rank raises
            path = runner.run(z.bcast(None, 0))
        segment = made or _local(comm, lambda: M.SharedSegment(path, sum(sizes), False))
        if made is not None:
            try:
                _local(comm, lambda: None)  # every rank has mapped it (or failed to)
            finally:
                made.unlink()  # the name can go
        starts = np.concatenate([[0], np.cumsum(sizes)]).astype(int).tolist()
        parts = [segment.array[starts[r] : starts[r] + sizes[r]] for r in range(len(sizes))]
        win = cls._make(comm, parts[z.rank], unit, C.WIN_FLAVOR_SHARED, info)
        w = win._w()
        w.segment, w.shared = segment, parts
        return win

    @classmethod
    def Create_dynamic(cls, info: Any = INFO_NULL, comm: Any = COMM_SELF) -> Win:
        """Collective: a window with no memory until ``Attach``; its
        displacements are addresses (``MPI.Get_address``) at the target."""
        return cls._make(_intracomm(comm), None, 1, C.WIN_FLAVOR_DYNAMIC, info, dynamic=True)

    def Attach(self, memory: Any) -> None:
        """Let other ranks reach ``memory`` through this dynamic window."""
        w = self._w()
        if w.flavor != C.WIN_FLAVOR_DYNAMIC:
            raise MPIException(C.ERR_RMA_FLAVOR, "Attach: the window is not dynamic")
        mem = _memory_of(memory)
        runner.now(lambda: w.port.memory.attach(mem))

    def Detach(self, memory: Any) -> None:
        """Stop letting other ranks reach ``memory``."""
        w = self._w()
        if w.flavor != C.WIN_FLAVOR_DYNAMIC:
            raise MPIException(C.ERR_RMA_FLAVOR, "Detach: the window is not dynamic")
        address = _address(_memory_of(memory))
        if not runner.now(lambda: w.port.memory.detach(address)):
            raise MPIException(C.ERR_RMA_ATTACH, "Detach: the memory is not attached")

    def Free(self) -> None:
        """Collective: complete this rank's operations, wait for every rank,
        and free the window (the handle becomes ``WIN_NULL``)."""
        w = self._w()
        w.flush()
        z = w.comm._z()
        runner.run(z.barrier())
        runner.now(w.port.close)
        self._free_attrs()
        w.comm.Free()
        if w.segment is not None:
            w.shared = []
            w.port.memory.base = np.zeros(0, np.uint8)
            w.segment.close()
        self._h = None

    # -- what it is ------------------------------------------------------------------------------
    def Get_group(self) -> Group:
        """The group of the window's communicator."""
        w = self._w()
        return Group._of(w.members, w.members[w.rank])

    group = property(Get_group)

    @property
    def group_size(self) -> int:
        """Group size."""
        return self._w().size

    @property
    def group_rank(self) -> int:
        """Group rank."""
        return self._w().rank

    def Get_attr(self, keyval: int) -> Any:
        """Return the value of attribute ``keyval``: ``WIN_BASE``, ``WIN_SIZE``,
        ``WIN_DISP_UNIT``, ``WIN_CREATE_FLAVOR``, ``WIN_MODEL`` or a user
        attribute (None when not set)."""
        w = self._w()
        base = w.port.memory.base
        known = {
            C.WIN_BASE: _address(base),
            C.WIN_SIZE: int(base.size),
            C.WIN_DISP_UNIT: w.port.memory.disp_unit,
            C.WIN_CREATE_FLAVOR: w.flavor,
            C.WIN_MODEL: C.WIN_UNIFIED,
        }
        if int(keyval) in known:
            return known[int(keyval)]
        return self._user_attr(keyval)

    @property
    def attrs(self) -> tuple[int, int, int]:
        """Attributes: base address, size (in bytes) and displacement unit."""
        return (
            self.Get_attr(C.WIN_BASE),
            self.Get_attr(C.WIN_SIZE),
            self.Get_attr(C.WIN_DISP_UNIT),
        )

    @property
    def flavor(self) -> int:
        """Create flavor."""
        return int(self.Get_attr(C.WIN_CREATE_FLAVOR))

    @property
    def model(self) -> int:
        """Memory model."""
        return int(self.Get_attr(C.WIN_MODEL))

    def tomemory(self) -> buffer:
        """This rank's memory of the window, as an ``MPI.buffer``."""
        base = self._w().port.memory.base
        return buffer(base) if base.size else buffer()

    def Shared_query(self, rank: int) -> tuple[buffer, int]:
        """Return ``(memory, disp_unit)`` of ``rank``'s part of a shared
        window (``PROC_NULL``: the first rank with memory)."""
        w = self._w()
        if w.flavor != C.WIN_FLAVOR_SHARED:
            raise MPIException(C.ERR_RMA_FLAVOR, "Shared_query: the window is not shared")
        r = operator.index(rank)
        if r == C.PROC_NULL:
            r = next((i for i, s in enumerate(w.sizes) if s), 0)
        elif w.target(r) is None:
            raise MPIException(C.ERR_RANK, f"Invalid rank {r}")
        part = w.shared[r]
        return (buffer(part) if part.size else buffer()), w.units[r]

    def Get_name(self) -> str:
        """The window's name."""
        return "MPI_WIN_NULL" if self._h is None else self._w().name

    def Set_name(self, name: str) -> None:
        """Give the window a name."""
        self._w().name = str(name)

    name = property(Get_name, Set_name)

    def Get_info(self) -> Info:
        """A copy of the window's hints."""
        return Info.Create(self._w().info)

    def Set_info(self, info: Any) -> None:
        """Set the window's hints (zmqmesh reads none)."""
        self._w().info = dict(info.items()) if info else {}

    info = property(Get_info, Set_info)

    def Get_errhandler(self) -> Errhandler:
        """The window's error handler."""
        return Errhandler(self._w().errhandler)

    def Set_errhandler(self, errhandler: Errhandler) -> None:
        """Kept for ``Call_errhandler``; errors raise whatever the handler."""
        if not errhandler:
            raise MPIException(C.ERR_ARG, "Invalid argument: the null error handler")
        self._w().errhandler = Errhandler(errhandler)

    def Call_errhandler(self, errorcode: int) -> None:
        """Call the window's error handler with ``errorcode``."""
        self._w().errhandler._call(self, errorcode)

    @classmethod
    def Create_errhandler(cls, errhandler_fn: Any) -> Errhandler:
        """A user error handler ``errhandler_fn(win, errorcode)``."""
        return Errhandler._user(errhandler_fn)

    def __repr__(self) -> str:
        return "<mpi4py.MPI.Win WIN_NULL>" if self._h is None else "<mpi4py.MPI.Win>"

    # -- active target: fence --------------------------------------------------------------------
    def Fence(self, assertion: int = 0) -> None:
        """Collective: complete every operation of the epoch that ends, at
        every rank; a new epoch starts unless ``MODE_NOSUCCEED``."""
        w = self._w()
        w.flush()
        runner.run(w.comm._z().barrier())
        w.fence = not (int(assertion) & C.MODE_NOSUCCEED)

    # -- passive target --------------------------------------------------------------------------
    def Lock(self, rank: int, lock_type: int = C.LOCK_EXCLUSIVE, assertion: int = 0) -> None:
        """Start an access epoch to ``rank`` under its lock (``LOCK_EXCLUSIVE``
        or ``LOCK_SHARED``). Returns before the lock is granted (but on this
        rank): the target applies this epoch's operations once it is."""
        w = self._w()
        t = w.target(rank)
        if t is None:
            return
        kind = int(lock_type)
        if kind not in (C.LOCK_EXCLUSIVE, C.LOCK_SHARED):
            raise MPIException(C.ERR_LOCKTYPE, f"Invalid lock type {kind}")
        if t in w.locks or w.lock_all:
            raise sync_error(f"rank {t} is locked already")
        if t == w.rank:
            # A lock of this rank's own memory is granted here, without a
            # message: take in the other ranks' requests first, so that they
            # queue before it (a rank spinning on its own lock would else
            # serve them only at its loop's rare turns, and starve them).
            runner.poll()
        granted = w.send(t, "lock", kind)
        w.locks[t] = kind
        if t == w.rank:  # operations on this rank are done in place: they need the lock now
            w.wait([granted])

    def Unlock(self, rank: int) -> None:
        """Complete the operations to ``rank`` and end its access epoch."""
        w = self._w()
        t = w.target(rank)
        if t is None:
            return
        if t not in w.locks:
            raise sync_error(f"rank {t} is not locked")
        # The target applies one origin's requests in the order they came:
        # once the unlock is answered, every operation before it is done.
        # So they are waited for together, one round trip.
        ops = runner.now(lambda: w.port.outstanding([t]))
        del w.locks[t]
        w.wait([*ops, w.send(t, "unlock")])

    def Lock_all(self, assertion: int = 0) -> None:
        """Start a shared access epoch to every rank."""
        w = self._w()
        if w.lock_all or w.locks:
            raise sync_error("a lock is held already")
        granted = [w.send(t, "lock", C.LOCK_SHARED) for t in range(w.size)]
        w.lock_all = True
        w.wait([granted[w.rank]])

    def Unlock_all(self) -> None:
        """Complete every operation and end the ``Lock_all`` epoch."""
        w = self._w()
        if not w.lock_all:
            raise sync_error("Unlock_all without Lock_all")
        ops = runner.now(w.port.outstanding)
        w.lock_all = False
        w.wait([*ops, *(w.send(t, "unlock") for t in range(w.size))])

    def _passive(self, rank: int | None) -> Window:
        w = self._w()
        if rank is None:
            if not (w.lock_all or w.locks):
                raise sync_error("no passive target epoch")
        elif not (w.lock_all or rank in w.locks):
            raise sync_error(f"rank {rank} is not locked")
        return w

    def Flush(self, rank: int) -> None:
        """Complete the operations to ``rank`` (inside a passive epoch)."""
        t = self._w().target(rank)
        if t is not None:
            self._passive(t).flush([t])

    def Flush_all(self) -> None:
        """Complete every operation (inside a passive epoch)."""
        self._passive(None).flush()

    Flush_local = Flush
    Flush_local_all = Flush_all

    def Sync(self) -> None:
        """Make this rank's memory and its public copy agree (one copy here);
        lets arrived operations in."""
        self._w()
        runner.poll()

    # -- active target: post/start/complete/wait -------------------------------------------------
    def _ranks(self, group: Group) -> tuple[int, ...]:
        w = self._w()
        where = {world: i for i, world in enumerate(w.members)}
        try:
            return tuple(where[world] for world in group._m().ranks)
        except KeyError:
            raise MPIException(C.ERR_GROUP, "Invalid group: not in the window's group") from None

    def Post(self, group: Group, assertion: int = 0) -> None:
        """Start an exposure epoch to the ranks of ``group``."""
        w = self._w()
        if w.exposure is not None:
            raise sync_error("Post during an exposure epoch")
        ranks = self._ranks(group)
        w.exposure = ranks
        runner.now(lambda: w.port.note(ranks, "post"))

    def Start(self, group: Group, assertion: int = 0) -> None:
        """Start an access epoch to the ranks of ``group`` (an operation on
        one waits for its ``Post``)."""
        w = self._w()
        if w.access is not None:
            raise sync_error("Start during an access epoch")
        w.access, w.posted = self._ranks(group), set()

    def Complete(self) -> None:
        """Complete the operations of the ``Start`` epoch and end it."""
        w = self._w()
        if w.access is None:
            raise sync_error("Complete without Start")
        access, w.access = w.access, None
        waiting = [t for t in access if t not in w.posted]
        runner.run(w.port.until_notes("post", waiting))
        w.flush(access)
        runner.now(lambda: w.port.note(access, "complete"))

    def Wait(self) -> None:
        """Wait until every origin of the ``Post`` epoch has completed; end it."""
        w = self._w()
        if w.exposure is None:
            raise sync_error("Wait without Post")
        exposure, w.exposure = w.exposure, None
        runner.run(w.port.until_notes("complete", list(exposure)))

    def Test(self) -> bool:
        """Test for the end of the exposure epoch: ``Wait`` if every origin has
        completed (True), else False at once."""
        w = self._w()
        if w.exposure is None:
            raise sync_error("Test without Post")
        runner.poll()
        exposure = list(w.exposure)
        if not runner.now(lambda: w.port.have_notes("complete", exposure)):
            return False
        runner.now(lambda: w.port.take_notes("complete", exposure))
        w.exposure = None
        return True


WIN_NULL = Win()
