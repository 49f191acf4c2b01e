"""``python -m mpi4py.futures <pyfile> | -m <mod> | -c <cmd> | - [arg] ...``
inside a zmqmesh job (``zmqmesh launch --mpi4py -n N -m mpi4py.futures
script.py``): rank 0 runs the program as ``__main__``, and the other ranks
serve the tasks of every ``MPIPoolExecutor`` it makes.

Each worker first runs the program as the module ``__worker__`` (known
as ``__main__`` too), as mpi4py's do, so that the functions it defines
can be found by name; keep the program's work under ``if __name__ ==
'__main__':``. When the program ends, the tasks still running are waited
for and the workers stop; when it fails, the job is aborted, as with
``python -m mpi4py``. A job of one rank runs the tasks in a thread.
"""

from __future__ import annotations

import concurrent.futures as cf
import sys

from zmqmesh.compat.mpi4py.futures._executor import _Local, set_shared_pool
from zmqmesh.compat.mpi4py.futures._pool import RankPool, start_pool
from zmqmesh.compat.mpi4py.futures._spawned import as_worker
from zmqmesh.compat.mpi4py.run import run_command_line, set_abort_status

__all__ = ["main"]

_USAGE = "usage: python -m mpi4py.futures <pyfile> [arg] ... | -m <mod> | -c <cmd> | - [arg] ..."


def main() -> None:
    """Run the program on rank 0 and serve its tasks on the other ranks."""
    # MPI itself, so that a failing program aborts the job (set_abort_status)
    from zmqmesh.compat.mpi4py.MPI import COMM_WORLD

    args = sys.argv[1:]
    if not args or (args[0] in ("-m", "-c") and len(args) < 2):
        print(_USAGE, file=sys.stderr)
        sys.exit(1)
    shared: RankPool | _Local | None
    if COMM_WORLD.Get_size() == 1:
        shared = _Local(cf.ThreadPoolExecutor(1))
    elif COMM_WORLD.Get_rank() != 0:
        as_worker(args)
        start_pool(COMM_WORLD, 0)  # serves until rank 0 is done
        return
    else:
        shared = start_pool(COMM_WORLD, 0)
        assert shared is not None
    set_shared_pool(shared)
    try:
        run_command_line(args)
    except SystemExit as exc:
        set_abort_status(exc)
        if exc.code not in (None, 0):
            raise
    except BaseException as exc:
        set_abort_status(exc if isinstance(exc, KeyboardInterrupt) else 1)
        raise
    set_shared_pool(None)
    shared.close()


if __name__ == "__main__":
    main()
