"""Row-block distributed matrix-vector product y = A @ x.

    zmqmesh launch -n 4 examples/distributed_matvec.py [--n N] [--m M]

Rank 0 draws an N x M matrix A and ``scatter``s it in blocks of rows
(near-equal, ``np.array_split``: N need not divide by the rank count). The
vector x is distributed too: rank r builds its own piece of x, and
``allgather`` hands every rank the whole vector. Each rank multiplies its
rows, ``gather`` brings the pieces of y to rank 0, which checks them with
``np.allclose`` against the serial ``A @ x`` and prints the result.
"""

import argparse

import numpy as np

import zmqmesh


def x_piece(m: int, size: int, rank: int) -> np.ndarray:
    """Rank ``rank``'s entries of x, computed where they live."""
    idx = np.array_split(np.arange(m), size)[rank]
    return np.cos(0.1 * idx)


async def main(comm: zmqmesh.Comm) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--m", type=int, default=800)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rank, size, n, m = comm.rank, comm.size, args.n, args.m

    a = np.random.default_rng(args.seed).standard_normal((n, m)) if rank == 0 else None
    rows = await comm.scatter(np.array_split(a, size) if a is not None else None, root=0)
    x = np.concatenate(await comm.allgather(x_piece(m, size, rank)))
    y_local = rows @ x
    print(f"rank {rank}: {rows.shape[0]} rows, local |y| = {np.linalg.norm(y_local):.6f}")

    pieces = await comm.gather(y_local, root=0)
    if rank == 0:
        assert a is not None
        y = np.concatenate(pieces)
        serial = a @ np.cos(0.1 * np.arange(m))
        ok = bool(np.allclose(y, serial, rtol=1e-12, atol=1e-12))
        print(f"A is {n}x{m}, split into row blocks of {[len(p) for p in pieces]}")
        print(f"|y| = {np.linalg.norm(y):.6f}, y[:3] = {np.round(y[:3], 6)}")
        print(f"allclose to the serial A @ x: {ok}, max abs diff {np.abs(y - serial).max():.2e}")
        if not ok:
            raise SystemExit("distributed_matvec: the distributed product differs from A @ x")


if __name__ == "__main__":
    zmqmesh.run(main)
