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

HIDDEN, SEED = 16, 7  # the weights W1, b1, w2, b2 travel as one flat vector, in that order


def make_data(n: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Two noisy interleaved half-moons, labels 0/1: no straight line splits them."""
    rng = np.random.default_rng(seed)
    y, t = rng.integers(0, 2, n).astype(np.float64), rng.uniform(0, np.pi, n)
    arc = np.c_[np.cos(t), np.sin(t)]
    moons = np.where(y[:, None] == 0, arc, [1.0, 0.5] - arc)
    return moons + rng.normal(0, 0.15, (n, 2)) - [0.5, 0.25], y


def init_params(seed: int = SEED) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w1, w2 = rng.normal(0, 1, 2 * HIDDEN), rng.normal(0, HIDDEN**-0.5, HIDDEN)
    return np.concatenate([w1, np.zeros(HIDDEN), w2, [0.0]])  # biases start at 0


def loss_grad(p: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[float, int, np.ndarray]:
    """Summed (not averaged) loss, correct count and gradient: shards add up."""
    w1, b1, w2, b2 = np.split(p, [2 * HIDDEN, 3 * HIDDEN, 4 * HIDDEN])  # views of p
    h = np.tanh(x @ w1.reshape(2, HIDDEN) + b1)
    z = h @ w2 + b2[0]
    dz = 1.0 / (1.0 + np.exp(-z)) - y  # d(logistic loss)/dz
    dh = np.outer(dz, w2) * (1.0 - h * h)
    g = np.concatenate([(x.T @ dh).ravel(), dh.sum(axis=0), h.T @ dz, [dz.sum()]])  # laid out as p
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
    x, y = (a[comm.rank :: comm.size] for a in make_data(args.samples))  # this rank's shard
    rng = np.random.default_rng(SEED + comm.rank)  # its own mini-batch draws
    p = init_params()  # same seed everywhere: every rank starts from the same weights
    for _ in range(args.steps):
        i = rng.integers(0, len(y), -(-args.batch // comm.size))  # its share, rounded up
        _, _, g = loss_grad(p, x[i], y[i])
        total = await comm.allreduce(np.append(g, len(i)))  # gradient sums, then batch size
        p -= args.lr * total[:-1] / total[-1]
    loss, correct, _ = loss_grad(p, x, y)
    loss, correct, n = await comm.allreduce(np.array([loss, correct, len(y)]))
    hashes = await comm.allgather(hashlib.sha256(p.tobytes()).hexdigest())
    if comm.rank == 0:
        same = len(set(hashes)) == 1
        print(f"{args.samples} samples, {len(y)} on rank 0 of {comm.size}; {args.steps} steps")
        print(f"final training loss {loss / n:.4f}, accuracy {correct / n:.4f}")
        print(f"weights bit-identical on all {comm.size} ranks: {same} (sha256 {hashes[0][:12]})")
        if not same:
            raise SystemExit("allreduce_sgd: ranks hold different weights")


if __name__ == "__main__":
    zmqmesh.run(main)
