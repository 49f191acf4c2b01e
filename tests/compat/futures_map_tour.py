"""Maps long enough to be dealt in portions (many chunks to a worker in
one message), under ``-m mpi4py.futures``: results in order, an exception,
an unpicklable result and an unpicklable argument each failing their own
item, initializers, ``max_workers``, unordered results, cancellation."""

import os
import threading

from mpi4py import MPI
from mpi4py.futures import BrokenExecutor, MPIPoolExecutor

N = 400


def inc(x):
    return x + 1


def pid(_):
    return os.getpid()


def fail_at_7(x):
    if x == 7:
        raise ValueError(f"no {x}")
    return x


def lock_at_9(x):
    return threading.Lock() if x == 9 else x


def set_base(v):
    global BASE
    BASE = v


def plus_base(x):
    return BASE + x


def refuse(v):
    raise OSError(f"init {v}")


def first_error(it):
    """The results before the iterator raised, and what it raised."""
    got = []
    try:
        for v in it:
            got.append(v)
    except Exception as exc:
        return got, exc
    raise AssertionError("no error")


if __name__ == "__main__":
    workers = MPI.COMM_WORLD.Get_size() - 1
    with MPIPoolExecutor() as ex:
        assert list(ex.map(inc, range(N))) == list(range(1, N + 1))
        assert list(ex.map(inc, range(N), chunksize=3)) == list(range(1, N + 1))
        assert sorted(ex.map(inc, range(N), unordered=True)) == list(range(1, N + 1))
        # every worker took part
        assert len(set(ex.map(pid, range(N)))) == workers
        got, exc = first_error(ex.map(fail_at_7, range(N)))
        assert got == list(range(7)) and str(exc) == "no 7", (got, exc)
        assert "in fail_at_7" in str(exc.__cause__)
        got, exc = first_error(ex.map(lock_at_9, range(N)))
        assert got == list(range(9)) and "cannot be pickled" in str(exc), (got, exc)
        args = [*range(100), threading.Lock(), *range(101, N)]
        got, exc = first_error(ex.map(inc, args))
        assert got == list(range(1, 101)) and "lock" in str(exc), (got, exc)
        got, exc = first_error(ex.map(lambda x: x, range(N)))
        assert got == [] and "lambda" in str(exc), (got, exc)
        # the pool is whole after the failures
        assert list(ex.map(inc, range(N))) == list(range(1, N + 1))
        # what a map left queued is cancelled when its iterator is closed
        it = ex.map(inc, range(20 * N))
        assert next(it) == 1
        it.close()
        assert ex.submit(inc, 1).result() == 2
    with MPIPoolExecutor(max_workers=1, initializer=set_base, initargs=(100,)) as ex:
        assert list(ex.map(plus_base, range(N))) == list(range(100, 100 + N))
    with MPIPoolExecutor(initializer=refuse, initargs=(5,)) as ex:
        got, exc = first_error(ex.map(inc, range(N)))
        assert got == [] and isinstance(exc, BrokenExecutor) and "init 5" in str(exc)
    print(f"futures map tour ok on {workers + 1} ranks")
