"""Executor.stats() is exact whenever it is read, inside the block too: a
map's items count one by one (not one per chunk), and the counts are in as
soon as the results they count."""

from __future__ import annotations

import zmqmesh


def square(x: int) -> int:
    return x * x


async def main(comm: zmqmesh.Comm) -> None:
    async with zmqmesh.Executor(comm) as ex:
        if ex is None:
            return
        expected = 0
        for n, chunk in ((100, 7), (37, 1), (250, 16)):
            assert await ex.map(square, range(n), chunksize=chunk) == [x * x for x in range(n)]
            expected += n
            stats = ex.stats()
            assert sum(s["run"] for s in stats.values()) == expected, (expected, stats)
        await ex.submit(square, 3)
        stats = ex.stats()
        assert sum(s["run"] for s in stats.values()) == expected + 1, stats
        print("ok stats exact", flush=True)
    final = ex.stats()
    assert sum(s["run"] for s in final.values()) == expected + 1, final
    assert sum(s["stolen"] for s in final.values()) == sum(s["given"] for s in final.values())
    print("ok stats final", flush=True)


if __name__ == "__main__":
    zmqmesh.run(main)
