"""A pipeline whose stages live on different ranks, by point-to-point messages.

    zmqmesh launch -n 4 examples/pipeline.py [--items N]

Rank 0 produces the items 0 .. N-1; each rank r from 1 to size-2 is a
stage that turns x into 2x + r and passes it on; the last rank collects.
Each item travels as ``(index, value)`` and a ``None`` after the last one
ends the stream, so every stage knows when to stop. The stages overlap: a
stage works on item i while its neighbour upstream already sends item i+1
(small messages are copied at once, so ``send`` does not wait for ``recv``).
The last rank checks that the items arrived in order and that their values
match the stages applied serially, and prints their sum. With 2 ranks there
is no stage (producer -> consumer); it needs 2 ranks or more.
"""

import argparse

import zmqmesh

ITEM = 3  # a tag of our own for the stream


def stage(r: int, x: int) -> int:
    return 2 * x + r


def serial(x: int, stages: range) -> int:
    for r in stages:
        x = stage(r, x)
    return x


async def main(comm: zmqmesh.Comm) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1000)
    args = parser.parse_args()
    rank, size = comm.rank, comm.size
    if size < 2:
        raise SystemExit(
            "pipeline needs at least two ranks (a producer and a consumer): "
            "zmqmesh launch -n 4 examples/pipeline.py"
        )
    stages = range(1, size - 1)

    if rank == 0:
        for i in range(args.items):
            await comm.send((i, i), 1, tag=ITEM)
        await comm.send(None, 1, tag=ITEM)
        print(f"produced {args.items} items")
    elif rank < size - 1:
        count = 0
        while (item := await comm.recv(rank - 1, tag=ITEM)) is not None:
            i, x = item
            await comm.send((i, stage(rank, x)), rank + 1, tag=ITEM)
            count += 1
        await comm.send(None, rank + 1, tag=ITEM)
        print(f"stage {rank}: x -> 2x + {rank} on {count} items")
    else:
        got = []
        while (item := await comm.recv(rank - 1, tag=ITEM)) is not None:
            got.append(item)
        in_order = [i for i, _ in got] == list(range(args.items))
        right = [x for _, x in got] == [serial(i, stages) for i in range(args.items)]
        total, expected = sum(x for _, x in got), sum(serial(i, stages) for i in range(args.items))
        print(f"{len(got)} items through {len(stages)} stage(s), in order: {in_order}")
        print(f"sum {total} (expected {expected}), every value right: {right}")
        if not (in_order and right):
            raise SystemExit("pipeline: items lost, out of order or wrong")


if __name__ == "__main__":
    zmqmesh.run(main)
