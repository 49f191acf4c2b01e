"""Message-size limits between two ranks on one host, under a small
``ZMQMESH_MAX_FRAME`` (tests/transport/test_limits.py).

``sender``: rank 0's message over the limit raises ``ValueError`` at its
``send`` and nothing of it reaches rank 1; what fits still arrives, in order.
``violation``: rank 0 lifts its own limit (a test-only peek at its
transport) and sends rank 1 a message over rank 1's; rank 1 closes the link
and its receives from rank 0, pending and later, raise ``RankFailedError``.
"""

import sys

import numpy as np

import zmqmesh

MIB = 2**20


async def sender(comm: zmqmesh.Comm) -> None:
    if comm.rank == 0:
        try:
            await comm.send(np.ones(2 * MIB, np.uint8), 1, tag=1)
        except ValueError as exc:
            print(f"refused: {exc}", flush=True)
        await comm.send(np.full(MIB // 2, 7, np.uint8), 1, tag=2)
        await comm.send(b"x" * (MIB // 2), 1, tag=3)
    else:
        a = await comm.recv(0)  # the first message to come is tag 2's
        b = await comm.recv(0, tag=3)
        assert a.nbytes == MIB // 2 and bool((a == 7).all())
        assert b == b"x" * (MIB // 2)
        assert comm.iprobe(0, tag=1) is None
        print("received what fits", flush=True)
    await comm.barrier()


async def violation(comm: zmqmesh.Comm) -> None:
    if comm.rank == 0:
        await comm.barrier()
        transport = comm._engine.transport  # type: ignore[attr-defined]
        transport._max_frame = transport.local.max_message = 1 << 40
        await comm.send(b"y" * (2 * MIB), 1)  # in the header frame: on the link
        await comm.send(b"later", 1)
        return
    pending = comm.irecv(0)
    await comm.barrier()
    for when in ("pending", "later"):
        try:
            got = await (pending if when == "pending" else comm.recv(0))
        except zmqmesh.RankFailedError as exc:
            print(f"{when} receive failed: {type(exc).__name__}: {exc}", flush=True)
        else:
            print(f"{when} receive got {len(got)} bytes", flush=True)


MODES = {"sender": sender, "violation": violation}

if __name__ == "__main__":
    zmqmesh.run(MODES[sys.argv[1]])
