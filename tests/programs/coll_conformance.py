"""Collectives across real processes, run by `zmqmesh launch -n N`.

Every rank prints `ok <check>` per passed check; a failed check ends the
rank non-zero. Covers the paths the in-process tests cannot: ipc sockets,
zero-copy frames above the copy threshold, forced algorithms from the
environment (ZMQMESH_ALLREDUCE / ZMQMESH_BCAST / ZMQMESH_ALLTOALL set by
the test).
"""

from __future__ import annotations

import hashlib

import numpy as np

import zmqmesh
from zmqmesh import MAX, MAXLOC, MIN, PROD, SUM


def ok(name: str) -> None:
    print(f"ok {name}", flush=True)


def digest(a: np.ndarray) -> str:
    return hashlib.sha256(a.tobytes()).hexdigest()


async def reductions(comm: zmqmesh.Comm) -> None:
    n, r = comm.size, comm.rank
    for dt in ("int8", "uint16", "int64", "float32", "float64", "complex128"):
        x = (np.arange(24) % 5 + r).astype(dt).reshape(4, 6)
        keep = x.copy()
        total = await comm.allreduce(x, SUM)
        want = sum(
            ((np.arange(24) % 5 + q).astype(dt).reshape(4, 6) for q in range(n)),
            start=np.zeros((4, 6), dt),
        )
        assert total.dtype == x.dtype and np.allclose(total, want)
        assert np.array_equal(x, keep)
        assert await comm.allreduce(r + 1, PROD) == np.prod(range(1, n + 1))
        assert await comm.allreduce(float(r), MAX) == n - 1
        assert await comm.reduce(r, MIN, root=n - 1) == (0 if r == n - 1 else None)
    assert await comm.allreduce((r % 2, r), MAXLOC) == ((1, 1) if n > 1 else (0, 0))
    ok("reductions")


async def big_arrays(comm: zmqmesh.Comm) -> None:
    n, r = comm.size, comm.rank
    x = np.random.default_rng(r).standard_normal(3_000_000)  # 24 MB: zero-copy frames
    total = await comm.allreduce(x, SUM)
    digests = await comm.allgather(digest(total))
    assert len(set(digests)) == 1, "allreduce results differ between ranks"
    want = sum(np.random.default_rng(q).standard_normal(3_000_000) for q in range(n))
    assert np.allclose(total, want)
    y = await comm.bcast(np.arange(2_000_000.0) if r == n - 1 else None, root=n - 1)
    assert np.array_equal(y, np.arange(2_000_000.0))
    for i in range(4):  # results are lent to peers: written at once, no peer may see it
        mine = await comm.allreduce(np.full(1_000_000, float(r + i)), SUM)
        good = bool((mine == n * i + n * (n - 1) / 2).all())
        mine[:] = -1.0
        assert all(await comm.allgather(good)), f"a lent result changed under a peer ({i})"
    parts = await comm.alltoall([np.full(100_000, r * 100 + j) for j in range(n)])
    assert all(np.array_equal(p, np.full(100_000, q * 100 + r)) for q, p in enumerate(parts))
    ok("big_arrays")


async def objects(comm: zmqmesh.Comm) -> None:
    n, r = comm.size, comm.rank
    cfg = await comm.bcast({"lr": 0.1, "layers": (3, 4)} if r == 0 else None)
    assert cfg == {"lr": 0.1, "layers": (3, 4)}
    item = await comm.scatter([(j, str(j)) for j in range(n)] if r == 0 else None)
    assert item == (r, str(r))
    assert await comm.gather(r * r, root=0) == ([q * q for q in range(n)] if r == 0 else None)
    assert await comm.allgather({"r": r}) == [{"r": q} for q in range(n)]
    assert await comm.reduce_scatter([r * j for j in range(n)], SUM) == r * sum(range(n))
    assert await comm.scan(r) == r * (r + 1) // 2
    assert await comm.exscan(r) == (None if r == 0 else r * (r - 1) // 2)
    await comm.barrier()
    ok("objects")


async def communicators(comm: zmqmesh.Comm) -> None:
    n, r = comm.size, comm.rank
    sub = await comm.split(r % 2)
    assert sub is not None and sub.size == len(range(r % 2, n, 2))
    assert await sub.allreduce(r) == sum(range(r % 2, n, 2))
    dup = await comm.dup()
    await dup.send("dup", (r + 1) % n, tag=1)
    await comm.send("world", (r + 1) % n, tag=1)
    assert await comm.recv(tag=1) == "world"
    assert await dup.recv(tag=1) == "dup"
    ring = await comm.create_topology("ring")
    token = r
    if n > 1:
        token = await ring.sendrecv(r, ring.right, source=ring.left)
        assert token == ring.left
    mesh = await comm.create_topology("mesh", dims=zmqmesh.dims_create(n, 2), periodic=(True, True))
    assert await mesh.neighbor_allgather(r) == list(mesh.neighbors)
    assert (await mesh.allreduce(np.ones(50_000), SUM))[0] == n
    assert mesh.connections == len(set(mesh.neighbors) - {r})
    tree = await comm.create_topology("tree", arity=2, root=0)
    assert await tree.bcast("down" if r == 0 else None) == "down"
    assert tree.connections <= 3
    ok("communicators")


async def mismatch(comm: zmqmesh.Comm) -> None:
    if comm.size < 2:
        ok("mismatch")
        return
    c = await comm.dup()
    try:
        if comm.rank == 0:
            await c.bcast(1, root=0)
        else:
            await c.allreduce(np.zeros(3), SUM)
        await c.barrier()
    except zmqmesh.CollectiveMismatchError:
        ok("mismatch")
    else:
        raise AssertionError("no CollectiveMismatchError")


async def main(comm: zmqmesh.Comm) -> None:
    for check in (reductions, big_arrays, objects, communicators, mismatch):
        await check(comm)
        await comm.barrier()
    print("done", flush=True)


if __name__ == "__main__":
    zmqmesh.run(main)
