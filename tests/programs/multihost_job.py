"""A job for the multi-host tests: collectives across hosts, an intruder
without the job's key, and a report of where each rank ran."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import numpy as np

import zmqmesh


async def intrude(comm: zmqmesh.Comm) -> list[object]:
    """Connect to every peer's tcp endpoint with a key pair of our own and
    send junk: CURVE must refuse it without disturbing the job."""
    import zmq

    transport = comm._engine.transport  # test-only peek at the peers' endpoints
    assert transport is not None
    ctx = zmq.Context.instance()
    public, secret = zmq.curve_keypair()
    keyfile = os.environ["ZMQMESH_KEYFILE"]  # the job's public key is no secret
    job_public = json.loads(Path(keyfile).read_text())["public"].encode()  # noqa: ASYNC240
    socks = []
    for endpoint in transport._endpoints:
        if endpoint and endpoint.startswith("tcp://"):
            s = ctx.socket(zmq.DEALER)
            s.linger = 0
            s.curve_publickey, s.curve_secretkey = public, secret
            s.curve_serverkey = job_public  # right server, but a key pair not the job's
            s.connect(endpoint)
            s.send(b"junk", zmq.NOBLOCK)
            socks.append(s)
            plain = ctx.socket(zmq.DEALER)  # and one with no security at all
            plain.linger = 0
            plain.connect(endpoint)
            plain.send(b"junk", zmq.NOBLOCK)
            socks.append(plain)
    return socks  # kept open while the job runs, so their handshakes happen


async def main(comm: zmqmesh.Comm) -> None:
    r, n = comm.rank, comm.size
    where = os.environ.get("ZMQMESH_HOST", socket.gethostname())
    print(f"rank {r} on {where} pid {os.getpid()}", flush=True)
    intruders = await intrude(comm) if "--intrude" in sys.argv and r == 0 else []
    x = np.full(300_000, float(r))
    total = await comm.allreduce(x)
    assert float(total[0]) == n * (n - 1) / 2
    names = await comm.allgather(where)
    got = await comm.bcast({"hosts": names} if r == 0 else None)
    assert got["hosts"] == names
    parts = await comm.alltoall([(r, j) for j in range(n)])
    assert parts == [(q, r) for q in range(n)]
    if "--survive" in sys.argv:
        import asyncio

        print("ready", flush=True)
        try:
            while True:  # the test cuts a host's link meanwhile
                await comm.allreduce(np.ones(10))
                await asyncio.sleep(0.05)
        except zmqmesh.RankFailedError as exc:
            print(f"caught RankFailedError rank={exc.rank}: {exc}", flush=True)
        return
    if "--sleep" in sys.argv:
        print("ready", flush=True)
        import asyncio

        await asyncio.sleep(600)
    if intruders:
        import asyncio

        await asyncio.sleep(0.5)  # let the refused handshakes run their course
        for sock in intruders:
            sock.close()  # type: ignore[attr-defined]
    await comm.barrier()
    print(f"ok hosts={','.join(names)}", flush=True)


zmqmesh.run(main)
