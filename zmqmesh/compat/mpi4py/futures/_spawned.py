"""The workers of an ``MPIPoolExecutor`` made outside ``python -m
mpi4py.futures``: processes it spawns (``Intracomm.Spawn``).

The executor's process spawns them with this module as their program
(``server``) and its own main script as the argument, which each child
first runs as ``__worker__`` (standing for ``__main__``, as under
``python -m mpi4py.futures``, so that the functions it defines are
found); each side merges the intercommunicator (the executor's process
first) and runs the pool of ``MPICommExecutor`` over it (``start_pool``, root 0):
the children serve until the executor shuts down, then disconnect and end.
"""

from __future__ import annotations

import os
import runpy
import sys
import types
from typing import Any

from zmqmesh.compat.mpi4py import spawn as _spawn  # noqa: F401 (installs Spawn, Get_parent)
from zmqmesh.compat.mpi4py.comm import COMM_SELF, Comm
from zmqmesh.compat.mpi4py.futures._pool import Owner, RankPool, start_pool

__all__ = ["SpawnedPool", "as_worker", "main"]


class SpawnedPool:
    """A pool of ``n`` spawned worker processes, as an executor's backend;
    they are spawned at the first task (or ``start``), as mpi4py's are."""

    def __init__(self, n: int, python: str | None = None) -> None:
        self._n, self._python = n, python or sys.executable
        self._inter: Any = None
        self._merged: Any = None
        self._pool: RankPool | None = None

    def start(self) -> RankPool:
        """The pool, its workers spawned first if not yet."""
        if self._pool is None:
            main = getattr(sys.modules.get("__main__"), "__file__", None)
            server = __name__.rpartition(".")[0] + ".server"
            args = ["-m", server, *([os.path.abspath(main)] if main else [])]
            self._inter = COMM_SELF.Spawn(self._python, args, maxprocs=self._n)
            self._merged = self._inter.Merge(high=False)
            self._pool = start_pool(self._merged, 0)
            assert self._pool is not None
        return self._pool

    def submit(self, owner: Owner, fn: Any, args: Any, kw: Any) -> Any:
        return self.start().submit(owner, fn, args, kw)

    def map(self, owner: Owner, fn: Any, chunks: Any) -> Any:
        return self.start().map(owner, fn, chunks)

    def cancel_queued(self, owner: Owner) -> None:
        if self._pool is not None:
            self._pool.cancel_queued(owner)

    def size(self) -> int:
        """The number of worker processes (spawned now if not yet)."""
        self.start()
        return self._n

    def close(self, wait: bool = True) -> None:
        """Stop the workers (after their tasks) and disconnect from them."""
        if self._pool is None:
            return
        self._pool.close(wait)
        self._merged.Free()
        self._inter.Disconnect()
        self._pool = self._inter = self._merged = None


def as_worker(args: list[str]) -> None:
    """Run the program as ``__worker__``, which stands for ``__main__``."""
    module = types.ModuleType("__worker__")
    sys.modules["__worker__"] = sys.modules["__main__"] = module
    first = args[0]
    if first == "-m":
        sys.argv[:] = args[1:]
        module.__dict__.update(runpy.run_module(args[1], run_name="__worker__"))
        return
    if first == "-c":
        sys.argv[:] = ["-c", *args[2:]]
        exec(compile(args[1], "<string>", "exec"), module.__dict__)
        return
    if first == "-":
        return  # standard input is the root's
    sys.argv[:] = list(args)
    if not sys.flags.isolated:
        sys.path[0] = os.path.realpath(os.path.dirname(first))
    module.__file__ = first
    with open(first, "rb") as f:
        code = compile(f.read(), first, "exec")
    exec(code, module.__dict__)


def main() -> None:
    """A spawned worker: run the parent's main script as ``__worker__``
    (named in the arguments, if it has one), serve the parent's pool,
    then leave."""
    if len(sys.argv) > 1:
        as_worker(sys.argv[1:])
    parent: Any = Comm.Get_parent()  # type: ignore[attr-defined]
    merged = parent.Merge(high=True)
    start_pool(merged, 0)
    merged.Free()
    parent.Disconnect()
