"""``mpi4py.util``: mpi4py's utility modules over zmqmesh's layer.

``dtlib`` (NumPy dtypes and MPI datatypes), ``pkl5`` (pickle protocol 5
with out-of-band buffers for large objects), ``sync`` (sequential
execution, counters, mutexes, conditions and semaphores across ranks) and
``pool`` (``multiprocessing.pool``'s interface over ``mpi4py.futures``).
Each loads on first use, as in mpi4py.
"""

from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = ("dtlib", "pkl5", "pool", "sync")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_SUBMODULES)
