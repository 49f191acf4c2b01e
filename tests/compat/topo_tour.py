"""Process topologies and neighborhood collectives on real ranks (launch
--mpi4py, 2 or more ranks; argv[1] is a directory the ranks share).

Every expected value is worked out here from the topology alone: the
neighbor order of MPI 4.1 section 8.6 (per dimension the source then the
dest of ``Shift(d, 1)``, ``PROC_NULL`` blocks kept and left untouched; a
graph's ``Get_neighbors`` order; a distributed graph's sources for
receives, destinations for sends) and its pairing of blocks (on a grid the
block sent down a dimension lands in the neighbor's up block; on a graph
the ``k``-th edge to a peer meets the ``k``-th edge from it).
"""

import sys
import threading

import numpy as np
from mpi4py import MPI
from overlap import compute_until, mark, wait_for

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
shared = sys.argv[1]
assert size >= 2
SENTINEL = -7.0


def expect_error(cls: int, fn, *args) -> None:  # type: ignore[no-untyped-def]
    try:
        fn(*args)
    except MPI.Exception as exc:
        assert exc.Get_error_class() == cls, (fn, args, exc.Get_error_class(), cls)
    else:
        raise AssertionError(f"{fn} {args} did not raise error class {cls}")


def expect(exc_type: type, fn, *args) -> None:  # type: ignore[no-untyped-def]
    try:
        fn(*args)
    except exc_type:
        return
    raise AssertionError(f"{fn} {args} did not raise {exc_type.__name__}")


def sent_by(peer: int, me: int, k: int, dests_of_peer: list[int]) -> int:
    """The send block of ``peer`` that its ``k``-th edge to ``me`` is."""
    return [j for j, q in enumerate(dests_of_peer) if q == me][k]


# -- a 2-D grid: halo exchange, periodic and not --------------------------------------------------
dims = MPI.Compute_dims(size, 2)
n = 3  # interior points per side of each rank's block
G = np.arange(dims[0] * n * dims[1] * n, dtype="f8").reshape(dims[0] * n, dims[1] * n)

