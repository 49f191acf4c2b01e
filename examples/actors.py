"""Actors: objects that live on one worker, whose methods run there in order.

    zmqmesh launch -n 3 examples/actors.py [--calls N] [--steps N]

First Ray's ``DistributedCounter``: ``ex.actor(Counter)`` makes the instance
on a worker and returns a handle; ``handle.increment()`` returns a future,
and the calls made through a handle run in the order made, so 1,000
pipelined increments end at 1,000. Then a parameter server: the server is
an actor holding the weights of a linear model; each step, gradient tasks
get the current weights (the future of ``server.get()``) and a shard of the
data, and the server applies their gradients (the tasks' futures, passed
to ``server.apply``). Rank 0 prints the counter and the model's error
falling, next to the true weights.
"""

import argparse
import asyncio

import numpy as np

import zmqmesh


class Counter:
    def __init__(self) -> None:
        self.value = 0

    def increment(self) -> int:
        self.value += 1
        return self.value


class ParameterServer:
    def __init__(self, dim: int, lr: float) -> None:
        self.w = np.zeros(dim)
        self.lr = lr

    def get(self) -> np.ndarray:
        return self.w

    def apply(self, *grads: np.ndarray) -> np.ndarray:
        self.w = self.w - self.lr * np.mean(grads, axis=0)
        return self.w


def shard(seed: int, n: int, true_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, true_w.size))
    return x, x @ true_w + rng.normal(scale=0.01, size=n)


def gradient(w: np.ndarray, seed: int, n: int, true_w: np.ndarray) -> np.ndarray:
    """The mean-squared-error gradient on one shard (made here from its seed)."""
    x, y = shard(seed, n, true_w)
    return 2 * x.T @ (x @ w - y) / n


async def main(comm: zmqmesh.Comm) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--shards", type=int, default=4)
    args = parser.parse_args()

    async with zmqmesh.Executor(comm) as ex:
        if ex is None:
            return
        counter = ex.actor(Counter)
        futs = [counter.increment() for _ in range(args.calls)]
        values = await asyncio.gather(*futs)
        in_order = values == list(range(1, args.calls + 1))
        print(
            f"counter on rank {counter.rank}: {values[-1]} after {args.calls} calls, "
            f"in order: {in_order}"
        )
        await counter.close()

        true_w = np.arange(1.0, 9.0)
        server = ex.actor(ParameterServer, true_w.size, 0.1)
        for step in range(args.steps):
            w = server.get()
            grads = [ex.submit(gradient, w, s, 256, true_w) for s in range(args.shards)]
            new_w = server.apply(*grads)
            if step % 10 == 9 or step == args.steps - 1:
                err = float(np.abs(await new_w - true_w).max())
                print(f"step {step + 1}: max weight error {err:.4f}")
        print(f"weights {np.round(await server.get(), 2).tolist()} (true: {true_w.tolist()})")


if __name__ == "__main__":
    zmqmesh.run(main)
