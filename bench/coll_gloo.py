"""Collectives over torch.distributed's gloo backend: ``dist.all_reduce(t)``,
``dist.broadcast(t, 0)``, ``dist.barrier()``, ``dist.all_gather(outs, t)``
and ``dist.all_to_all(outs, [t] * size)`` on CPU tensors made with
``torch.from_numpy`` (``outs``: a preallocated tensor per rank). An op this
torch's gloo refuses (raises on its first call) is skipped and listed in
``meta["unsupported"]``.

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
from coll_common import (
    check,
    data,
    emit,
    iterations,
    over_limit,
    parse_args,
    per_call,
    sizes_of,
    slowest,
    warmups,
)


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
    unsupported: dict[str, str] = {}
    over: dict[str, dict[int, float]] = {}
    for op in a.ops:
        for nbytes in sizes_of(op, a.sizes):
            x = data(nbytes, rank)
            src = torch.from_numpy(x)
            outs: list[torch.Tensor] = []
            if op in ("allgather", "alltoall"):
                t = src
                outs = [torch.empty_like(src) for _ in range(size)]
            elif op == "allreduce" or rank != 0:
                t = torch.from_numpy(np.zeros_like(x) if op == "bcast" else x.copy())
            else:
                t = src  # the root's broadcast leaves its tensor alone

            def call(
                t: torch.Tensor = t, op: str = op, outs: list[torch.Tensor] = outs
            ) -> list[torch.Tensor] | torch.Tensor:
                if op == "allreduce":
                    dist.all_reduce(t, op=dist.ReduceOp.SUM)
                elif op == "bcast":
                    dist.broadcast(t, 0)
                elif op == "barrier":
                    dist.barrier()
                elif op == "allgather":
                    dist.all_gather(outs, t)
                    return outs
                else:
                    dist.all_to_all(outs, [t] * len(outs))
                    return outs
                return t

            dist.barrier()
            if op == "allreduce":
                t.copy_(src)
            t0 = time.perf_counter()
            try:
                got = call()
            except (RuntimeError, NotImplementedError, ValueError) as e:
                if nbytes != sizes_of(op, a.sizes)[0]:  # it worked before: a real failure
                    raise
                # refused on the first call, on every rank alike
                unsupported[op] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
                out.pop(op, None)
                break
            warm = [time.perf_counter() - t0]
            w = torch.tensor([warm[0]], dtype=torch.float64)
            dist.all_reduce(w, op=dist.ReduceOp.MAX)
            if over_limit(float(w[0]), nbytes, a):
                check(op, got if isinstance(got, list) else got.numpy(), nbytes, size, rank, "gloo")
                over.setdefault(op, {})[nbytes] = float(w[0])
                break  # larger sizes take longer still
            for _ in range(warmups(nbytes) - 1):
                if op == "allreduce":
                    t.copy_(src)
                t0 = time.perf_counter()
                got = call()
                warm.append(time.perf_counter() - t0)
            check(op, got if isinstance(got, list) else got.numpy(), nbytes, size, rank, "gloo")
            del got
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
            del x, src, t, outs, call
    if rank == 0:
        meta = {"torch": torch.__version__, "ranks": size, "backend": "gloo"}
        if unsupported:
            meta["unsupported"] = unsupported
        if over:
            meta["over_limit"] = {"gloo": over}
        emit(meta, {"gloo": out})
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
