"""A tour of the collectives, each result checked on every rank.

    zmqmesh launch -n 4 examples/collectives_tour.py

``bcast`` of a config dict and a weights array, ``scatter``/``gather`` of
array chunks, ``reduce``/``allreduce`` with SUM, MAX and MAXLOC,
``allgather``, ``alltoall`` and ``scan``. Every rank compares what it got
with what it must get; rank 0 gathers the verdicts and prints one line per
collective: the value (or each rank's value, when they differ) and "ok", or
"WRONG on ranks [...]" and a non-zero exit.
"""

import numpy as np

import zmqmesh

CONFIG = {"lr": 0.05, "epochs": 3, "name": "tour"}


async def main(comm: zmqmesh.Comm) -> None:
    rank, size = comm.rank, comm.size
    root = rank == 0
    seen: dict[str, tuple[str, bool]] = {}  # collective -> (what this rank got, as expected?)

    def check(name: str, got: object, want: object) -> None:
        same = np.array_equal(got, want) if isinstance(want, np.ndarray) else got == want
        seen[name] = (str(got).replace("\n", ""), bool(same))

    weights = np.linspace(0.0, 1.0, 5)
    cfg, w = await comm.bcast((CONFIG, weights) if root else None, root=0)
    check("bcast config", cfg, CONFIG)
    check("bcast weights", w, weights)

    table = np.arange(3 * size).reshape(size, 3)
    chunk = await comm.scatter(list(table) if root else None, root=0)
    check("scatter", chunk, table[rank])
    back = await comm.gather(chunk * 10, root=0)
    check("gather", None if back is None else np.stack(back), table * 10 if root else None)

    total = await comm.reduce(rank + 1, op=zmqmesh.SUM, root=0)
    check("reduce SUM of rank+1", total, size * (size + 1) // 2 if root else None)
    top = await comm.allreduce(np.array([rank, -rank]), op=zmqmesh.MAX)
    check("allreduce MAX of [rank, -rank]", top, np.array([size - 1, 0]))
    score = 10 * (rank % 2)  # ranks 1, 3, ... tie: MAXLOC picks the lowest
    best = await comm.allreduce((score, rank), op=zmqmesh.MAXLOC)
    check("allreduce MAXLOC of 10*(rank%2)", best, (10, 1) if size > 1 else (0, 0))

    check("allgather rank**2", await comm.allgather(rank**2), [r**2 for r in range(size)])
    got = await comm.alltoall([100 * rank + j for j in range(size)])
    check("alltoall 100*src+dst", got, [100 * i + rank for i in range(size)])
    check("scan SUM of rank+1", await comm.scan(rank + 1), (rank + 1) * (rank + 2) // 2)

    verdicts = await comm.gather(seen, root=0)
    if root:
        bad_any = False
        for name in seen:
            values = [v[name][0] for v in verdicts]
            bad = [r for r, v in enumerate(verdicts) if not v[name][1]]
            if len(set(values)) == 1:
                shown = f"{values[0]} on all {size} ranks"
            elif set(values[1:]) == {"None"}:
                shown = f"{values[0]} at rank 0, None elsewhere"
            else:
                shown = ", ".join(f"rank {r}: {v}" for r, v in enumerate(values))
            print(f"{name}: {shown} -- {f'WRONG on ranks {bad}' if bad else 'ok'}")
            bad_any = bad_any or bool(bad)
        if bad_any:
            raise SystemExit("collectives_tour: some collective gave a wrong result")


if __name__ == "__main__":
    zmqmesh.run(main)
