"""mpi4py's interface on zmqmesh: ``from zmqmesh.compat.mpi4py import MPI``.

Under ``zmqmesh launch --mpi4py`` this package is what ``import mpi4py``
finds, so ``from mpi4py import MPI`` and ``from mpi4py import rc``
programs run unchanged. See ``MPI.py`` for what is covered;
``python -m mpi4py`` (``run.py``) and ``python -m mpi4py.bench``
(``bench.py``) work as in mpi4py, and so do ``mpi4py.util`` and
``mpi4py.futures``.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from zmqmesh.compat.mpi4py.options import Rc, rc

__version__ = "4.1.2"

# as in mpi4py, "import mpi4py.rc" finds the options object
sys.modules[__name__ + ".rc"] = rc  # type: ignore[assignment]


def get_include() -> str:
    """mpi4py's C headers' directory. zmqmesh has no C API: its
    ``mpi4py/mpi4py.h`` stops a compiler with an error that says so."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "include")


def get_config() -> dict[str, str]:
    """The MPI compiler configuration: none (zmqmesh needs no MPI)."""
    return {}


def profile(name: Any, *, path: Any = None) -> None:
    """Load the shared library ``name`` (looked up in ``path``: a list, an
    ``os.pathsep``-separated string or one path; else as given), as
    mpi4py does for a PMPI profiler. zmqmesh has no PMPI layer for it to
    intercept, so it only loads. Raises ``ValueError`` when no such file
    exists; warns (``UserWarning``) when the file is not a loadable library."""
    import ctypes
    import warnings

    if path is None:
        paths = [""]
    elif isinstance(path, str | bytes):
        sep = os.pathsep if isinstance(path, str) else os.fsencode(os.pathsep)
        paths = [os.fsdecode(p) for p in path.split(sep)]  # type: ignore[arg-type]
    elif isinstance(path, os.PathLike):
        paths = [os.fsdecode(path)]
    else:
        paths = [os.fsdecode(p) for p in path]
    lib = os.fsdecode(name)
    found = None
    for where in paths:
        for candidate in (lib, f"lib{lib}.so"):
            full = os.path.join(where, candidate)
            if os.path.isfile(full):
                found = os.path.realpath(full)
                break
        if found:
            break
    if found is None:
        raise ValueError(f"profiler {lib!r} not found")
    try:
        ctypes.CDLL(found, mode=ctypes.RTLD_GLOBAL)
    except OSError as exc:
        warnings.warn(str(exc), UserWarning, stacklevel=2)


def __getattr__(name: str) -> Any:
    # "MPI" loads on first use, as in mpi4py, so that "rc" can be set first.
    if name == "MPI":
        MPI = importlib.import_module("zmqmesh.compat.mpi4py.MPI")
        # Imported as the top-level "mpi4py" (launch --mpi4py), "mpi4py.MPI"
        # must be this same module: a second copy would have its own loop.
        sys.modules[f"{__name__}.MPI"] = MPI
        return MPI
    if name in ("run", "bench", "util", "futures"):  # the submodules, as attributes too
        return importlib.import_module(f"zmqmesh.compat.mpi4py.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MPI",
    "Rc",
    "bench",
    "futures",
    "get_config",
    "get_include",
    "profile",
    "rc",
    "run",
    "util",
]
