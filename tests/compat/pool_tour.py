"""mpi4py.util.pool: Pool (on the job's worker ranks, under
``-m mpi4py.futures``) or ThreadPool (argument ``threads``), every call."""

import multiprocessing
import sys
import threading
import warnings

from mpi4py.util.pool import Pool, ThreadPool


def divmod(a, b):  # keywords, which the builtin does not take
    return a // b, a % b


def square(x):
    return x * x


def fail(x):
    raise KeyError(x)


GO = threading.Event()


def wait_go(x):
    GO.wait()
    return x


def expect(call, error, says):
    try:
        call()
    except error as exc:
        assert says in str(exc), (says, str(exc))
        return
    raise AssertionError(f"no {error!r} ({says})")


if __name__ == "__main__":
    kind = ThreadPool if sys.argv[1:] == ["threads"] else Pool
    with kind(2) as pool:
        assert pool.apply(square, (5,)) == 25
        assert pool.apply(divmod, (7,), {"b": 2}) == (3, 1)
        r = pool.apply_async(square, (6,))
        r.wait()
        assert r.ready() and r.successful() and r.get() == 36
        assert pool.map(square, range(10), chunksize=3) == [x * x for x in range(10)]
        assert pool.map(square, []) == []
        assert pool.starmap(pow, [(2, 3), (3, 2)]) == [8, 9]
        got = []
        m = pool.map_async(square, range(5), callback=got.append)
        assert m.get(timeout=60) == [0, 1, 4, 9, 16]
        assert got == [[0, 1, 4, 9, 16]]  # the callback ran before the result was ready
        m.wait()
        s = pool.starmap_async(pow, [(2, 2)], chunksize=1)
        assert s.get() == [4]
        assert list(pool.imap(square, range(6), chunksize=4)) == [0, 1, 4, 9, 16, 25]
        assert sorted(pool.imap_unordered(square, range(6))) == [0, 1, 4, 9, 16, 25]
        assert list(pool.istarmap(pow, [(2, 4)])) == [16]
        assert sorted(pool.istarmap_unordered(pow, [(2, 1), (2, 0)])) == [1, 2]
        errors = []
        bad = pool.apply_async(fail, ("k",), error_callback=errors.append)
        expect(bad.get, KeyError, "k")
        assert not bad.successful()
        assert len(errors) == 1 and isinstance(errors[0], KeyError)
        expect(lambda: pool.map(fail, [1]), KeyError, "1")
        expect(lambda: pool.map(square, [1], chunksize=0), ValueError, "Chunksize")
        if kind is ThreadPool:  # a task held back: get times out, then it completes
            held = pool.apply_async(wait_go, (1,))
            expect(lambda: held.get(timeout=0.01), multiprocessing.TimeoutError, "")
            expect(lambda: held.get(timeout=0.01), TimeoutError, "")  # as mpi4py's
            expect(held.successful, ValueError, "not ready")
            GO.set()
            assert held.get() == 1
    expect(lambda: pool.apply(square, (1,)), ValueError, "Pool not running")
    with warnings.catch_warnings(record=True) as caught:  # multiprocessing's, not ours
        warnings.simplefilter("always")
        ThreadPool(1, maxtasksperchild=1, context=object).close()
    assert [str(w.message) for w in caught] == [
        "argument 'maxtasksperchild' is not supported",
        "argument 'context' is not supported",
    ], caught
    p = kind(1)
    results = [p.apply_async(square, (i,)) for i in range(4)]
    expect(p.join, ValueError, "still running")
    p.close()
    p.join()
    assert [r.get() for r in results] == [0, 1, 4, 9]
    print(f"pool tour ok with {kind.__name__}")
