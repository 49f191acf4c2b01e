"""Synchronous parameter-server training: rank 0 holds the weights, workers
compute gradients, all by point-to-point messages.

    zmqmesh launch -n 4 examples/parameter_server.py [--steps S] [--batch B] [--lr LR]

The network, data and options are those of ``allreduce_sgd.py``. Each round
the server sends the weights to every worker (``isend``), takes their
gradients as they arrive (``recv`` from ``ANY_SOURCE``, a ``Status`` saying
whose), sums them in rank order and steps. A last round asks the workers for
loss and accuracy on their shards, which rank 0 prints. Needs 2 ranks or more.
"""

import numpy as np
from allreduce_sgd import SEED, init_params, loss_grad, make_data, parse_args

import zmqmesh

WEIGHTS, REPLY = 1, 2  # tags: server -> worker, worker -> server


async def serve_round(comm: zmqmesh.Comm, kind: str, p: np.ndarray) -> np.ndarray:
    """Send ``(kind, p)`` to every worker; the sum of their replies."""
    sends = [comm.isend((kind, p), w, tag=WEIGHTS) for w in range(1, comm.size)]
    replies, status = {}, zmqmesh.Status()
    for _ in range(1, comm.size):
        # Whoever finishes first is served first; the status names the sender.
        reply = await comm.recv(zmqmesh.ANY_SOURCE, tag=REPLY, status=status)
        replies[status.source] = reply
    for req in sends:
        await req  # p must not change until every send is done with it
    # Summing in rank order, not arrival order, gives the same bits every run.
    return np.sum([replies[w] for w in sorted(replies)], axis=0)


async def work(comm: zmqmesh.Comm, batch: int, samples: int) -> None:
    workers, me = comm.size - 1, comm.rank - 1
    x, y = make_data(samples)
    x, y = x[me::workers], y[me::workers]  # this worker's shard
    rng = np.random.default_rng(SEED + comm.rank)
    while True:
        kind, p = await comm.recv(0, tag=WEIGHTS)
        if kind == "eval":
            loss, correct, _ = loss_grad(p, x, y)
            return await comm.send(np.array([loss, correct, len(y)]), 0, tag=REPLY)
        i = rng.integers(0, len(y), batch)
        _, _, g = loss_grad(p, x[i], y[i])
        await comm.send(np.append(g, len(i)), 0, tag=REPLY)  # gradient sum, batch size


async def main(comm: zmqmesh.Comm) -> None:
    args = parse_args()
    if comm.size < 2:
        raise SystemExit(
            "parameter_server needs at least 2 ranks (a server and a worker): "
            "zmqmesh launch -n 4 examples/parameter_server.py"
        )
    if comm.rank != 0:
        return await work(comm, -(-args.batch // (comm.size - 1)), args.samples)
    p = init_params()
    for _ in range(args.steps):
        total = await serve_round(comm, "train", p)
        p -= args.lr * total[:-1] / total[-1]
    loss, correct, n = await serve_round(comm, "eval", p)
    print(f"server + {comm.size - 1} workers, {args.samples} samples, {args.steps} rounds")
    print(f"final training loss {loss / n:.4f}, accuracy {correct / n:.4f}")


if __name__ == "__main__":
    zmqmesh.run(main)
