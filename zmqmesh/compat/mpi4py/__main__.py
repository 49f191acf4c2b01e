"""``python -m mpi4py ...``: see ``run.py``."""

from zmqmesh.compat.mpi4py.run import main

if __name__ == "__main__":
    main()
