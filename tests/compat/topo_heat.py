"""A 2-D heat stencil on a Cartesian grid of ranks, its halo moved by
Neighbor_alltoall, then a ring of rank sums by a distributed graph and a
general graph: what each rank prints is what it prints under MPICH."""

import numpy as np
from mpi4py import MPI

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
dims = MPI.Compute_dims(size, 2)
for periods in ([True, True], [True, False]):
    cart = comm.Create_cart(dims, periods=periods)
    coords = cart.Get_coords(cart.Get_rank())
    n = 4
    u = np.zeros((n + 2, n + 2))
    u[1:-1, 1:-1] = np.add.outer(np.arange(n) + coords[0] * n, 10 * (np.arange(n) + coords[1] * n))
    for _ in range(5):
        send = np.stack([u[1, 1:-1], u[-2, 1:-1], u[1:-1, 1], u[1:-1, -2]])
        recv = np.zeros((4, n))
        cart.Neighbor_alltoall(send, recv)
        u[0, 1:-1], u[-1, 1:-1], u[1:-1, 0], u[1:-1, -1] = recv
        u[1:-1, 1:-1] = 0.25 * (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:])
    total = cart.allreduce(float(u[1:-1, 1:-1].sum()))
    print(
        rank,
        periods,
        cart.Get_topo(),
        cart.Shift(0, 1),
        cart.Shift(1, -1),
        cart.inoutedges,
        cart.neighbor_allgather(rank),
        round(total, 6),
        flush=True,
    )
    row = cart.Sub([False, True])
    print(rank, "row", row.Get_topo(), row.allgather(rank), flush=True)
    row.Free()
    cart.Free()
left, right = (rank - 1) % size, (rank + 1) % size
ring = comm.Create_dist_graph_adjacent([left, right], [right, left], [1, 2], [3, 4])
counts = [rank + 1, rank + 1]
out = np.zeros(left + 1 + right + 1, "i")
ring.Neighbor_alltoallv(
    [np.full(2 * (rank + 1), rank, "i"), counts, MPI.INT], [out, [left + 1, right + 1], MPI.INT]
)
sides = ring.neighbor_alltoall(["to-right", "to-left"])
print(rank, "ring", ring.Get_dist_neighbors(), out.tolist(), sides, flush=True)
index = [2 * (r + 1) for r in range(size)]
edges = [q for r in range(size) for q in ((r - 1) % size, (r + 1) % size)]
graph = comm.Create_graph(index, edges)
got = np.zeros(2, "d")
graph.Neighbor_allgather(np.array([rank * 1.5]), got)
near = graph.neighbor_allgather(rank)
print(rank, "graph", graph.Get_dims(), graph.neighbors, got.tolist(), near, flush=True)
