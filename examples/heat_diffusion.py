"""2-D heat equation on an N x N grid split over a 2-D mesh topology.

    zmqmesh launch -n 4 examples/heat_diffusion.py [--n N] [--tol T]

A plate at 0 has its top edge held at 1; explicit finite differences step it
until no cell changes by T or more. The ranks form a ``dims_create(size, 2)``
mesh topology; each owns a block plus a one-cell halo, swaps edges every step
with the neighbours ``.shift(dim, 1)`` names (None: the plate's edge), and
``allreduce(op=MAX)`` decides when to stop. Rank 0 gathers the blocks and
checks them against a serial NumPy run of the same problem.
"""

import argparse
import asyncio

import numpy as np

import zmqmesh

ALPHA = 0.2  # k * dt / h^2; the explicit scheme is stable up to 0.25 in 2-D


def step(u: np.ndarray) -> float:
    """One step of the interior, in place; the largest change. Serial and
    distributed runs share it, so they must agree to the last bit."""
    c, old = u[1:-1, 1:-1], u[1:-1, 1:-1].copy()  # c is a view: updating it updates u
    c += ALPHA * ((u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:]) - 4.0 * old)
    return float(np.max(np.abs(c - old)))


async def main(comm: zmqmesh.Comm) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--tol", type=float, default=3e-4)
    args = parser.parse_args()
    n, dims = args.n, zmqmesh.dims_create(comm.size, 2)
    if n < dims[0]:
        raise SystemExit(f"heat_diffusion: a {n}x{n} grid cannot be split over {dims}")
    mesh = await comm.create_topology("mesh", dims=dims, periodic=(False, False))
    # This rank's rows and columns of the plate: near-equal runs of range(n).
    rows, cols = (np.array_split(range(n), d)[c] for d, c in zip(dims, mesh.coords, strict=True))
    u = np.zeros((len(rows) + 2, len(cols) + 2))  # the frame: halo inside the plate, edge outside
    u[0, :] = rows[0] == 0  # the top edge, held at 1
    (up, down), (left, right) = mesh.shift(0, 1), mesh.shift(1, 1)  # (source, dest) pairs
    mid = slice(1, -1)
    # (edge sent, to, from, halo filled); a tag per direction keeps a block's
    # two edges along one dimension apart even when one rank sends both.
    swaps = [((-2, mid), down, up, (0, mid)), ((1, mid), up, down, (-1, mid))]
    swaps += [((mid, -2), right, left, (mid, 0)), ((mid, 1), left, right, (mid, -1))]

    async def swap(tag: int, edge: tuple, to: int | None, fr: int | None, halo: tuple) -> None:
        got = await mesh.sendrecv(u[edge], to, sendtag=tag, source=fr, recvtag=tag)
        if fr is not None:  # a None neighbour (off the plate) sends and receives nothing
            u[halo] = got

    steps, change = 0, np.inf
    while change >= args.tol:
        await asyncio.gather(*(swap(tag, *s) for tag, s in enumerate(swaps)))
        change = await mesh.allreduce(step(u), op=zmqmesh.MAX)
        steps += 1

    blocks = await mesh.gather((int(rows[0]), int(cols[0]), u[1:-1, 1:-1]), root=0)
    if mesh.rank == 0:
        grid = np.empty((n, n))
        for i, j, b in blocks:
            grid[i : i + b.shape[0], j : j + b.shape[1]] = b
        serial, serial_steps = np.zeros((n + 2, n + 2)), 1
        serial[0, :] = 1.0
        while step(serial) >= args.tol:
            serial_steps += 1
        diff = float(np.max(np.abs(grid - serial[1:-1, 1:-1])))
        print(f"grid {n}x{n} on a {dims[0]}x{dims[1]} mesh of {mesh.size} ranks")
        print(f"converged after {steps} steps (tol {args.tol:g}), mean temp {grid.mean():.6f}")
        print(f"serial NumPy run: {serial_steps} steps, max abs difference {diff:.2e}")
        if diff >= 1e-12 or serial_steps != steps:
            raise SystemExit("heat_diffusion: the distributed result differs from the serial one")


if __name__ == "__main__":
    zmqmesh.run(main)
