"""With pickle allowed, callables that are not module-level names travel
by value: a partial, a callable object, and what plain pickle refuses and
cloudpickle takes (a lambda, a closure over local state, a function and a
class defined inside a function). Point-to-point messages take them too.
What neither can pickle (a generator) is refused at submit with TypeError."""

from __future__ import annotations

import functools

import zmqmesh


class AddTo:
    def __init__(self, base: int) -> None:
        self.base = base

    def __call__(self, x: int) -> int:
        return x + self.base


def make_scaler(k: int):  # type: ignore[no-untyped-def]
    def scale(x: int) -> int:  # a closure over k
        return k * x

    return scale


async def main(comm: zmqmesh.Comm) -> None:
    async with zmqmesh.Executor(comm) as ex:
        if ex is not None:
            assert await ex.submit(AddTo(10), 1) == 11
            assert await ex.map(functools.partial(pow, 2), range(5)) == [1, 2, 4, 8, 16]
            assert await ex.submit(lambda x: x + 1, 1) == 2
            offset = 100
            assert await ex.map(lambda x: x + offset, range(3)) == [100, 101, 102]
            assert await ex.submit(make_scaler(7), 6) == 42

            class Local:
                def __init__(self, v: int) -> None:
                    self.v = v

            def build(v: int) -> Local:
                return Local(v * 2)

            got = await ex.submit(build, 21)
            assert type(got).__name__ == "Local" and got.v == 42, got
            try:
                ex.submit(sum, (i for i in range(3)))
            except TypeError as exc:
                assert "pickle" in str(exc), exc
            else:
                raise AssertionError("a generator argument was accepted")
            print("ok pickled tasks", flush=True)
    if comm.size > 1:
        if comm.rank == 0:
            base = 5
            await comm.send(lambda x: x * base, 1)
        elif comm.rank == 1:
            fn = await comm.recv(0)
            assert fn(3) == 15
            print("ok pickled message", flush=True)


if __name__ == "__main__":
    zmqmesh.run(main)
