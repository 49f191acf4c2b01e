"""With pickle allowed, callables that are not module-level names (a
partial, a callable object) run as tasks; one that pickle cannot take (a
local lambda) is refused at submit with TypeError."""

from __future__ import annotations

import functools

import zmqmesh


class AddTo:
    def __init__(self, base: int) -> None:
        self.base = base

    def __call__(self, x: int) -> int:
        return x + self.base


async def main(comm: zmqmesh.Comm) -> None:
    async with zmqmesh.Executor(comm) as ex:
        if ex is not None:
            assert await ex.submit(AddTo(10), 1) == 11
            assert await ex.map(functools.partial(pow, 2), range(5)) == [1, 2, 4, 8, 16]
            try:
                ex.submit(lambda x: x, 1)
            except TypeError as exc:
                assert "pickle" in str(exc), exc
            else:
                raise AssertionError("a lambda was accepted")
            print("ok pickled tasks", flush=True)


if __name__ == "__main__":
    zmqmesh.run(main)
