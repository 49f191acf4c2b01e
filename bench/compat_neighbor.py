"""The compat suite's neighborhood program: plain mpi4py buffer-API code on
a 2-D periodic Cartesian grid, run both by ``mpiexec -n 4`` on real mpi4py
and by ``zmqmesh launch --mpi4py -n 4``.

``compat_neighbor.py [--sizes B,...] [--iters N] [--halo N]`` (see ``--help``):

- ``Neighbor_alltoall(send, out)``: a ``(4, B)`` uint8 block per neighbor
  both ways, for each size ``B``;
- ``Neighbor_allgather(x, out)``: ``x`` of ``B`` bytes to every neighbor,
  ``(4, B)`` received;
- ``halo``: the exchange stencil codes write by hand: for each dimension,
  ``Shift(d, 1)`` and two ``Sendrecv`` of the edges (``--halo`` float64
  each), up then down.

The grid is ``Create_cart(Compute_dims(size, 2), periods=[True, True])``
(2 x 2 on 4 ranks). Each call is timed on every rank after a barrier; an
iteration's time is the slowest rank's (``Allreduce`` MAX), and rank 0
prints one JSON line with the median of each (seconds) and the MPI
library's name. Every result is checked against the neighbors' ranks.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from mpi4py import MPI

WARMUP = 3


def _slowest(comm: Any, call: Callable[[], None], iters: int) -> float:
    times = np.empty(iters + WARMUP)
    for i in range(iters + WARMUP):
        comm.Barrier()
        t0 = time.perf_counter()
        call()
        times[i] = time.perf_counter() - t0
    slowest = np.empty_like(times)
    comm.Allreduce(times, slowest, op=MPI.MAX)
    return float(np.median(slowest[WARMUP:]))


def neighbors(cart: Any) -> list[int]:
    """The blocks' ranks: per dimension the source, then the dest of ``Shift(d, 1)``."""
    return [r for d in range(cart.Get_dim()) for r in cart.Shift(d, 1)]


def alltoall(cart: Any, nbytes: int, iters: int) -> float:
    nbrs = neighbors(cart)
    send = np.full((len(nbrs), nbytes), cart.Get_rank() % 251, np.uint8)
    out = np.zeros((len(nbrs), nbytes), np.uint8)
    t = _slowest(cart, lambda: cart.Neighbor_alltoall(send, out), iters)
    assert [int(v) for v in out[:, -1]] == [r % 251 for r in nbrs]
    return t


def allgather(cart: Any, nbytes: int, iters: int) -> float:
    nbrs = neighbors(cart)
    x = np.full(nbytes, cart.Get_rank() % 251, np.uint8)
    out = np.zeros((len(nbrs), nbytes), np.uint8)
    t = _slowest(cart, lambda: cart.Neighbor_allgather(x, out), iters)
    assert [int(v) for v in out[:, -1]] == [r % 251 for r in nbrs]
    return t


def halo(cart: Any, n: int, iters: int) -> float:
    """Per dimension: send the top edge up while receiving the bottom halo
    from below, then the other way round."""
    ndim = cart.Get_dim()
    edges = [np.full(n, float(cart.Get_rank())) for _ in range(2 * ndim)]
    halos = [np.zeros(n) for _ in range(2 * ndim)]
    shifts = [cart.Shift(d, 1) for d in range(ndim)]

    def exchange() -> None:
        for d, (lo, hi) in enumerate(shifts):
            cart.Sendrecv(edges[2 * d + 1], hi, 0, halos[2 * d], lo, 0)
            cart.Sendrecv(edges[2 * d], lo, 1, halos[2 * d + 1], hi, 1)

    t = _slowest(cart, exchange, iters)
    want = [float(r) for lo_hi in shifts for r in lo_hi]
    assert [float(h[-1]) for h in halos] == want
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="8,65536", help="bytes per block")
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--halo", type=int, default=1024, help="float64 per edge")
    a = ap.parse_args()
    world = MPI.COMM_WORLD
    dims = MPI.Compute_dims(world.Get_size(), 2)
    cart = world.Create_cart(dims, periods=[True, True])
    got: dict[str, Any] = {"library": MPI.Get_library_version().splitlines()[0].strip()}
    got["dims"] = dims
    sizes = [int(w) for w in a.sizes.split(",")]
    got["alltoall"] = {s: alltoall(cart, s, a.iters) for s in sizes}
    got["allgather"] = {s: allgather(cart, s, a.iters) for s in sizes}
    got["halo"] = {a.halo * 8: halo(cart, a.halo, a.iters)}
    cart.Free()
    if world.Get_rank() == 0:
        print(json.dumps(got), flush=True)


if __name__ == "__main__":
    main()
