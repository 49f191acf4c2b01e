"""zmqmesh: MPI-style message passing for asyncio Python over ZeroMQ.

The public names of the API contract; implementation modules are internal.
"""

from zmqmesh import checkpoint
from zmqmesh.checkpoint import CheckpointError
from zmqmesh.collectives.ops import (
    BAND,
    BOR,
    BXOR,
    LAND,
    LOR,
    LXOR,
    MAX,
    MAXLOC,
    MIN,
    MINLOC,
    PROD,
    SUM,
    Op,
)
from zmqmesh.errors import (
    AuthenticationError,
    CollectiveMismatchError,
    DecodeError,
    LaunchError,
    MeshError,
    RankFailedError,
    RemoteError,
)
from zmqmesh.matching import ANY_SOURCE, ANY_TAG
from zmqmesh.runtime.bootstrap import finalize, init
from zmqmesh.runtime.comm import Comm
from zmqmesh.runtime.engine import config
from zmqmesh.runtime.request import Request, Status
from zmqmesh.runtime.run import run
from zmqmesh.runtime.topocomm import TopoComm
from zmqmesh.scheduler import Executor
from zmqmesh.topology import dims_create

__version__ = "0.1.0"

__all__ = [
    "ANY_SOURCE",
    "ANY_TAG",
    "BAND",
    "BOR",
    "BXOR",
    "LAND",
    "LOR",
    "LXOR",
    "MAX",
    "MAXLOC",
    "MIN",
    "MINLOC",
    "PROD",
    "SUM",
    "AuthenticationError",
    "CheckpointError",
    "CollectiveMismatchError",
    "Comm",
    "DecodeError",
    "Executor",
    "LaunchError",
    "MeshError",
    "Op",
    "RankFailedError",
    "RemoteError",
    "Request",
    "Status",
    "TopoComm",
    "checkpoint",
    "config",
    "dims_create",
    "finalize",
    "init",
    "run",
]
