"""``mpi4py.futures.aplus``: ``ThenableFuture``, ``then`` and ``catch``
(``chain.py`` says how they complete)."""

from zmqmesh.compat.mpi4py.futures.chain import ThenableFuture, catch, then

__all__ = ["ThenableFuture", "catch", "then"]
