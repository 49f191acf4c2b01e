"""Ports within a job: ``MPI.Open_port``/``Close_port``,
``Intracomm.Accept``/``Connect``, and ``Comm.Join`` over a socket.

A port name says which world rank opened it and which of its ports it
is (``zmqmesh-port:RANK:N``). ``Accept``'s root waits on the world's
meeting context (``intergroup``) for the first connect request to the
port, ``Connect``'s root sends one there; the two roots then agree the
intercommunicator as ``Create_intercomm``'s leaders do, and each tells
its group. Requests wait in arrival order: a second ``Connect`` to a port
is taken by the next ``Accept`` on it. ``Join``'s two processes swap the
same over their socket. Published names are files in the job's private
directory of the host, so processes of the job on one host find them.
"""

from __future__ import annotations

import itertools
import os
import pickle
import struct
import zlib
from typing import Any

import zmqmesh
from zmqmesh.collectives.ops import BOR
from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import runner
from zmqmesh.compat.mpi4py.comm import COMM_WORLD, Comm, Intracomm
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.inter import Intercomm, intercomm_dealt, leaders_deal

__all__ = ["Close_port", "Lookup_name", "Open_port", "Publish_name", "Unpublish_name"]

_PREFIX = "zmqmesh-port"
_numbers = itertools.count(1)
_open: set[str] = set()


def Open_port(info: Any = None) -> str:
    """A new port name for ``Accept`` (``Connect`` from any process of the job)."""
    name = f"{_PREFIX}:{COMM_WORLD.Get_rank()}:{next(_numbers)}"
    _open.add(name)
    return name


def Close_port(port_name: str) -> None:
    """Close a port this process opened."""
    if port_name not in _open:
        raise MPIException(C.ERR_PORT, f"Invalid port name {port_name!r} (not open here)")
    _open.discard(port_name)


def _names_dir() -> str:
    """Where this host's processes of the job keep published names: the
    job's private directory (the launcher makes it 0700 and removes it)."""
    base = os.environ.get("ZMQMESH_IPC_DIR")
    if not base or not os.path.isdir(base):
        raise MPIException(C.ERR_NAME, "name publishing needs a job started by zmqmesh launch")
    names = os.path.join(base, "names")
    os.makedirs(names, mode=0o700, exist_ok=True)
    return names


def _name_file(service_name: Any) -> str:
    return os.path.join(_names_dir(), str(service_name).encode().hex())


def Publish_name(service_name: str, port_name: str, info: Any = None) -> None:
    """Publish ``port_name`` as ``service_name`` to the job's processes on
    this host (``ERR_SERVICE`` when the name is taken)."""
    path = _name_file(service_name)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise MPIException(C.ERR_SERVICE, f"Service {service_name!r} is published") from None
    with os.fdopen(fd, "w") as f:
        f.write(str(port_name))


def Unpublish_name(service_name: str, port_name: str, info: Any = None) -> None:
    """Withdraw a published name (``ERR_SERVICE`` when it is not published)."""
    try:
        os.unlink(_name_file(service_name))
    except FileNotFoundError:
        raise MPIException(C.ERR_SERVICE, f"Service {service_name!r} is not published") from None


def Lookup_name(service_name: str, info: Any = None) -> str:
    """The port name published as ``service_name`` (``ERR_NAME`` when none is)."""
    try:
        with open(_name_file(service_name)) as f:
            return f.read()
    except FileNotFoundError:
        raise MPIException(C.ERR_NAME, f"Service {service_name!r} is not published") from None


def _owner(port_name: Any) -> int:
    parts = str(port_name).split(":")
    if len(parts) != 3 or parts[0] != _PREFIX or not parts[1].isdigit():
        raise MPIException(C.ERR_PORT, f"Invalid port name {port_name!r}")
    return int(parts[1])


def _tag(port_name: str) -> int:
    return 1 + zlib.crc32(f"port:{port_name}".encode())


def _meet(comm: Comm, port_name: Any, root: int, accept: bool) -> Intercomm:
    z = comm._z()
    r = int(root)
    if not 0 <= r < z.size:
        raise MPIException(C.ERR_ROOT, f"Invalid root {root} (communicator of size {z.size})")
    side = (tuple(z._ranks), comm._members())
    mask = runner.run(z.allreduce(z.used_slots(), BOR))
    deal: Any = None
    if z.rank == r:
        name = str(port_name)
        owner = _owner(name)
        if accept and name not in _open:
            raise MPIException(C.ERR_PORT, f"Invalid port name {name!r} (not open here)")
        meet = COMM_WORLD._h.meet
        tag = _tag(name)

        def swap(mine: Any) -> Any:
            if accept:
                st = zmqmesh.Status()
                theirs = runner.run(meet.recv(zmqmesh.ANY_SOURCE, tag, st))
                runner.run(meet.send(mine, st.source, tag))
                return theirs
            runner.run(meet.send(mine, owner, tag))
            return runner.run(meet.recv(owner, tag))

        deal = leaders_deal(side, mask, swap)
    return intercomm_dealt(z, side, runner.run(z.bcast(deal, r)))


def _accept(self: Comm, port_name: Any, info: Any = None, root: int = 0) -> Intercomm:
    """An intercommunicator to the group whose ``Connect`` reaches the port
    ``port_name`` (opened by ``root``, where alone it is read). Collective."""
    return _meet(self, port_name, root, True)


def _connect(self: Comm, port_name: Any, info: Any = None, root: int = 0) -> Intercomm:
    """An intercommunicator to the group that ``Accept``s on ``port_name``
    (read at ``root`` only). Collective."""
    return _meet(self, port_name, root, False)


def _exchange_on(fd: int, mine: Any) -> Any:
    """Write ``mine`` to the socket ``fd`` and read what the other end wrote."""
    data = pickle.dumps(mine)
    os.write(fd, struct.pack("!I", len(data)) + data)

    def read(n: int) -> bytes:
        got = b""
        while len(got) < n:
            more = os.read(fd, n - len(got))
            if not more:
                raise MPIException(C.ERR_OTHER, "Comm.Join: the other end closed the socket")
            got += more
        return got

    (size,) = struct.unpack("!I", read(4))
    return pickle.loads(read(size))


def _join(cls: Any, fd: int) -> Intercomm:
    """An intercommunicator of this process and the one at the other end
    of the connected socket ``fd``, which calls ``Join`` too; both must be
    processes of this job (``MPI.Exception`` with ``ERR_OTHER`` otherwise)."""
    world = COMM_WORLD._z()
    side = ((world._ranks[world.rank],), (COMM_WORLD.Get_rank(),))
    job = os.environ.get("ZMQMESH_JOB", "")

    def swap(mine: Any) -> Any:
        theirs = _exchange_on(int(fd), (job, mine))
        if theirs[0] != job:
            raise MPIException(C.ERR_OTHER, "Comm.Join: the other process is of another job")
        return theirs[1]

    return intercomm_dealt(world, side, leaders_deal(side, world.used_slots(), swap))


Intracomm.Accept = _accept  # type: ignore[attr-defined]
Intracomm.Connect = _connect  # type: ignore[attr-defined]
Comm.Join = classmethod(_join)  # type: ignore[attr-defined]
