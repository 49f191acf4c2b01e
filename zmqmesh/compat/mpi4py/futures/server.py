"""``python -m mpi4py.futures.server``: a worker that an ``MPIPoolExecutor``
spawned (``_spawned``) serves its pool, then ends."""

from __future__ import annotations

from zmqmesh.compat.mpi4py.futures._spawned import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
