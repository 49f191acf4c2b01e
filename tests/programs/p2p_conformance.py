"""Point-to-point conformance, run by `zmqmesh launch -n N` (N >= 2).

Every rank prints `ok <check>` for each check it passed; an assertion
failure ends the rank non-zero.
"""

from __future__ import annotations

import asyncio
import contextlib

import numpy as np
from corpus import corpus, same

import zmqmesh
from zmqmesh import ANY_SOURCE, ANY_TAG, Status


def ok(name: str) -> None:
    print(f"ok {name}", flush=True)


async def roundtrip(comm: zmqmesh.Comm) -> None:
    items = corpus()
    if comm.rank == 0:
        for dest in range(1, comm.size):
            for i, obj in enumerate(items):
                await comm.send(obj, dest, tag=i)
            for i, obj in enumerate(items):
                back = await comm.recv(dest, tag=i)
                assert same(obj, back), (i, obj, back)
    else:
        for i, obj in enumerate(items):
            got = await comm.recv(0, tag=i)
            assert same(obj, got), (i, obj, got)
            await comm.send(got, 0, tag=i)
    ok("roundtrip")


async def ordering(comm: zmqmesh.Comm) -> None:
    n = 200
    if comm.rank == 0:
        last = dict.fromkeys(range(1, comm.size), -1)
        st = Status()
        for _ in range(n * (comm.size - 1)):
            i = await comm.recv(ANY_SOURCE, tag=7, status=st)
            assert st.tag == 7 and 1 <= st.source < comm.size and st.nbytes > 0
            assert i == last[st.source] + 1, (st.source, i, last[st.source])
            last[st.source] = i
        assert all(v == n - 1 for v in last.values())
    else:
        for i in range(n):
            await comm.send(i, 0, tag=7)
    ok("ordering")


async def tag_selection(comm: zmqmesh.Comm) -> None:
    if comm.rank == 1:
        await comm.send("first", 0, tag=1)
        await comm.send("second", 0, tag=2)
    elif comm.rank == 0:
        await comm.probe(1, tag=1)
        assert await comm.recv(1, tag=2) == "second"
        assert await comm.recv(1, tag=1) == "first"
    ok("tag_selection")


async def probes(comm: zmqmesh.Comm) -> None:
    if comm.rank == 1:
        await comm.recv(0, tag=30)  # go
        await comm.send({"k": np.arange(10)}, 0, tag=31)
    elif comm.rank == 0:
        assert comm.iprobe(1, tag=31) is None
        await comm.send(None, 1, tag=30)
        st = await comm.probe(ANY_SOURCE, tag=31)
        assert (st.source, st.tag) == (1, 31) and st.nbytes >= 80
        again = comm.iprobe(ANY_SOURCE, ANY_TAG)
        assert again == st
        got = await comm.recv(st.source, st.tag)
        assert same(got["k"], np.arange(10))
        assert comm.iprobe(1, tag=31) is None
    ok("probes")


async def nonblocking(comm: zmqmesh.Comm) -> None:
    right, left = (comm.rank + 1) % comm.size, (comm.rank - 1) % comm.size
    rreq = comm.irecv(left, tag=40)
    sreq = comm.isend(np.full(100_000, comm.rank), right, tag=40)
    got, _ = await asyncio.gather(rreq.wait(), sreq.wait())
    assert same(got, np.full(100_000, left))
    assert rreq.status is not None and rreq.status.source == left
    assert rreq.test() == (True, got) or rreq.test()[0]
    ok("nonblocking")


async def sendrecv(comm: zmqmesh.Comm) -> None:
    right, left = (comm.rank + 1) % comm.size, (comm.rank - 1) % comm.size
    st = Status()
    got = await comm.sendrecv(("hi", comm.rank), right, 50, left, 50, status=st)
    assert got == ("hi", left) and st.source == left
    ok("sendrecv")


