"""Scatter/gather with the executor: one task per chunk of a NumPy array.

    zmqmesh launch -n 4 examples/scatter_gather.py [--size N] [--chunks M] [--seed S]

Rank 0 makes an array of N float64 values and splits it into M chunks
(``np.array_split`` gives views, no copies). It submits one task per chunk:
the chunk travels to a worker as its own ZeroMQ frame, straight from the
array's memory, and the result array comes back the same way. Results are
gathered as they complete, each written to its chunk's place in the output,
and the whole is compared with the same function applied serially to the
array (elementwise, so the bits must be equal) and a sum with its serial
value (equal up to rounding: the parts are added in another order).
"""

import argparse

import numpy as np

import zmqmesh


def f(x: np.ndarray) -> np.ndarray:
    return np.sqrt(np.abs(x)) * np.sin(x)


def work(index: int, chunk: np.ndarray) -> tuple[int, np.ndarray, float]:
    """One chunk's part: its index (to place the result), f(chunk), its sum."""
    y = f(chunk)
    return index, y, float(y.sum())


async def main(comm: zmqmesh.Comm) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=4_000_000)
    parser.add_argument("--chunks", type=int, default=16)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()

    async with zmqmesh.Executor(comm) as ex:
        if ex is not None:
            data = np.random.default_rng(args.seed).normal(0.0, 10.0, args.size)
            chunks = np.array_split(data, args.chunks)
            starts = np.cumsum([0] + [len(c) for c in chunks])
            # Scatter: the chunks are views of data, which must not change
            # until their tasks are done (they are sent from its memory).
            futs = [ex.submit(work, i, c) for i, c in enumerate(chunks)]
            out, total, order = np.empty_like(data), 0.0, []
            async for fut in ex.as_completed(futs):  # gather, in completion order
                i, y, part = fut.result()
                out[starts[i] : starts[i + 1]] = y
                total += part
                order.append(i)
    if ex is None:
        return
    serial = f(data)
    mb = data.nbytes / len(chunks) / 2**20
    print(f"scattered {args.size} float64 as {len(chunks)} chunks of ~{mb:.2f} MiB")
    print(f"workers: {max(1, comm.size - 1)}, chunks gathered in the order {order}")
    same = np.array_equal(out, serial)
    print(f"gathered array equals the serial result: {same}")
    close = bool(np.isclose(total, serial.sum(), rtol=1e-9, atol=1e-6))
    print(f"sum {total:.6f}, serial {serial.sum():.6f}, close: {close}")
    if not (same and close and sorted(order) == list(range(len(chunks)))):
        raise SystemExit("scatter_gather: the gathered result differs from the serial one")


if __name__ == "__main__":
    zmqmesh.run(main)
