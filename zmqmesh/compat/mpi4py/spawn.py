"""Dynamic processes: ``Comm.Spawn``, ``Spawn_multiple`` and ``Get_parent``.

``Spawn`` is collective over the spawning communicator. Its root serves
the rendezvous of a new job whose first ranks are the parents and whose
last are the children, and has the children started: by the launcher on
the job's hosts, or on the host the ``host`` info key names, in the
``wdir`` it names, or where no launcher started the job by itself on its
own host (``zmqmesh.runtime.spawned``); every parent joins that job beside its own
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
from collections.abc import Sequence
from typing import Any

import zmqmesh
from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import runner
from zmqmesh.compat.mpi4py.comm import COMM_WORLD, SPAWNED, Comm, Intracomm
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.inter import Intercomm, intercomm_of
from zmqmesh.errors import LaunchError
from zmqmesh.runtime.bootstrap import join, tell_launcher
from zmqmesh.runtime.spawned import SpawnedJob, environ_for, rendezvous_host, seen_from_here

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
    hints = _hints([info])
    return _start(self, lambda: [_argv(command, args)] * int(maxprocs), root, errcodes, hints)


def _spawn_multiple(
    self: Comm,
    command: Sequence[Any],
    args: Any = None,
    maxprocs: Any = None,
    info: Any = None,
    root: int = 0,
    errcodes: Any = None,
) -> Intercomm:
    """Start several commands, as ``Spawn`` does one: ``maxprocs[i]`` processes (one when
    None; an int: as many of each) of ``command[i] args[i]``, in that
    order in the children's ``COMM_WORLD``; ``errcodes``, a list, gets a
    list of ``SUCCESS`` per command. Sequences of different lengths raise
    ``ValueError``, as in mpi4py."""
    shape: list[int] = []
    hints: list[Any] = [[], None]  # hosts, one per process when every command names one; wdir

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
        hosts, wdir = _hints(infos)
        hints[:] = [
            [h for h, m in zip(hosts, counts, strict=True) for _ in range(m)]
            if len(hosts) == n
            else [],
            wdir,
        ]
        both = zip(command, every, counts, strict=True)
        return [_argv(c, a) for c, a, m in both for _ in range(m)]

    flat: list[int] = []
    inter = _start(self, argvs, root, flat if errcodes is not None else None, hints)
    if errcodes is not None:
        z = self._z()  # the shape is known at the root
        cuts = runner.run(z.bcast(shape if z.rank == int(root) else None, int(root)))
        errcodes[:] = [flat[sum(cuts[:i]) : sum(cuts[: i + 1])] for i in range(len(cuts))]
    return inter


def _hints(infos: Sequence[Any]) -> tuple[list[str], str | None]:
    """The ``host`` of each info that has one, and the first ``wdir``
    (MPI's reserved keys for Spawn; the others are ignored)."""
    hosts: list[str] = []
    wdir = None
    for info in infos:
        get = getattr(info, "Get", None) if info is not None else None
        if get is None or getattr(info, "_h", None) is None:  # none, or the null info
            continue
        if (host := get("host")) is not None:
            hosts.append(str(host))
        if wdir is None and (w := get("wdir")) is not None:
            wdir = str(w)
    return hosts, wdir


def _start(comm: Comm, argvs: Any, root: int, errcodes: Any, hints: Any) -> Intercomm:
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
            hosts, wdir = hints
            where = rendezvous_host()
            job = SpawnedJob(z.size, commands, where, hosts, wdir)
            runner.run(job.launch(tell_launcher))
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
    env = environ_for(os.environ, name, size, seen_from_here(rendezvous), z.rank)
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
