"""Every collective algorithm, by collective and name: what :func:`plan`
chooses among and the runtime runs.

The algorithms of one collective take the same arguments, so a caller runs
whichever one ``plan`` names with the same call:

    barrier(ch)                         reduce(ch, obj, op, root)
    bcast(ch, obj, root)                allreduce(ch, obj, op)
    scatter(ch, seq, root)              alltoall(ch, seq)
    gather(ch, obj, root)               reduce_scatter(ch, seq, op)
    allgather(ch, obj)                  scan, exscan(ch, obj, op)

``ch`` is a :class:`~zmqmesh.collectives.base.Channel` bound to the call,
and for the ``tree`` algorithms an
:class:`~zmqmesh.collectives.tree.EdgeChannel`. One exception: on a general
communicator only the root of a bcast knows the payload, so the root
chooses and ``bcast.announced`` tells the others in its first message; there
``scatter_allgather(ch, arr, meta, root)`` follows that announcement.

A new algorithm is one coroutine here and one rule in ``plan``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any

from zmqmesh.collectives import (
    allgather,
    allreduce,
    alltoall,
    barrier,
    bcast,
    gather,
    reduce,
    scan,
    tree,
)

__all__ = ["REGISTRY", "Body"]

Body = Callable[..., Awaitable[Any]]

REGISTRY: Mapping[str, Mapping[str, Body]] = MappingProxyType(
    {
        "barrier": {"dissemination": barrier.dissemination, "tree": tree.barrier},
        "bcast": {
            "binomial": bcast.binomial,
            "scatter_allgather": bcast.scatter_allgather,
            "tree": tree.bcast,
        },
        "scatter": {"binomial": gather.binomial_scatter, "tree": tree.scatter},
        "gather": {"binomial": gather.binomial_gather, "tree": tree.gather},
        "allgather": {"bruck": allgather.bruck, "ring": allgather.ring, "tree": tree.allgather},
        "reduce": {"binomial": reduce.binomial, "tree": tree.reduce},
        "allreduce": {
            "recursive_doubling": allreduce.recursive_doubling,
            "ring": allreduce.ring,
            "rabenseifner": allreduce.rabenseifner,
            "tree": tree.allreduce,
        },
        "alltoall": {"bruck": alltoall.bruck, "pairwise": alltoall.pairwise, "tree": tree.alltoall},
        "reduce_scatter": {"pairwise": reduce.pairwise_reduce_scatter, "tree": tree.reduce_scatter},
        "scan": {"recursive_doubling": scan.recursive_doubling_scan, "tree": tree.scan},
        "exscan": {"recursive_doubling": scan.recursive_doubling_exscan, "tree": tree.exscan},
    }
)
