"""mpi4py's interface on zmqmesh: ``from zmqmesh.compat.mpi4py import MPI``.

Under ``zmqmesh launch --mpi4py`` this package is what ``import mpi4py``
finds, so ``from mpi4py import MPI`` programs run unchanged. See ``MPI.py``
for what is covered.
"""

import sys

from zmqmesh.compat.mpi4py import MPI

# Imported as the top-level "mpi4py" (launch --mpi4py), "mpi4py.MPI" must be
# this same module: a second copy would have its own event loop.
sys.modules[f"{__name__}.MPI"] = MPI

__all__ = ["MPI"]
