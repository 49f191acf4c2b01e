"""Broadcast by hand down a k-ary tree topology, acknowledge back up it.

    zmqmesh launch -n 4 examples/tree_broadcast.py [--elems N] [--arity K] [--repeat R]

``comm.create_topology("tree", arity=2, root=0)`` gives each rank its
``.parent`` (None at the root) and ``.children`` in heap order. The root
sends a payload (a config dict and a float64 array of N elements) to its
children; every other rank receives it from its parent and forwards it.
Then each rank tells its parent the size of its subtree, so the root learns
that all ranks got it. Rank 0 prints the depth, the acknowledgement count
and the time, then the time of ``comm.bcast`` with the same payload, and
checks that both routes delivered identical data to every rank.
"""

import argparse
import time

import numpy as np

import zmqmesh

PAYLOAD, ACK = 1, 2  # tags: the two waves never match each other's messages


async def tree_bcast(tree: zmqmesh.Comm, payload: dict | None) -> tuple[int, dict, int]:
    """(this rank's depth, the payload, the number of ranks in its subtree)."""
    depth = 0
    if tree.parent is not None:
        depth, payload = await tree.recv(tree.parent, tag=PAYLOAD)
    # isend to all children at once, rather than one whole array after another.
    for req in [tree.isend((depth + 1, payload), c, tag=PAYLOAD) for c in tree.children]:
        await req
    acked = 1 + sum([await tree.recv(c, tag=ACK) for c in tree.children])
    await tree.send(acked, tree.parent, tag=ACK)  # parent None (the root): sends nothing
    return depth, payload, acked


async def timed(comm: zmqmesh.Comm, repeat: int, fn, *args):
    """fn(*args)'s result, and the best over ``repeat`` runs of the time from a
    common start until the last rank is done (the root alone finishes early)."""
    best = np.inf
    for _ in range(repeat):
        await comm.barrier()
        t0 = time.perf_counter()
        out = await fn(*args)
        best = min(best, await comm.allreduce(time.perf_counter() - t0, op=zmqmesh.MAX))
    return out, best


async def main(comm: zmqmesh.Comm) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--elems", type=int, default=1 << 17)
    parser.add_argument("--arity", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    tree = await comm.create_topology("tree", arity=args.arity, root=0)
    config = {"lr": 0.05, "layers": [16, 8, 1]}
    mine = {"config": config, "w": np.arange(args.elems) / 7} if comm.rank == 0 else None

    (depth, payload, acked), t_tree = await timed(tree, args.repeat, tree_bcast, tree, mine)
    max_depth = await tree.reduce(depth, op=zmqmesh.MAX, root=0)
    got, t_bcast = await timed(comm, args.repeat, comm.bcast, mine, 0)
    same = got["config"] == payload["config"] and np.array_equal(got["w"], payload["w"])
    all_same = await comm.allreduce(same, op=zmqmesh.LAND)

    if comm.rank == 0:
        v, want = tree.size - 1, 0  # the last heap node, the deepest: its steps to the root
        while v > 0:
            v, want = (v - 1) // args.arity, want + 1
        print(f"tree of {tree.size} ranks, arity {args.arity}; children of rank 0: {tree.children}")
        print(f"depth {max_depth} (expected {want})")
        print(f"payload: config dict + {args.elems} float64 ({args.elems * 8 / 2**20:.2f} MiB)")
        print(f"tree send/recv: {acked} of {tree.size} ranks acknowledged in {t_tree * 1e3:.2f} ms")
        print(f"comm.bcast: {t_bcast * 1e3:.2f} ms; same payload on every rank: {all_same}")
        if acked != tree.size or not all_same or max_depth != want:
            raise SystemExit("tree_broadcast: a rank is missing or got different data")


if __name__ == "__main__":
    zmqmesh.run(main)
