"""Collectives over torch.distributed's gloo backend: ``dist.all_reduce(t)``
and ``dist.broadcast(t, 0)`` on CPU tensors made with ``torch.from_numpy``.

``python coll_gloo.py --nprocs N [options]`` starts N ranks of itself on
this host (rendezvous ``tcp://127.0.0.1:PORT``, gloo on the loopback
interface unless ``GLOO_SOCKET_IFNAME`` says otherwise) and waits for them;
rank 0 prints the JSON line. Options and output: see ``coll_common.py``.

``all_reduce`` works in place, so each iteration first restores the input
(outside the timed region). Each rank keeps torch to one intra-op thread:
the collective is gloo's, and idle OpenMP workers would only spin on the
cores the other ranks need.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time

import numpy as np
from coll_common import check, data, emit, iterations, parse_args, per_call, slowest, warmups


def launch(argv: list[str], nprocs: int) -> int:
    """Start ``nprocs`` ranks of this script; the first failure stops the rest."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ)
    env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    cmd = [sys.executable, os.path.abspath(__file__), *argv]
    procs = [
        subprocess.Popen(
            [*cmd, "--nprocs", "0", "--rank", str(r), "--world", str(nprocs), "--port", str(port)],
            env=env,
        )
        for r in range(nprocs)
    ]
    rc = 0
    try:
        while procs:
            for p in list(procs):
                code = p.poll()
                if code is not None:
                    procs.remove(p)
                    if code != 0 and rc == 0:
                        rc = code
                        for q in procs:
                            q.terminate()
            time.sleep(0.02)
    finally:
        for p in procs:
            p.kill()
    return rc


def rank_main(a: argparse.Namespace) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    rank, size = a.rank, a.world
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{a.port}", rank=rank, world_size=size
    )
    out: dict[str, dict[int, list[float]]] = {op: {} for op in a.ops}
    for op in a.ops:
        for nbytes in a.sizes:
            x = data(nbytes, rank)
            src = torch.from_numpy(x)
            if op == "allreduce" or rank != 0:
                t = torch.from_numpy(np.zeros_like(x) if op == "bcast" else x.copy())
            else:
                t = src  # the root's broadcast leaves its tensor alone

            def call(t: torch.Tensor = t, op: str = op) -> None:
                if op == "allreduce":
                    dist.all_reduce(t, op=dist.ReduceOp.SUM)
                else:
                    dist.broadcast(t, 0)

            dist.barrier()
            warm = []
            for _ in range(warmups(nbytes)):
                if op == "allreduce":
                    t.copy_(src)
                t0 = time.perf_counter()
                call()
                warm.append(time.perf_counter() - t0)
            check(op, t.numpy(), nbytes, size, rank, "gloo")
            w = torch.tensor([per_call(warm)], dtype=torch.float64)
            dist.all_reduce(w, op=dist.ReduceOp.MAX)
            n = iterations(float(w[0]), a)
            times = torch.empty(n, dtype=torch.float64)
            for i in range(n):
                if op == "allreduce":
                    t.copy_(src)
                dist.barrier()
                t0 = time.perf_counter()
                call()
                times[i] = time.perf_counter() - t0
            dist.all_reduce(times, op=dist.ReduceOp.MAX)  # slowest rank per iteration
            if rank == 0:
                out[op][nbytes] = slowest(times.numpy()[None, :])
            del x, src, t, call
    if rank == 0:
        emit({"torch": torch.__version__, "ranks": size, "backend": "gloo"}, {"gloo": out})
    dist.destroy_process_group()


def main() -> int:
    argv = sys.argv[1:]
    a = parse_args(argv, nprocs=2, rank=-1, world=0, port=0)
    if a.nprocs > 0:
        # drop our own --nprocs; the ranks get --nprocs 0
        rest, skip = [], False
        for w in argv:
            if skip:
                skip = False
            elif w == "--nprocs":
                skip = True
            elif not w.startswith("--nprocs="):
                rest.append(w)
        return launch(rest, a.nprocs)
    rank_main(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
