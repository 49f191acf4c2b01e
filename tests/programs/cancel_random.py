"""Random collective sequences, cancelled at random points on a random
rank: every rank must get the right result of each call or raise, never a
wrong result, never hang; once a call was cancelled, every later call on
that communicator raises on every rank.

``python cancel_random.py SEED ROUNDS``. Each round runs on a fresh dup of
the world (whose collectives stay intact); every rank draws the same
sequence from ``SEED`` and the round number. The victim rank wraps one call
in ``asyncio.wait_for`` with a short random timeout. Rank 0 gathers every
rank's outcomes, checks them and prints ``round N: ok`` or ``round N: BAD``;
at the end ``rounds: K cancelled: C``.
"""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

import zmqmesh

BOUND = 20.0  # seconds: a call that takes longer is reported as a hang

Call = Callable[[zmqmesh.Comm], Awaitable[Any]]


def draw(rng: random.Random, rank: int, size: int) -> tuple[str, Call, Any]:
    """One collective: (name, the call, the result this rank must get)."""
    nel = rng.choice([1, 16, 2**15, 2**17, 2**19])  # 8 B .. 4 MiB of float64
    root = rng.randrange(size)
    tri = size * (size + 1) / 2
    x = np.full(nel, rank + 1.0)
    kind = rng.choice(
        ["allreduce", "allreduce", "bcast", "reduce", "allgather", "barrier",
         "gather", "scatter", "alltoall", "scan", "exscan", "reduce_scatter"]
    )  # fmt: skip
    table: dict[str, tuple[Call, Any]] = {
        "allreduce": (lambda c: c.allreduce(x), np.full(nel, tri)),
        "bcast": (
            lambda c: c.bcast(np.full(nel, 7.0) if rank == root else None, root=root),
            np.full(nel, 7.0),
        ),
        "reduce": (lambda c: c.reduce(x, root=root), np.full(nel, tri) if rank == root else None),
        "allgather": (lambda c: c.allgather(rank), list(range(size))),
        "barrier": (lambda c: c.barrier(), None),
        "gather": (lambda c: c.gather(rank, root=root),
                   list(range(size)) if rank == root else None),
        "scatter": (
            lambda c: c.scatter([np.full(nel, float(r)) for r in range(size)], root=root),
            np.full(nel, float(rank)),
        ),
        "alltoall": (lambda c: c.alltoall([rank * 10 + j for j in range(size)]),
                     [j * 10 + rank for j in range(size)]),
        "scan": (lambda c: c.scan(x), np.full(nel, (rank + 1) * (rank + 2) / 2)),
        "exscan": (lambda c: c.exscan(x),
                   None if rank == 0 else np.full(nel, rank * (rank + 1) / 2)),
        "reduce_scatter": (lambda c: c.reduce_scatter([x] * size), np.full(nel, tri)),
    }  # fmt: skip
    call, want = table[kind]
    return f"{kind}[{nel}]", call, want


def same(got: Any, want: Any) -> bool:
    if isinstance(want, np.ndarray):
        return isinstance(got, np.ndarray) and got.shape == want.shape and bool(np.all(got == want))
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(map(same, got, want))
    return bool(got == want)


async def outcome(comm: zmqmesh.Comm, call: Call, want: Any, timeout: float | None) -> str:
    try:
        if timeout is None:
            got = await asyncio.wait_for(call(comm), BOUND)
        else:
            try:
                got = await asyncio.wait_for(call(comm), timeout)
            except asyncio.TimeoutError:
                return "cancelled"
    except zmqmesh.CollectiveMismatchError as exc:
        return "raised" if "was cancelled on rank" in str(exc) else f"other mismatch: {exc}"
    except asyncio.TimeoutError:
        return "hang"
    except Exception as exc:
        return f"other {type(exc).__name__}: {exc}"
    return "right" if same(got, want) else "WRONG"


def verdict(outs: list[list[str]], victim: int, at: int) -> str:
    """'' if the outcomes of every rank (outs[rank][call]) are allowed: on
    each rank, right results, then (once the notice is there) raises only;
    every call after the cancelled one raises; nothing raises if nothing was
    cancelled. A call in flight when the notice arrives raises too, even
    one before the cancelled call that would have completed."""
    cancelled = outs[victim][at] == "cancelled"
    for r, row in enumerate(outs):
        broken = False
        for i, o in enumerate(row):
            if o == "cancelled" and (r, i) == (victim, at):
                broken = True
                continue
            if o not in ("right", "raised"):
                return f"rank {r} call {i}: {o}"
            if not cancelled and o != "right":
                return f"rank {r} call {i}, nothing was cancelled: {o}"
            if (broken or i > at) and cancelled and o != "raised":
                return f"rank {r} call {i} after the cancellation: {o}"
            broken = broken or o == "raised"
    return ""


async def main(world: zmqmesh.Comm) -> None:
    seed, rounds = int(sys.argv[1]), int(sys.argv[2])
    n_cancelled = 0
    for k in range(rounds):
        rng = random.Random(seed * 100_003 + k)
        calls = [draw(rng, world.rank, world.size) for _ in range(rng.randint(1, 5))]
        victim, at = rng.randrange(world.size), rng.randrange(len(calls))
        delay = rng.choice([0.0002, 0.001, 0.003, 0.01, 0.03])
        comm = await world.dup()
        outs = []
        for i, (_, call, want) in enumerate(calls):
            mine = delay if (world.rank, i) == (victim, at) else None
            outs.append(await outcome(comm, call, want, mine))
        every = await world.gather(outs, root=0)
        if world.rank == 0:
            assert every is not None
            bad = verdict(every, victim, at)
            n_cancelled += every[victim][at] == "cancelled"
            names = " ".join(name for name, _, _ in calls)
            print(
                f"round {k}: {'BAD ' + bad if bad else 'ok'} ({names}; rank {victim} "
                f"call {at} after {delay}s: {every[victim][at]})",
                flush=True,
            )
        del comm
    if world.rank == 0:
        print(f"rounds: {rounds} cancelled: {n_cancelled}", flush=True)


if __name__ == "__main__":
    zmqmesh.run(main)
