"""A rank that never receives the abort notice of a collective mismatch
still raises: its peers answer its later checks with the abort again.

Run on 3 ranks: ranks 0 and 2 broadcast from root 1, rank 1 from root 0.
Rank 2 drops the first two abort notices that reach it (as many as the
other ranks send unasked), as it would if they arrived before it had
created the communicator."""

from __future__ import annotations

from typing import Any

import zmqmesh


async def main(comm: zmqmesh.Comm) -> None:
    c = await comm.dup()
    if comm.rank == 2:
        state = c._coll
        original = state.control
        dropped: list[Any] = []

        def lossy(source: int, payload: Any) -> None:
            if len(dropped) < 2 and isinstance(payload, tuple) and payload[:1] == ("abort",):
                dropped.append(payload)
                return
            original(source, payload)

        state.control = lossy  # type: ignore[method-assign]
    try:
        await c.bcast("x", root=0 if comm.rank == 1 else 1)
    except zmqmesh.CollectiveMismatchError:
        print("raised", flush=True)
    else:
        raise AssertionError("no CollectiveMismatchError")
    await comm.barrier()
    print("done", flush=True)


if __name__ == "__main__":
    zmqmesh.run(main)
