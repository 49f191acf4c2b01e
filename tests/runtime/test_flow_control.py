"""A fast sender cannot grow a slow receiver's memory without bound."""

from __future__ import annotations

import re

import pytest
from conftest import launch

FLOOD = """
import asyncio, numpy as np, zmqmesh

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) // 1024  # MiB

async def main(comm):
    n, size = 10_000, 1 << 20
    if comm.rank == 0:
        msg = np.zeros(size, np.uint8)
        for i in range(n):
            msg[0] = i % 251
            await comm.send(msg, 1, tag=1)
        print("sent", n, flush=True)
    else:
        base = status("VmRSS")
        await asyncio.sleep(3)  # let the sender run ahead
        for i in range(n):
            got = await comm.recv(0, tag=1)
            assert got.size == size and got[0] == i % 251, i
            del got
        print("received", n, "rss growth", status("VmHWM") - base, "MiB", flush=True)
zmqmesh.run(main)
"""


@pytest.mark.timeout(150)
def test_slow_receiver_memory_stays_bounded(tmp_path) -> None:
    prog = tmp_path / "flood.py"
    prog.write_text(FLOOD)
    limit_mib = 32
    res = launch(
        2, prog, timeout=140, launcher_args=("-x", f"ZMQMESH_UNEXPECTED_LIMIT={limit_mib << 20}")
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "[0] sent 10000" in res.stdout
    growth = int(re.search(r"rss growth (-?\d+) MiB", res.stdout).group(1))
    # documented bound: the limit, plus ZeroMQ's queues (two high-water marks
    # of 128 messages of 1 MiB), plus slack for the interpreter
    assert growth < limit_mib + 2 * 128 + 64, res.stdout


def test_messages_for_unknown_contexts_cannot_stall_a_rank() -> None:
    """A flood for a context no communicator has is bounded and dropped past
    its quota; the rank keeps reading everything else."""
    import numpy as np

    import zmqmesh
    from zmqmesh.runtime.engine import ORPHAN_LIMIT
    from zmqmesh.testing import run_world
    from zmqmesh.wire import Envelope, Kind, encode

    async def body(comm: zmqmesh.Comm) -> str:
        engine = comm._engine
        engine.unexpected_limit = 1 << 20  # small, so a stall would show
        if comm.rank == 0:
            junk = np.zeros(64 * 1024, np.uint8)
            for i in range(2 * ORPHAN_LIMIT // junk.nbytes):
                engine.send(1, encode(Envelope(Kind.P2P, 0xDEAD0000, 0, i), junk))
            await comm.send("after the flood", 1, tag=5)
            return "sent"
        got = await comm.recv(0, tag=5)
        assert engine.orphan_bytes <= ORPHAN_LIMIT + 2 * 64 * 1024
        assert engine.unexpected_bytes < engine.unexpected_limit
        return got

    assert run_world(2, body, timeout=60) == ["sent", "after the flood"]
