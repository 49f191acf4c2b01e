"""zmqmesh: MPI-style message passing for asyncio Python over ZeroMQ.

The public names of the API contract; implementation modules are internal.

The names load on first use (PEP 562's module ``__getattr__``): ``import
zmqmesh`` by itself imports neither NumPy nor asyncio nor ZeroMQ, so the
launcher (``python -m zmqmesh``) and a rank's own imports start fast. It
does start watching the launcher's lifeline at once, so that a rank busy
before ``init()`` still ends with its launcher.
"""

# Every module-level name is public or starts with "_" (tests/test_layers.py).
import importlib as _importlib
import os as _os
import typing as _typing

from zmqmesh.errors import (
    ActorDiedError,
    AuthenticationError,
    CollectiveMismatchError,
    DecodeError,
    LaunchError,
    MeshError,
    RankFailedError,
    RemoteError,
)
from zmqmesh.job import lifeline as _lifeline

if _typing.TYPE_CHECKING:
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
    "ActorDiedError",
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

_OPS = ("BAND", "BOR", "BXOR", "LAND", "LOR", "LXOR", "MAX", "MAXLOC", "MIN", "MINLOC")
# public name -> the module that defines it (the TYPE_CHECKING imports above)
_LAZY: dict[str, str] = {
    **dict.fromkeys((*_OPS, "PROD", "SUM", "Op"), "zmqmesh.collectives.ops"),
    "ANY_SOURCE": "zmqmesh.matching",
    "ANY_TAG": "zmqmesh.matching",
    "CheckpointError": "zmqmesh.checkpoint",
    "Comm": "zmqmesh.runtime.comm",
    "Executor": "zmqmesh.scheduler",
    "Request": "zmqmesh.runtime.request",
    "Status": "zmqmesh.runtime.request",
    "TopoComm": "zmqmesh.runtime.topocomm",
    "config": "zmqmesh.runtime.engine",
    "dims_create": "zmqmesh.topology",
    "finalize": "zmqmesh.runtime.bootstrap",
    "init": "zmqmesh.runtime.bootstrap",
    "run": "zmqmesh.runtime.run",
}


def __getattr__(name: str) -> _typing.Any:
    if name == "checkpoint":
        value: _typing.Any = _importlib.import_module("zmqmesh.checkpoint")
    elif name in _LAZY:
        value = getattr(_importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'zmqmesh' has no attribute {name!r}")
    globals()[name] = value  # the next lookup finds it without this call
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


_lifeline.watch(_os.environ)
