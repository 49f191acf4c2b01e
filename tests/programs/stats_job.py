"""comm.stats(): the counters of --report, in-process."""

from __future__ import annotations

import numpy as np

import zmqmesh


async def main(comm: zmqmesh.Comm) -> None:
    peer = 1 - comm.rank
    for _ in range(3):
        await comm.sendrecv(np.zeros(1000), peer, source=peer)
    await comm.allreduce(np.ones(4))
    stats = comm.stats()
    sent, nbytes, got, gotbytes = stats["peers"][peer]
    assert sent >= 4 and got >= 4, stats
    assert nbytes >= 3 * 8000 and gotbytes >= 3 * 8000, stats
    assert stats["calls"]["sendrecv"][0] == 3, stats
    assert stats["calls"]["allreduce"][0] == 1, stats
    assert 0 <= stats["waiting"] <= stats["wall"], stats
    assert stats["peak_rss"] > 10 * 2**20, stats
    print("ok stats", flush=True)


if __name__ == "__main__":
    zmqmesh.run(main)