for periods in ([True, True], [False, False], [True, False]):
    cart = comm.Create_cart(dims, periods=periods)
    assert cart.Get_topology() == MPI.CART and cart.topology == MPI.CART
    assert isinstance(cart, MPI.Cartcomm) and MPI.Cartcomm(cart) == cart
    d, p, c = cart.Get_topo()
    assert (d, p) == (dims, [int(x) for x in periods]) and c == cart.Get_coords(rank)
    assert cart.Get_cart_rank(c) == rank and cart.dim == cart.ndim == 2
    nbrs = [q for dim in range(2) for q in cart.Shift(dim, 1)]
    assert cart.inoutedges == (nbrs, nbrs) and cart.degrees == (4, 4)
    assert cart.indegree == cart.outdegree == 4

    def owner(i: int, j: int, cart: MPI.Cartcomm = cart, periods: list[bool] = periods) -> int:
        """The rank holding point (i, j) of G, or PROC_NULL off the grid."""
        at = []
        for x, ext, wrap in zip((i, j), (dims[0] * n, dims[1] * n), periods, strict=True):
            if not 0 <= x < ext and not wrap:
                return MPI.PROC_NULL
            at.append((x % ext) // n)
        return cart.Get_cart_rank(at)

    i0, j0 = c[0] * n, c[1] * n
    block = np.full((n + 2, n + 2), SENTINEL)
    block[1:-1, 1:-1] = G[i0 : i0 + n, j0 : j0 + n]
    want = block.copy()  # ghosts: G around the block, where the grid goes on
    rows, cols = dims[0] * n, dims[1] * n
    for gi, gj in [(-1, k) for k in range(n)] + [(n, k) for k in range(n)]:
        if owner(i0 + gi, j0 + gj) != MPI.PROC_NULL:
            want[gi + 1, gj + 1] = G[(i0 + gi) % rows, (j0 + gj) % cols]
    for gi, gj in [(k, -1) for k in range(n)] + [(k, n) for k in range(n)]:
        if owner(i0 + gi, j0 + gj) != MPI.PROC_NULL:
            want[gi + 1, gj + 1] = G[(i0 + gi) % rows, (j0 + gj) % cols]

    # Neighbor_alltoall: blocks up, down, left, right; ghosts filled from them
    send = np.stack([block[1, 1:-1], block[-2, 1:-1], block[1:-1, 1], block[1:-1, -2]])
    recv = np.full((4, n), SENTINEL)
    cart.Neighbor_alltoall(send, recv)
    got = block.copy()
    got[0, 1:-1], got[-1, 1:-1], got[1:-1, 0], got[1:-1, -1] = recv
    assert np.array_equal(got, want), (periods, got, want)
    for k, q in enumerate(nbrs):  # a PROC_NULL block is left as it was
        assert (q == MPI.PROC_NULL) == bool((recv[k] == SENTINEL).all()), (k, q, recv)

    # Neighbor_alltoallw: the same halo straight between the ghost cells, with
    # a row and a column datatype at byte displacements
    row = MPI.DOUBLE.Create_contiguous(n).Commit()
    col = MPI.DOUBLE.Create_vector(n, 1, n + 2).Commit()
    at = lambda i, j: 8 * (i * (n + 2) + j)  # noqa: E731
    halo = block.copy()
    types = [row, row, col, col]
    cart.Neighbor_alltoallw(
        [halo, [1] * 4, [at(1, 1), at(n, 1), at(1, 1), at(1, n)], types],
        [halo, [1] * 4, [at(0, 1), at(n + 1, 1), at(1, 0), at(1, n + 1)], types],
    )
    assert np.array_equal(halo, want), (periods, halo, want)
    row.Free()
    col.Free()

    # the object forms: None for a PROC_NULL block
    assert cart.neighbor_allgather(rank) == [None if q < 0 else q for q in nbrs]
    got_obj = cart.neighbor_alltoall([(rank, k) for k in range(4)])
    assert got_obj == [None if q < 0 else (q, k ^ 1) for k, q in enumerate(nbrs)], got_obj

    # the buffer allgathers
    ag = np.full(4, -1, "i")
    cart.Neighbor_allgather(np.array([rank], "i"), ag)
    assert ag.tolist() == [-1 if q < 0 else q for q in nbrs]
    agv = np.full(8, -1, "i")
    cart.Neighbor_allgatherv(np.array([rank, rank], "i"), [agv, [2] * 4, [0, 2, 4, 6], MPI.INT])
    assert agv.tolist() == [x for q in nbrs for x in ([-1, -1] if q < 0 else [q, q])]

    # a duplicate keeps the topology; a sub-grid along each dimension
    for dup in (cart.Dup(), cart.Clone()):
        assert type(dup) is MPI.Cartcomm and dup.Get_topo() == cart.Get_topo()
        assert dup.neighbor_allgather(rank) == [None if q < 0 else q for q in nbrs]
        dup.Free()
    for dim in range(2):
        keep = [k == dim for k in range(2)]
        sub = cart.Sub(keep)
        assert type(sub) is MPI.Cartcomm and sub.Get_topo() == ([dims[dim]], [p[dim]], [c[dim]])
        line = [r for r in range(size) if cart.Get_coords(r)[1 - dim] == c[1 - dim]]
        assert sub.Get_size() == len(line) and sub.Get_rank() == line.index(rank)
        assert sub.allgather(rank) == line
        sub.Free()
    alone = cart.Sub([False, False])
    assert alone.Get_size() == 1 and alone.Get_topo() == ([], [], []) and alone.degrees == (0, 0)
    cart.Free()

# a grid of part of the ranks: the others get COMM_NULL (of the class)
part = comm.Create_cart([size - 1])
assert type(part) is MPI.Cartcomm
assert (part == MPI.COMM_NULL) == (rank == size - 1)
if part != MPI.COMM_NULL:
    assert part.Get_topo() == ([size - 1], [0], [rank])
    part.Free()
assert MPI.Intracomm.Cart_map(comm, [size - 1]) == (rank if rank < size - 1 else MPI.UNDEFINED)

# -- a general graph: a ring with the edge 0-1 twice more ----------------------------------------
adj = [[(r + 1) % size, (r - 1) % size] + ([1 - r] if r < 2 else []) for r in range(size)]
index = list(np.cumsum([len(a) for a in adj]))
edges = [q for a in adj for q in a]
graph = comm.Create_graph(index, edges)
assert graph.topology == MPI.GRAPH and isinstance(graph, MPI.Graphcomm)
assert graph.Get_topo() == (index, edges) and graph.Get_dims() == (size, len(edges))
assert comm.Create_graph([0, *index], edges).Get_topo() == (index, edges)  # mpi4py's form
assert graph.neighbors == adj[rank] == graph.Get_neighbors(rank)
assert graph.nneighbors == len(adj[rank]) == graph.Get_neighbors_count(rank)
assert graph.inoutedges == (adj[rank], adj[rank])
mine = adj[rank]
send = np.array([100 * rank + j for j in range(len(mine))], "i")
recv = np.full(len(mine), -1, "i")
graph.Neighbor_alltoall(send, recv)
want = [100 * q + sent_by(q, rank, mine[:i].count(q), adj[q]) for i, q in enumerate(mine)]
assert recv.tolist() == want, (recv, want)
assert graph.neighbor_alltoall([100 * rank + j for j in range(len(mine))]) == want
assert graph.neighbor_allgather(rank) == mine
assert type(graph.Dup()) is MPI.Graphcomm
graph.Free()

# -- a distributed graph with weights and duplicate edges -----------------------------------------
right, right2 = (rank + 1) % size, (rank + 2) % size
srcs = [(rank - 1) % size, (rank - 2) % size, (rank - 1) % size]
dsts = [right, right, right2]
dg = comm.Create_dist_graph_adjacent(srcs, dsts, [10, 11, 12], [20, 21, 22])
assert dg.topology == MPI.DIST_GRAPH and isinstance(dg, MPI.Distgraphcomm)
assert dg.Get_dist_neighbors_count() == (3, 3, True)
assert dg.Get_dist_neighbors() == (srcs, dsts, ([10, 11, 12], [20, 21, 22]))
assert dg.inedges == srcs and dg.outedges == dsts and dg.degrees == (3, 3)


def dests_of(r: int) -> list[int]:
    return [(r + 1) % size, (r + 1) % size, (r + 2) % size]


want = [sent_by(p, rank, srcs[:i].count(p), dests_of(p)) for i, p in enumerate(srcs)]
recv = np.full(3, -1, "i")
dg.Neighbor_alltoall(np.array([100 * rank + j for j in range(3)], "i"), recv)
assert recv.tolist() == [100 * p + j for p, j in zip(srcs, want, strict=True)]

# v-variants: send block j holds j + 1 items, so each receive block's size says which it was
counts = [w + 1 for w in want]
recv = np.full(sum(counts), -1, "i")
displs = list(np.cumsum([0, *counts[:-1]]))
sendv = np.array([10 * rank + j for j in range(3) for _ in range(j + 1)], "i")
dg.Neighbor_alltoallv([sendv, [1, 2, 3], [0, 1, 3], MPI.INT], [recv, counts, displs, MPI.INT])
assert recv.tolist() == [10 * p + w for p, w in zip(srcs, want, strict=True) for _ in range(w + 1)]
agv = np.full(sum(p + 1 for p in srcs), -1, "i")
dg.Neighbor_allgatherv(np.full(rank + 1, rank, "i"), [agv, [p + 1 for p in srcs], None, MPI.INT])
assert agv.tolist() == [p for p in srcs for _ in range(p + 1)]

# persistent: two rounds with new data
buf, out = np.zeros(3, "i"), np.full(3, -1, "i")
pers = dg.Neighbor_alltoall_init(buf, out)
for round_ in (1, 2):
    buf[:] = [1000 * round_ + 100 * rank + j for j in range(3)]
    pers.Start()
    pers.Wait()
    assert out.tolist() == [1000 * round_ + 100 * p + j for p, j in zip(srcs, want, strict=True)]
pers.Free()
dup = dg.Dup()
assert type(dup) is MPI.Distgraphcomm and dup.Get_dist_neighbors() == dg.Get_dist_neighbors()
dup.Free()

# Ineighbor_alltoallv overlapping computation, by events: rank 1 starts it
# once every other rank has (their "posted" files), then computes with no MPI
# call until every other rank has finished its Wait (their "done" files):
# they receive from rank 1 too, so they finish only if rank 1's call gets on
# while it computes. Everyone then checks the data.
full = comm.Create_dist_graph_adjacent(
    [q for q in range(size) if q != rank], [q for q in range(size) if q != rank]
)
peers = full.outedges
big = 1 << 16
sendv = np.concatenate([np.full(big + q, 1000 * rank + q, "f8") for q in peers])
recv_counts = [big + rank] * len(peers)
recv = np.full(sum(recv_counts), -1.0)


others = [f"done.{r}" for r in range(size) if r != 1]
if rank == 1:
    wait_for(shared, [f"posted.{r}" for r in range(size) if r != 1], threading.Event())
    req = full.Ineighbor_alltoallv(
        [sendv, [big + q for q in peers], MPI.DOUBLE], [recv, recv_counts, MPI.DOUBLE]
    )
    compute_until(shared, others)
    req.Wait()
else:
    req = full.Ineighbor_alltoallv(
        [sendv, [big + q for q in peers], MPI.DOUBLE], [recv, recv_counts, MPI.DOUBLE]
    )
    mark(shared, f"posted.{rank}")
    req.Wait()
    mark(shared, f"done.{rank}")
assert recv.tolist() == [1000.0 * q + rank for q in peers for _ in range(big + rank)]
full.Free()

# PROC_NULL neighbors of a distributed graph: nothing moves in their blocks
left = (rank - 1) % size
holes = comm.Create_dist_graph_adjacent([MPI.PROC_NULL, left], [right, MPI.PROC_NULL])
out = np.full(2, -1, "i")
holes.Neighbor_alltoall(np.array([rank, 99], "i"), out)
assert out.tolist() == [-1, left], out
assert holes.neighbor_allgather(rank) == [None, left]
# a generic handle works as the kind's own; nonblocking calls mix in call order
generic = MPI.Topocomm(holes)
assert MPI.Intracomm(generic).topology == MPI.DIST_GRAPH and generic.inedges == [-1, left]
out[:] = -1
req = generic.Ineighbor_alltoall(np.array([rank, 99], "i"), out)
generic.Barrier()
req.Wait()
assert out.tolist() == [-1, left], out
holes.Free()

# -- edges given by any rank: Create_dist_graph ---------------------------------------------------
if rank == 0:  # the ring, then 0 -> 0; every other rank gives its edge to 0
    made = comm.Create_dist_graph(
        [*range(size), 0], [1] * (size + 1), [*((r + 1) % size for r in range(size)), 0],
        [*range(size), 1000],
    )  # fmt: skip
else:
    made = comm.Create_dist_graph([rank], [1], [0], [1000 + rank])
src, dst, (sw, dw) = made.Get_dist_neighbors()
if rank == 0:  # in giving rank order: rank 0's edges (ring, self), then ranks 1...
    assert src == [size - 1, 0, *range(1, size)]
    assert sw == [size - 1, 1000, *range(1001, 1000 + size)]
    assert dst == [1, 0] and dw == [0, 1000]
else:
    assert src == [rank - 1] and sw == [rank - 1]
    assert dst == [(rank + 1) % size, 0] and dw == [rank, 1000 + rank]
got = made.neighbor_alltoall([(rank, j) for j in range(len(dst))])
assert got == [(p, sent_by(p, rank, src[:i].count(p), [(p + 1) % size, 0]))
               for i, p in enumerate(src)], got  # fmt: skip
empty = comm.Create_dist_graph_adjacent([], [], MPI.WEIGHTS_EMPTY, MPI.WEIGHTS_EMPTY)
assert empty.Get_dist_neighbors() == ([], [], ([], [])) and empty.neighbor_allgather(1) == []
bare = comm.Create_dist_graph_adjacent([], [], MPI.UNWEIGHTED, MPI.UNWEIGHTED)
assert bare.Get_dist_neighbors_count() == (0, 0, False)

# -- bad input raises as mpi4py on MPICH would, and nothing is left hanging -----------------------
expect_error(MPI.ERR_ARG, comm.Create_cart, [size + 1])
expect_error(MPI.ERR_ARG, comm.Create_cart, [size, 2])
expect_error(MPI.ERR_DIMS, comm.Create_cart, [-1, size])
expect_error(MPI.ERR_DIMS, comm.Cart_map, [size + 1])
expect_error(MPI.ERR_ARG, comm.Create_graph, [1] * (size + 1), [0] * (size + 1))
expect_error(MPI.ERR_ARG, comm.Create_graph, [1, 2], [0, size + 3])
expect_error(MPI.ERR_ARG, comm.Create_graph, [2, 1], [1, 0])
expect_error(MPI.ERR_ARG, comm.Create_dist_graph_adjacent, [rank], [size + 5])
expect_error(MPI.ERR_ARG, comm.Create_dist_graph, [rank], [1], [-3])
expect_error(MPI.ERR_ARG, comm.Create_dist_graph_adjacent, [rank], [rank], [-1], [1])
# only rank 0 is wrong: it raises its own error, every other rank ERR_ARG
expect_error(MPI.ERR_ARG, comm.Create_dist_graph_adjacent, [rank], [size if rank == 0 else rank])
# an edge listed at one end only: made (as MPI implementations make it), but
# no neighborhood collective on it, on any rank
lopsided = comm.Create_dist_graph_adjacent([], [(rank + 1) % size])
assert lopsided.Get_dist_neighbors() == ([], [(rank + 1) % size], None)
expect_error(MPI.ERR_TOPOLOGY, lopsided.neighbor_allgather, rank)
expect_error(MPI.ERR_TOPOLOGY, lopsided.Ineighbor_alltoall, np.zeros(1, "i"), np.zeros(0, "i"))
lopsided.Free()
expect(ValueError, comm.Create_dist_graph_adjacent, [rank], [rank], [1, 2])
expect(ValueError, comm.Create_dist_graph_adjacent, [rank], [rank], MPI.WEIGHTS_EMPTY)
one_way = comm.Create_graph(list(range(1, size + 1)), [(r + 1) % size for r in range(size)])
if size > 2:  # a directed ring: no neighborhood collective on it, on any rank
    expect_error(MPI.ERR_TOPOLOGY, one_way.neighbor_allgather, rank)
expect_error(MPI.ERR_RANK, one_way.Get_neighbors, size)
grid = comm.Create_cart([size], periods=[False])
expect_error(MPI.ERR_RANK, grid.Get_coords, size)
expect_error(MPI.ERR_ARG, grid.Shift, 1, 1)
expect_error(MPI.ERR_ARG, grid.Get_cart_rank, [size])
expect(ValueError, grid.Get_cart_rank, [0, 0])
expect(ValueError, grid.Sub, [True, False])
expect(TypeError, MPI.Cartcomm, comm)
expect(TypeError, MPI.Graphcomm, grid)
expect_error(MPI.ERR_DIMS, MPI.Compute_dims, size, [size + 1, 0])
expect_error(MPI.ERR_ARG, MPI.Compute_dims, -1, 2)
assert comm.Get_topology() == MPI.UNDEFINED
# a handle's integer comes back as a communicator of its kind, as mpi4py's
for made in (grid, one_way, lopsided_kind := comm.Create_dist_graph_adjacent([], []), comm):
    for back in (MPI.Comm.fromint(made.toint()), MPI.Comm.f2py(made.py2f())):
        assert back == made
        assert type(back) is type(made), (type(back), type(made))
    assert type(MPI.Intracomm.fromhandle(made.handle)) is type(made)
lopsided_kind.Free()
assert type(MPI.Comm.fromint(MPI.COMM_NULL.toint())) is MPI.Comm
comm.Barrier()
if rank == 0:
    print(f"topo tour ok on {size} ranks")