async def big_reuse(comm: zmqmesh.Comm) -> None:
    n = 64 * 2**20 // 8
    if comm.rank == 0:
        a = np.full(n, 1.0)
        await comm.send(a, 1, tag=60)
        a[:] = 2.0  # allowed: send has returned
        req = comm.isend(a, 1, tag=61)
        await req
        a[:] = 3.0
    elif comm.rank == 1:
        first = await comm.recv(0, tag=60)
        second = await comm.recv(0, tag=61, copy=True)
        assert first.shape == (n,) and first.dtype == np.float64
        assert bool((first == 1.0).all()), "sender's reuse changed the first message"
        assert bool((second == 2.0).all()), "sender's reuse changed the second message"
        assert second.flags.writeable and second.flags.owndata
        second[0] = 9.0
    ok("big_reuse")


async def writable(comm: zmqmesh.Comm) -> None:
    if comm.rank == 0:
        await comm.send(np.arange(5), 1, tag=70)
        await comm.send(np.arange(5), 1, tag=71)
    elif comm.rank == 1:
        ro = await comm.recv(0, tag=70)
        rw = await comm.recv(0, tag=71, copy=True)
        assert rw.flags.writeable
        rw += 1
        assert same(ro, np.arange(5)) and same(rw, np.arange(1, 6))
    ok("writable")


async def bad_arguments(comm: zmqmesh.Comm) -> None:
    class Opaque:
        pass

    checks = [
        (lambda: comm.send(Opaque(), 0), TypeError, "Opaque"),
        (lambda: comm.send(1, comm.size), ValueError, "dest"),
        (lambda: comm.send(1, -1), ValueError, "dest"),
        (lambda: comm.send(1, "0"), TypeError, "dest"),
        (lambda: comm.send(1, 0, tag=-5), ValueError, "tag"),
        (lambda: comm.send(1, 0, tag=1.5), TypeError, "tag"),
        (lambda: comm.recv(comm.size), ValueError, "source"),
        (lambda: comm.recv(0, tag=-7), ValueError, "tag"),
        (lambda: comm.send(1, 0, tag=2**63), ValueError, "tag"),
        (lambda: comm.recv(0, tag=2**63), ValueError, "tag"),
        (lambda: comm.recv(-5), ValueError, "source"),
        (lambda: comm.send(1, True), TypeError, "dest"),
    ]
    for call, exc, word in checks:
        try:
            await call()
        except exc as e:
            assert word in str(e), (word, str(e))
        else:
            raise AssertionError(f"no {exc.__name__} for {word}")
    for call, exc in (
        (lambda: comm.isend(Opaque(), 0), TypeError),
        (lambda: comm.irecv(-3), ValueError),
    ):
        try:
            call()
        except exc:
            pass
        else:
            raise AssertionError("isend/irecv did not raise at the call site")
    ok("bad_arguments")


async def self_send(comm: zmqmesh.Comm) -> None:
    a = np.arange(200_000)
    await comm.send(a, comm.rank, tag=80)
    a[:] = -1
    got = await comm.recv(comm.rank, tag=80)
    assert same(got, np.arange(200_000))
    ok("self_send")


async def cancelled_recv(comm: zmqmesh.Comm) -> None:
    if comm.rank == 0:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(comm.recv(1, tag=90), 0.05)
        await comm.send("go", 1, tag=91)
        assert await comm.recv(1, tag=90) == "late"
    elif comm.rank == 1:
        await comm.recv(0, tag=91)
        await comm.send("late", 0, tag=90)
    ok("cancelled_recv")


async def collectives(comm: zmqmesh.Comm) -> None:
    await comm.barrier()
    cfg = await comm.bcast({"lr": 0.1} if comm.rank == 0 else None, root=0)
    assert cfg == {"lr": 0.1}
    last = comm.size - 1
    arr = await comm.bcast(np.arange(4) if comm.rank == last else None, root=last)
    assert same(arr, np.arange(4))
    ok("collectives")


async def main(comm: zmqmesh.Comm) -> None:
    assert comm.size >= 2
    for check in (
        roundtrip,
        ordering,
        tag_selection,
        probes,
        nonblocking,
        sendrecv,
        big_reuse,
        writable,
        bad_arguments,
        self_send,
        cancelled_recv,
        collectives,
    ):
        await check(comm)
        await comm.barrier()
    print("done", flush=True)


if __name__ == "__main__":
    zmqmesh.run(main)
