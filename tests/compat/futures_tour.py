"""mpi4py.futures under ``-m mpi4py.futures`` (or inside MPICommExecutor
with the argument ``comm``): submit, map with chunks and unordered,
starmap, timeouts, initializers, errors, collective tasks, shutdown."""

import concurrent.futures as cf
import pickle
import sys

from mpi4py import MPI
from mpi4py.futures import (
    BrokenExecutor,
    MPICommExecutor,
    MPIPoolExecutor,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    get_comm_workers,
)

world = MPI.COMM_WORLD


def square(x):
    return x * x


def fail(x):
    raise ValueError(f"no {x}")


def set_base(v):
    global BASE
    BASE = v


def plus_base(x):
    return BASE + x


def refuse(v):
    raise OSError(f"init {v}")


def workers_sum():
    return get_comm_workers().allreduce(1)


def wait_for_go(i):
    world.recv(source=0, tag=99)
    return i


def expect(call, error, says):
    try:
        call()
    except error as exc:
        assert says in str(exc), (says, str(exc))
        return exc
    raise AssertionError(f"no {error!r} ({says})")


def tour(ex, workers):
    assert ex.submit(square, 7).result() == 49
    assert list(ex.map(square, range(10), chunksize=3)) == [x * x for x in range(10)]
    assert sorted(ex.map(square, range(10), unordered=True)) == [x * x for x in range(10)]
    assert list(ex.map(pow, [2, 3], [3, 2])) == [8, 9]
    assert list(ex.starmap(pow, iter([(2, 5), (3, 3)]), chunksize=2)) == [32, 27]
    assert list(ex.map(square, [])) == []
    exc = expect(ex.submit(fail, 3).result, ValueError, "no 3")
    assert not workers or "in fail" in str(exc.__cause__)  # the worker's traceback
    expect(lambda: list(ex.map(fail, [1])), ValueError, "no 1")
    expect(lambda: ex.map(square, [1], chunksize=0), ValueError, "chunksize")
    if workers:  # a lambda does not pickle: its future says so
        expect(ex.submit(lambda: 1).result, (pickle.PicklingError, AttributeError), "lambda")
        # every worker runs one of these at once: they meet in a collective
        assert [f.result() for f in [ex.submit(workers_sum) for _ in range(workers)]] == [
            workers
        ] * workers
        # a map's results wait for tasks that wait for rank 0
        it = ex.map(wait_for_go, range(workers), timeout=0.05)
        expect(lambda: next(it), cf.TimeoutError, "")
        for w in range(1, world.Get_size()):
            world.send(None, w, tag=99)


if __name__ == "__main__":
    if sys.argv[1:] == ["comm"]:
        with MPICommExecutor(world, root=0) as ex:
            if ex is not None:
                tour(ex, world.Get_size() - 1)
                ex2 = ex
        if world.Get_rank() == 0:
            expect(lambda: ex2.submit(square, 1), RuntimeError, "after shutdown")
        expect(lambda: MPICommExecutor(world, root=world.Get_size()), ValueError, "root")
        expect(lambda: MPICommExecutor(world, max_workers=0), ValueError, "greater than 0")
        world.Barrier()
    else:
        workers = world.Get_size() - 1
        with MPIPoolExecutor() as ex:
            tour(ex, workers)
            print("num_workers", ex.num_workers, flush=True)
        assert ex.num_workers == 0  # shut down
        expect(lambda: ex.submit(square, 1), RuntimeError, "after shutdown")
        with MPIPoolExecutor(max_workers=1, initializer=set_base, initargs=(100,)) as ex:
            assert list(ex.map(plus_base, range(4))) == [100, 101, 102, 103]
        with MPIPoolExecutor(initializer=refuse, initargs=(5,)) as ex:
            expect(ex.submit(square, 2).result, BrokenExecutor, "init 5")
            expect(lambda: ex.submit(square, 2), BrokenExecutor, "init 5")
        expect(lambda: MPIPoolExecutor(max_workers=0), ValueError, "greater than 0")
        ex = MPIPoolExecutor().bootup()
        futs = [ex.submit(square, i) for i in range(20)]
        ex.shutdown(wait=True)
        assert all(f.done() for f in futs) and [f.result() for f in futs][-1] == 361
        with MPICommExecutor(world, root=0) as cex:  # the shared pool, here
            assert cex.submit(square, 3).result() == 9
        with ThreadPoolExecutor(2) as tex:
            assert tex.num_workers == 2
            assert list(tex.map(square, range(5), chunksize=2)) == [0, 1, 4, 9, 16]
        with ProcessPoolExecutor(2) as pex:
            assert list(pex.map(square, range(5), chunksize=2)) == [0, 1, 4, 9, 16]
            assert pex.submit(square, 9).result() == 81
    if world.Get_rank() == 0:
        print(f"futures tour ok on {world.Get_size()} ranks")
