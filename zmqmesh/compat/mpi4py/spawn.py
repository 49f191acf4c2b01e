"""Dynamic processes: ``Comm.Spawn``, ``Spawn_multiple`` and ``Get_parent``.

``Spawn`` is collective over the spawning communicator. Its root starts
the children on its own host and serves the rendezvous of a new job
whose first ranks are the parents and whose last are the children
(``zmqmesh.runtime.spawned``); every parent joins that job beside its own
(``zmqmesh.runtime.bootstrap.join``) and the children join it at their
first MPI call. There the children split off their ``COMM_WORLD`` and
both sides make the intercommunicator of the new job's world (parents
the low group): the calls of each side below match, one for one.

The groups of such an intercommunicator name the other side's processes
by numbers from ``FAR`` up (they are in no world of this side). A child
that cannot start, or that fails before the intercommunicator is made,
makes ``Spawn`` raise ``MPI.Exception`` with ``ERR_SPAWN`` on every
parent, naming the child and how it ended; one that fails later makes
the parents' calls that wait on it raise ``zmqmesh.RankFailedError``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from typing import Any

import zmqmesh
from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import runner
from zmqmesh.compat.mpi4py.comm import COMM_WORLD, SPAWNED, Comm, Intracomm
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.inter import Intercomm, intercomm_of
from zmqmesh.errors import LaunchError
from zmqmesh.runtime.bootstrap import join
from zmqmesh.runtime.spawned import SpawnedJob, environ_for

__all__ = ["FAR"]

FAR = 1 << 30  # the first number naming a process of the other side


def _argv(command: Any, args: Any) -> list[str]:
    if not isinstance(command, (str, os.PathLike)):
        raise TypeError(f"command must be a str, not {type(command).__name__}")
    if args is None:
        args = []
    elif isinstance(args, (str, bytes)):
        args = [args]
    return [os.fspath(command), *(os.fsdecode(a) for a in args)]


def _spawn(
    self: Comm,
    command: Any,
    args: Any = None,
    maxprocs: int = 1,
    info: Any = None,
    root: int = 0,
    errcodes: Any = None,
) -> Intercomm:
    """Start ``maxprocs`` processes of ``command args`` (read at ``root``
    only) and return an intercommunicator to them, whose remote group is
    their ``COMM_WORLD``; ``errcodes``, a list, gets one ``SUCCESS`` per
    process. Collective over this communicator."""
    return _start(self, lambda: [_argv(command, args)] * int(maxprocs), root, errcodes)


def _spawn_multiple(
    self: Comm,
    command: Sequence[Any],
    args: Any = None,
    maxprocs: Any = None,
    info: Any = None,
    root: int = 0,
    errcodes: Any = None,
) -> Intercomm:
    """``Spawn`` of several commands: ``maxprocs[i]`` processes (one when
    None; an int: as many of each) of ``command[i] args[i]``, in that
    order in the children's ``COMM_WORLD``; ``errcodes``, a list, gets a
    list of ``SUCCESS`` per command. Sequences of different lengths raise
    ``ValueError``, as in mpi4py."""
    shape: list[int] = []

    def argvs() -> list[list[str]]:
        if isinstance(command, (str, os.PathLike)):
            raise ValueError("Spawn_multiple: command must be a sequence of commands")
        n = len(command)
        every = [None] * n if args is None else list(args)
        if maxprocs is None or isinstance(maxprocs, int):
            counts = [1 if maxprocs is None else int(maxprocs)] * n
        else:
            counts = [int(m) for m in maxprocs]
        infos = [info] * n if info is None or not isinstance(info, (list, tuple)) else info
        if not len(every) == len(counts) == len(infos) == n:
            raise ValueError("Spawn_multiple: command, args, maxprocs and info differ in length")
        if any(isinstance(a, str) for a in every):
            raise ValueError("Spawn_multiple: args must be a sequence of sequences")
        shape[:] = counts
        both = zip(command, every, counts, strict=True)
        return [_argv(c, a) for c, a, m in both for _ in range(m)]

    flat: list[int] = []
    inter = _start(self, argvs, root, flat if errcodes is not None else None)
    if errcodes is not None:
        z = self._z()  # the shape is known at the root
        cuts = runner.run(z.bcast(shape if z.rank == int(root) else None, int(root)))
        errcodes[:] = [flat[sum(cuts[:i]) : sum(cuts[: i + 1])] for i in range(len(cuts))]
    return inter


def _start(comm: Comm, argvs: Any, root: int, errcodes: Any) -> Intercomm:
    z = comm._z()
    r = int(root)
    if not 0 <= r < z.size:
        raise MPIException(C.ERR_ROOT, f"Invalid root {root} (communicator of size {z.size})")
    deal: Any = None
    job = None
    if z.rank == r:
        try:
            commands = argvs()
            if not commands:
                raise ValueError("no process to spawn (maxprocs < 1)")
            job = SpawnedJob(z.size, commands, os.environ.get("ZMQMESH_ADDR") or _host())
            job.start()
            deal = (job.job, job.size, job.rendezvous)
        except (ValueError, TypeError) as exc:
            deal = (type(exc).__name__, str(exc))  # every parent raises it
        except LaunchError as exc:
            deal = ("", f"Spawn: {exc}")
    deal = runner.run(z.bcast(deal, r))
    if len(deal) == 2:
        kind, why = deal
        raise {"ValueError": ValueError, "TypeError": TypeError}.get(kind, _spawn_error)(why)
    name, size, rendezvous = deal
    env = environ_for(os.environ, name, size, rendezvous, z.rank)
    close = None
    try:
        world, close = runner.run(join(env))
        # children gone before the job's table was complete: the root knows
        # them (see ``SpawnedJob``), and no parent may wait on them
        gone = runner.run(z.bcast(job.failures[:] if job is not None else None, r))
        if gone:
            raise LaunchError("; ".join(sorted(gone)))
        runner.run(world.split(None))
        three = (world, runner.run(world.dup()), runner.run(world.dup()))
    except (zmqmesh.MeshError, OSError, ValueError) as exc:
        if job is not None:
            job.stop()
        if close is not None:
            close()
        raise MPIException(C.ERR_SPAWN, f"Spawn: {exc}") from None
    n = size - z.size
    if errcodes is not None:
        errcodes[:] = [C.SUCCESS] * n
    names = comm._members() + tuple(range(FAR, FAR + n))
    return intercomm_of(three, True, z.size, names)


def _spawn_error(why: str) -> MPIException:
    return MPIException(C.ERR_SPAWN, why)


def _host() -> str:
    """An address of this host that its own processes reach."""
    return "127.0.0.1" if not os.environ.get("ZMQMESH_TCP") else socket.gethostname()


_PARENT: list[Any] = []  # the box of a spawned process's intercommunicator to its parents


def _get_parent(cls: Any) -> Intercomm:
    """The intercommunicator to the processes that spawned this one (the
    same one at every call until it is disconnected); a null one in a
    process that was not spawned, or once disconnected."""
    COMM_WORLD._comm  # noqa: B018 (joins the job: a spawned process meets its parents there)
    got: Intercomm = Intercomm()
    if not SPAWNED:
        return got
    if not _PARENT:
        three, parents = SPAWNED[0]
        children: tuple[int, ...] = COMM_WORLD._members()
        names = tuple(range(FAR, FAR + parents)) + children
        _PARENT.append(intercomm_of(three, False, parents, names)._h)
    box = _PARENT[0]
    if box.comm is not None:
        got._h = box
    return got


Intracomm.Spawn = _spawn  # type: ignore[attr-defined]
Intracomm.Spawn_multiple = _spawn_multiple  # type: ignore[attr-defined]
Comm.Get_parent = classmethod(_get_parent)  # type: ignore[attr-defined]
