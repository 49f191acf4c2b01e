"""One message just over 4 GiB between two ranks on one host
(tests/transport/test_big_message.py): it arrives whole, and the pair's
next message after it too. ``python big_message.py NBYTES``."""

import sys

import numpy as np

import zmqmesh


async def main(comm: zmqmesh.Comm) -> None:
    n = int(sys.argv[1]) // 8
    if comm.rank == 0:
        a = np.arange(n, dtype=np.uint64)
        await comm.send(a, 1, tag=1)
        del a
        await comm.send("after", 1, tag=2)
    else:
        got = await comm.recv(0, tag=1)
        step = max(1, n // 4099)
        assert got.dtype == np.uint64
        assert got.shape == (n,)
        assert bool((got[::step] == np.arange(0, n, step, dtype=np.uint64)).all())
        assert int(got[-1]) == n - 1
        print(f"received {got.nbytes} bytes", flush=True)
        del got
        assert await comm.recv(0, tag=2) == "after"
        print("and the next message", flush=True)


zmqmesh.run(main)
