"""A distributed 2-D FFT: 1-D FFTs on local rows, a global transpose, again.

    zmqmesh launch -n 4 examples/distributed_fft.py [--n N]

The N x N complex array is split into blocks of N / size rows; each rank
builds only its own rows. A 2-D FFT is a 1-D FFT of every row, then of every
column, so each rank transforms its rows, then ``alltoall`` transposes the
array: rank r sends rank j the b x b tile of its rows that lies in j's
columns, and stitches the tiles it receives (transposed) into rows that are
columns of the original. A second round of 1-D FFTs, a second transpose,
and rank 0 gathers the rows and checks them with ``np.allclose`` against
``np.fft.fft2`` of the whole array. N must divide by the rank count: the
default N = 48 does for 1, 2, 3, 4, 6, 8, 12, 16, 24 and 48 ranks.
"""

import argparse

import numpy as np

import zmqmesh


def rows_of(lo: int, hi: int, n: int) -> np.ndarray:
    """Rows lo..hi-1 of the input, the same on whichever rank builds them."""
    i, j = np.mgrid[lo:hi, 0:n]
    return np.sin(0.3 * i + 0.7 * j) + 1j * np.cos(0.05 * i * j) + ((i * 7 + j * 3) % 5)


async def transpose(comm: zmqmesh.Comm, rows: np.ndarray) -> np.ndarray:
    """The distributed transpose: this rank's rows of the transposed array."""
    b = rows.shape[0]
    tiles = [rows[:, j * b : (j + 1) * b] for j in range(comm.size)]
    got = await comm.alltoall(tiles)  # got[i]: rank i's rows, this rank's columns
    return np.concatenate([t.T for t in got], axis=1)


async def main(comm: zmqmesh.Comm) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=48)
    args = parser.parse_args()
    n, rank, size = args.n, comm.rank, comm.size
    if n % size:
        raise SystemExit(
            f"distributed_fft: N = {n} does not divide by {size} ranks; "
            f"pick --n a multiple of {size} (e.g. {size * max(1, n // size)})"
        )
    b = n // size
    rows = rows_of(rank * b, (rank + 1) * b, n)

    spectrum = np.fft.fft(rows, axis=1)  # along each row
    cols = np.fft.fft(await transpose(comm, spectrum), axis=1)  # along each column
    result = await transpose(comm, cols)  # back to this rank's rows

    blocks = await comm.gather(result, root=0)
    if rank == 0:
        full = np.concatenate(blocks)
        serial = np.fft.fft2(rows_of(0, n, n))
        ok = bool(np.allclose(full, serial))
        print(f"2-D FFT of a {n}x{n} complex array on {size} rank(s), {b} rows each")
        print(f"F[0, 0] = {full[0, 0]:.6f}, |F| = {np.linalg.norm(full):.6f}")
        print(f"allclose to np.fft.fft2: {ok}, max abs diff {np.abs(full - serial).max():.2e}")
        if not ok:
            raise SystemExit("distributed_fft: the result differs from np.fft.fft2")


if __name__ == "__main__":
    zmqmesh.run(main)
