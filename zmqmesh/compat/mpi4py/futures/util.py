"""``mpi4py.futures.util``: ``collect`` and ``compose`` (``chain.py``
says how they complete)."""

from zmqmesh.compat.mpi4py.futures.chain import collect, compose

__all__ = ["collect", "compose"]
