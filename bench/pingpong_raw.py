"""Ping-pong over raw pyzmq with zmqmesh's socket layout (each side binds a
ROUTER on ipc and sends through a DEALER to the other's ROUTER), arrays
sent with ``copy=False``. ``--mode sync`` uses blocking sockets,
``--mode asyncio`` zmq.asyncio. The parent starts two children and prints
rank 0's JSON line ``{"meta": {...}, "results": {size: [half-RTT seconds]}}``.
``--iters`` is one count for every size or one per size."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import zmq
import zmq.asyncio


def _sockets(ctx: zmq.Context, rank: int, d: str) -> tuple[zmq.Socket, zmq.Socket]:
    router = ctx.socket(zmq.ROUTER)
    router.bind(f"ipc://{d}/{rank}")
    dealer = ctx.socket(zmq.DEALER)
    dealer.connect(f"ipc://{d}/{1 - rank}")
    return router, dealer


def run_sync(rank: int, d: str, sizes: list[int], iters: list[int]) -> dict[int, list[float]]:
    ctx = zmq.Context()
    router, dealer = _sockets(ctx, rank, d)
    out = {}
    for size, n in zip(sizes, iters, strict=True):
        buf = np.zeros(size, dtype=np.uint8)
        times = []
        for _ in range(n + 3):
            t0 = time.perf_counter()
            if rank == 0:
                dealer.send(buf, copy=size < 65536)
                _, frame = router.recv_multipart(copy=False)
                np.frombuffer(frame.buffer, np.uint8)
            else:
                _, frame = router.recv_multipart(copy=False)
                got = np.frombuffer(frame.buffer, np.uint8)
                dealer.send(got, copy=size < 65536)
            times.append((time.perf_counter() - t0) / 2)
        out[size] = times[3:]
    return out


async def run_async(
    rank: int, d: str, sizes: list[int], iters: list[int]
) -> dict[int, list[float]]:
    ctx = zmq.asyncio.Context()
    router, dealer = _sockets(ctx, rank, d)
    out = {}
    for size, n in zip(sizes, iters, strict=True):
        buf = np.zeros(size, dtype=np.uint8)
        times = []
        for _ in range(n + 3):
            t0 = time.perf_counter()
            if rank == 0:
                await dealer.send(buf, copy=size < 65536)
                _, frame = await router.recv_multipart(copy=False)
                np.frombuffer(frame.buffer, np.uint8)
            else:
                _, frame = await router.recv_multipart(copy=False)
                got = np.frombuffer(frame.buffer, np.uint8)
                await dealer.send(got, copy=size < 65536)
            times.append((time.perf_counter() - t0) / 2)
        out[size] = times[3:]
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=["sync", "asyncio"], required=True)
    p.add_argument("--sizes", required=True)
    p.add_argument("--iters", required=True, help="one count, or one per size")
    p.add_argument("--rank", type=int)
    p.add_argument("--dir")
    a = p.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    iters = [int(n) for n in a.iters.split(",")]
    if len(iters) == 1:
        iters *= len(sizes)
    if a.rank is None:
        with tempfile.TemporaryDirectory(prefix="zmqmesh-bench-") as d:
            base = [
                sys.executable,
                __file__,
                "--mode",
                a.mode,
                "--sizes",
                a.sizes,
                "--iters",
                a.iters,
                "--dir",
                d,
            ]
            peer = subprocess.Popen([*base, "--rank", "1"])
            zero = subprocess.run(
                [*base, "--rank", "0"], capture_output=True, text=True, check=True
            )
            peer.wait(timeout=60)
            sys.stdout.write(zero.stdout)
        return
    if a.mode == "sync":
        out = run_sync(a.rank, a.dir, sizes, iters)
    else:
        try:
            import uvloop

            out = uvloop.run(run_async(a.rank, a.dir, sizes, iters))
        except ImportError:
            out = asyncio.run(run_async(a.rank, a.dir, sizes, iters))
    if a.rank == 0:
        meta = {"pyzmq": zmq.pyzmq_version(), "libzmq": zmq.zmq_version(), "mode": a.mode}
        print(json.dumps({"meta": meta, "results": out}), flush=True)
    os._exit(0)  # skip context teardown: the peer may already be gone


if __name__ == "__main__":
    main()
