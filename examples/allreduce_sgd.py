"""Data-parallel SGD of a small NumPy MLP, gradients averaged with allreduce.

    zmqmesh launch -n 4 examples/allreduce_sgd.py [--steps S] [--batch B] [--lr LR]

Every rank builds the same two-moons data set from a fixed seed and keeps a
shard. Each step it draws a mini-batch from its shard with its own generator
and computes the gradient of a 2-16-1 tanh network's logistic loss; one
``allreduce`` sums gradients and batch sizes, so every rank applies the same
mean gradient. Rank 0 prints the final loss and accuracy on the whole
training set, and an ``allgather`` of weight hashes shows that all ranks hold
bit-identical weights. ``parameter_server.py`` imports the model from here.
"""

import argparse
import hashlib

import numpy as np

import zmqmesh

HIDDEN, SEED = 16, 7


def make_data(n: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Two noisy interleaved half-moons, labels 0/1: no straight line splits them."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(np.float64)
    t = rng.uniform(0, np.pi, n)
    arc = np.c_[np.cos(t), np.sin(t)]
    moons = np.where(y[:, None] == 0, arc, [1.0, 0.5] - arc)
    return moons + rng.normal(0, 0.15, (n, 2)) - [0.5, 0.25], y


def unpack(p: np.ndarray) -> tuple[np.ndarray, ...]:
    """Views W1, b1, w2, b2 of one flat vector: one message carries them all."""
    h = HIDDEN
    return p[: 2 * h].reshape(2, h), p[2 * h : 3 * h], p[3 * h : 4 * h], p[4 * h :]


def init_params(seed: int = SEED) -> np.ndarray:
    rng, p = np.random.default_rng(seed), np.zeros(4 * HIDDEN + 1)
    w1, _, w2, _ = unpack(p)
    w1[:], w2[:] = rng.normal(0, 1, w1.shape), rng.normal(0, HIDDEN**-0.5, HIDDEN)
    return p


def loss_grad(p: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[float, int, np.ndarray]:
    """Summed (not averaged) loss, correct count and gradient: shards add up."""
    w1, b1, w2, b2 = unpack(p)
    h = np.tanh(x @ w1 + b1)
    z = h @ w2 + b2[0]
    g = np.empty_like(p)
    gw1, gb1, gw2, gb2 = unpack(g)
    dz = 1.0 / (1.0 + np.exp(-z)) - y  # d(logistic loss)/dz
    gw2[:], gb2[:] = h.T @ dz, dz.sum()
    dh = np.outer(dz, w2) * (1.0 - h * h)
    gw1[:], gb1[:] = x.T @ dh, dh.sum(axis=0)
    loss = float(np.sum(np.logaddexp(0.0, z) - y * z))  # log(1 + e^z) - y z, overflow-free
    return loss, int(np.count_nonzero((z > 0) == (y > 0.5))), g


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--batch", type=int, default=128, help="global mini-batch size")
    parser.add_argument("--lr", type=float, default=1.0)
    return parser.parse_args()


async def main(comm: zmqmesh.Comm) -> None:
    args = parse_args()
    x, y = make_data(args.samples)
    x, y = x[comm.rank :: comm.size], y[comm.rank :: comm.size]  # this rank's shard
    rng = np.random.default_rng(SEED + comm.rank)
    per_rank = -(-args.batch // comm.size)
    p = init_params()  # same seed everywhere: every rank starts from the same weights
    for _ in range(args.steps):
        i = rng.integers(0, len(y), per_rank)
        _, _, g = loss_grad(p, x[i], y[i])
        total = await comm.allreduce(np.append(g, len(i)))  # gradient sums, then batch size
        p -= args.lr * total[:-1] / total[-1]

    loss, correct, _ = loss_grad(p, x, y)
    loss, correct, n = await comm.allreduce(np.array([loss, correct, len(y)]))
    hashes = await comm.allgather(hashlib.sha256(p.tobytes()).hexdigest())
    if comm.rank == 0:
        print(f"{args.samples} samples, {len(y)} on rank 0 of {comm.size}; {args.steps} steps")
        print(f"final training loss {loss / n:.4f}, accuracy {correct / n:.4f}")
        same = len(set(hashes)) == 1
        print(f"weights bit-identical on all {comm.size} ranks: {same} (sha256 {hashes[0][:12]})")
        if not same:
            raise SystemExit("allreduce_sgd: ranks hold different weights")


if __name__ == "__main__":
    zmqmesh.run(main)
