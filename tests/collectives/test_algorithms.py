"""Every collective against NumPy references, on in-process worlds of 1..9
ranks over real inproc sockets (zmqmesh.testing)."""

from __future__ import annotations

import functools
import gc
from typing import Any

import numpy as np
import pytest

import zmqmesh
from zmqmesh.collectives.base import ResultPool
from zmqmesh.collectives.ops import (
    BAND,
    BOR,
    BXOR,
    LAND,
    LOR,
    LXOR,
    MAX,
    MAXLOC,
    MIN,
    MINLOC,
    PROD,
    SUM,
    Op,
)
from zmqmesh.collectives.plan import ALGORITHMS
from zmqmesh.testing import run_world

SIZES = range(1, 10)
INTS = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
FLOATS = ["float16", "float32", "float64"]
COMPLEX = ["complex64", "complex128"]
ARITH = [SUM, PROD, MAX, MIN]
LOGIC = [LAND, LOR, LXOR]
BITS = [BAND, BOR, BXOR]


def cases() -> list[tuple[Op, str]]:
    out = []
    for dt in INTS + FLOATS:
        out += [(op, dt) for op in ARITH + LOGIC]
    for dt in INTS:
        out += [(op, dt) for op in BITS]
    out += [(op, dt) for dt in COMPLEX for op in (SUM, PROD)]
    out += [(op, "bool") for op in LOGIC + BITS + [MAX, MIN]]
    return out


def value(rank: int, dt: str, shape: tuple[int, ...] = (3, 4)) -> np.ndarray:
    rng = np.random.default_rng(rank * 7919 + len(dt))
    if dt == "bool":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dt.startswith("complex"):
        return (rng.integers(-3, 4, size=shape) + 1j * rng.integers(-3, 4, size=shape)).astype(dt)
    lo = 0 if dt.startswith("uint") else -3
    return rng.integers(lo, 4, size=shape).astype(dt)


def reference(op: Op, xs: list[np.ndarray]) -> np.ndarray:
    acc = xs[0].copy()
    for x in xs[1:]:
        acc = op(acc, x)
    return acc


def close(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype.kind in "fc":
            return bool(np.allclose(a, b, rtol=1e-2, atol=1e-2, equal_nan=True))
        return bool(np.array_equal(a, b))
    return bool(a == b)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", SIZES)
def test_reductions_match_numpy(n: int) -> None:
    todo = cases()

    async def body(comm: zmqmesh.Comm) -> list[Any]:
        out = []
        for op, dt in todo:
            x = value(comm.rank, dt)
            keep = x.copy()
            out.append(await comm.allreduce(x, op))
            out.append(await comm.reduce(x, op, root=(len(out) % n)))
            out.append(await comm.scan(x, op))
            out.append(await comm.exscan(x, op))
            seq = [value(comm.rank * n + j, dt) for j in range(n)]
            out.append(await comm.reduce_scatter(seq, op))
            assert np.array_equal(x, keep), "a collective changed the caller's array"
        return out

    results = run_world(n, body)
    k = 0
    for op, dt in todo:
        xs = [value(r, dt) for r in range(n)]
        full = reference(op, xs)
        root = (k + 1) % n
        for r in range(n):
            got = results[r][k : k + 5]
            assert close(got[0], full), (op, dt, r, "allreduce")
            assert got[0].tobytes() == results[0][k].tobytes(), (op, dt, "not bit-identical")
            assert close(got[1], full) if r == root else got[1] is None, (op, dt, r, "reduce")
            assert close(got[2], reference(op, xs[: r + 1])), (op, dt, r, "scan")
            if r == 0:
                assert got[3] is None
            else:
                assert close(got[3], reference(op, xs[:r])), (op, dt, r, "exscan")
            column = [value(q * n + r, dt) for q in range(n)]
            assert close(got[4], reference(op, column)), (op, dt, r, "reduce_scatter")
        k += 5


def _loc_ref(op: Op, pairs: list[tuple[Any, Any]]) -> tuple[Any, Any]:
    best = pairs[0]
    for p in pairs[1:]:
        better = p[0] > best[0] if op is MAXLOC else p[0] < best[0]
        if better or (p[0] == best[0] and p[1] < best[1]):
            best = p
    return best


@pytest.mark.timeout(60)
@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 9])
def test_python_values_and_loc_ops(n: int) -> None:
    async def body(comm: zmqmesh.Comm) -> list[Any]:
        r = comm.rank
        return [
            await comm.allreduce(r + 1, SUM),
            await comm.allreduce(float(r) / 3, MAX),
            await comm.allreduce(r % 2 == 0, LAND),
            await comm.allreduce((r % 3, r), MAXLOC),
            await comm.allreduce((r % 3, r), MINLOC),
            await comm.reduce((float(-(r % 2)), 10 - r), MINLOC, root=n - 1),
            await comm.allreduce((np.array([r % 2, r % 3]), np.array([r, r])), MAXLOC),
        ]

    res = run_world(n, body)
    pairs = [(r % 3, r) for r in range(n)]
    for r in range(n):
        out = res[r]
        assert out[0] == n * (n + 1) // 2
        assert out[1] == (n - 1) / 3
        assert out[2] is (n == 1)
        assert out[3] == _loc_ref(MAXLOC, pairs)
        assert out[4] == _loc_ref(MINLOC, pairs)
        if r == n - 1:
            assert out[5] == _loc_ref(MINLOC, [(float(-(q % 2)), 10 - q) for q in range(n)])
        vals, idx = out[6]
        for i, m in enumerate((2, 3)):
            best = _loc_ref(MAXLOC, [(q % m, q) for q in range(n)])
            assert (vals[i], idx[i]) == best


@pytest.mark.timeout(60)
@pytest.mark.parametrize("n", [1, 2, 3, 4, 6, 7])
def test_non_commutative_ops_reduce_in_rank_order(n: int) -> None:
    concat = Op(lambda a, b: a + b, commute=False)
    matmul = Op(lambda a, b: a @ b, commute=False)

    def mat(r: int) -> np.ndarray:
        return np.array([[1, r], [0, 1]], dtype=np.int64) + np.eye(2, dtype=np.int64) * (r % 2)

    async def body(comm: zmqmesh.Comm) -> list[Any]:
        r = comm.rank
        s = chr(ord("a") + r)
        return [
            await comm.allreduce(s, concat),
            await comm.reduce(s, concat, root=n // 2),
            await comm.scan(s, concat),
            await comm.exscan(s, concat),
            await comm.allreduce(mat(r), matmul),
            await comm.reduce_scatter([s + str(j) for j in range(n)], concat),
        ]

    res = run_world(n, body)
    letters = "".join(chr(ord("a") + r) for r in range(n))
    prod = functools.reduce(lambda a, b: a @ b, [mat(r) for r in range(n)])
    for r in range(n):
        assert res[r][0] == letters
        assert res[r][1] == (letters if r == n // 2 else None)
        assert res[r][2] == letters[: r + 1]
        assert res[r][3] == (None if r == 0 else letters[:r])
        assert np.array_equal(res[r][4], prod)
        assert res[r][5] == "".join(chr(ord("a") + q) + str(r) for q in range(n))


CORPUS: list[Any] = [
    None,
    7,
    "text",
    (1, (2.5, "x")),
    {"k": [1, 2], 3: b"v"},
    np.arange(12, dtype=np.int32).reshape(3, 4),
    np.float32(2.5),
    np.zeros(0),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", SIZES)
def test_object_collectives_every_root(n: int) -> None:
    def item(r: int, j: int = 0) -> Any:
        return (r, j, CORPUS[(r + j) % len(CORPUS)])

    async def body(comm: zmqmesh.Comm) -> list[Any]:
        r = comm.rank
        out: list[Any] = []
        for root in range(n):
            out.append(await comm.bcast(item(root) if r == root else None, root=root))
            out.append(
                await comm.scatter(
                    [item(root, j) for j in range(n)] if r == root else None, root=root
                )
            )
            out.append(await comm.gather(item(r), root=root))
        for algo in ALGORITHMS["allgather"]:
            zmqmesh.config(allgather=algo)
            out.append(await comm.allgather(item(r)))
        for algo in ALGORITHMS["alltoall"]:
            zmqmesh.config(alltoall=algo)
            out.append(await comm.alltoall([item(r, j) for j in range(n)]))
        zmqmesh.config(allgather=None, alltoall=None)
        await comm.barrier()
        return out

    res = run_world(n, body)
    from programs.corpus import same

    for r in range(n):
        out = res[r]
        for root in range(n):
            b, s, g = out[3 * root : 3 * root + 3]
            assert same(b, item(root))
            assert same(s, item(root, r))
            assert same(g, [item(q) for q in range(n)]) if r == root else g is None
        tail = out[3 * n :]
        for ag in tail[:2]:
            assert same(ag, [item(q) for q in range(n)])
        for a2a in tail[2:]:
            assert same(a2a, [item(q, r) for q in range(n)])


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", SIZES)
def test_forced_algorithms_agree_with_default(n: int) -> None:
    shapes = [(5,), (1000, 3), (40_000,)]  # below and above the large-message thresholds

    async def body(comm: zmqmesh.Comm) -> list[Any]:
        out = []
        for shape in shapes:
            for dt in ("int64", "float64"):
                x = value(comm.rank, dt, shape)
                for algo in (None, *ALGORITHMS["allreduce"]):
                    zmqmesh.config(allreduce=algo)
                    out.append(await comm.allreduce(x, SUM))
                for algo in (None, *ALGORITHMS["bcast"]):
                    zmqmesh.config(bcast=algo)
                    for root in {0, n - 1}:
                        y = value(root, dt, shape)
                        out.append(await comm.bcast(y if comm.rank == root else None, root=root))
        zmqmesh.config(allreduce=None, bcast=None)
        return out

    res = run_world(n, body)
    k = 0
    nroots = len({0, n - 1})
    for shape in shapes:
        for dt in ("int64", "float64"):
            ref = reference(SUM, [value(r, dt, shape) for r in range(n)])
            for _ in range(4):
                for r in range(n):
                    assert close(res[r][k], ref), (shape, dt, k)
                    assert res[r][k].tobytes() == res[0][k].tobytes()
                k += 1
            for _ in range(3):
                for root in sorted({0, n - 1}, key=[0, n - 1].index):
                    for r in range(n):
                        assert np.array_equal(res[r][k], value(root, dt, shape))
                    k += 1
            assert nroots in (1, 2)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_mismatched_calls_raise_everywhere(n: int) -> None:
    scenarios = {
        "bcast-vs-reduce": lambda c: c.bcast(1) if c.rank == 0 else c.reduce(1, SUM),
        "different-roots": lambda c: c.bcast(1, root=0 if c.rank else 1),
        "shape": lambda c: c.allreduce(np.zeros(3 if c.rank else 4), SUM),
        "dtype": lambda c: c.allreduce(np.zeros(3, "f4" if c.rank else "f8"), SUM),
        "op": lambda c: c.allreduce(1, MAX if c.rank else SUM),
        "gather-vs-barrier": lambda c: c.gather(1) if c.rank == 0 else c.barrier(),
    }
    for name, call in scenarios.items():

        async def body(comm: zmqmesh.Comm, call: Any = call) -> str:
            try:
                await call(comm)
                await comm.barrier()  # a rank that finished must learn at its next call
            except zmqmesh.CollectiveMismatchError as exc:
                return str(exc)
            return "no error"

        res = run_world(n, body, timeout=10)
        assert all(r != "no error" for r in res), (name, res)


@pytest.mark.timeout(60)
def test_bad_arguments_raise_at_call_site() -> None:
    async def body(comm: zmqmesh.Comm) -> None:
        with pytest.raises(ValueError, match="one item per rank"):
            await comm.scatter([1], root=comm.rank)
        with pytest.raises(ValueError, match="root"):
            await comm.bcast(1, root=comm.size)
        with pytest.raises(ValueError, match="root"):
            await comm.reduce(1, SUM, root=-1)
        with pytest.raises(ValueError, match="one item per rank"):
            await comm.alltoall([1, 2, 3])
        with pytest.raises(TypeError, match=r"zmqmesh\.Op"):
            await comm.allreduce(1, op="sum")
        with pytest.raises(TypeError, match="sequence"):
            await comm.reduce_scatter(5, SUM)
        with pytest.raises(ValueError, match="unknown allreduce algorithm"):
            zmqmesh.config(allreduce="fastest")
        await comm.barrier()  # nothing was sent: the comm still works

    run_world(2, body)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("n", [1, 2, 5])
def test_split_and_dup_have_their_own_message_space(n: int) -> None:
    async def body(comm: zmqmesh.Comm) -> list[Any]:
        r = comm.rank
        dup = await comm.dup()
        half = await comm.split(r % 2, key=-r)
        none = await comm.split(None if r == 0 else 1)
        right = (r + 1) % n
        await dup.send("on dup", right, tag=3)
        await comm.send("on world", right, tag=3)
        got_world = await comm.recv(tag=3)
        got_dup = await dup.recv(tag=3)
        total = await half.allreduce(r, SUM)
        members = await half.allgather(r)
        return [
            got_world,
            got_dup,
            total,
            members,
            none is None,
            none.size if none else 0,
            dup.size,
            dup.rank,
        ]

    res = run_world(n, body)
    for r in range(n):
        got_world, got_dup, total, members, is_none, none_size, dsize, drank = res[r]
        assert (got_world, got_dup) == ("on world", "on dup")
        mates = [q for q in range(n) if q % 2 == r % 2]
        assert total == sum(mates)
        assert members == sorted(mates, reverse=True)  # key = -rank orders them downwards
        assert is_none == (r == 0)
        assert none_size == (0 if r == 0 else n - 1)
        assert (dsize, drank) == (n, r)


def test_large_results_reuse_memory_only_after_the_caller_drops_them() -> None:
    async def body(comm: zmqmesh.Comm) -> bool:
        pool = comm._engine.results  # each rank's own, reached through its channels
        x = np.full(300_000, float(comm.rank + 1))  # 2.4 MB: pooled
        first = await comm.allreduce(x)
        keep = first[:10]  # a view keeps the result alive
        del first
        second = await comm.allreduce(x * 2)
        assert not np.shares_memory(keep, second)
        assert float(keep[0]) == 3.0
        assert float(second[0]) == 6.0
        del keep, second
        gc.collect()
        return 0 < pool._kept <= pool.MAX_BYTES

    assert run_world(2, body) == [True, True]


class FakeBacking:
    def __init__(self) -> None:
        self.made: list[np.ndarray] = []
        self.dropped: list[np.ndarray] = []

    def alloc(self, capacity: int) -> np.ndarray | None:
        if capacity > 4 << 20:
            return None  # no room: NumPy's memory instead
        self.made.append(np.zeros(capacity, np.uint8))
        return self.made[-1]

    def drop(self, raw: np.ndarray) -> None:
        self.dropped.append(raw)


def test_results_pool_takes_memory_from_its_backing_and_gives_it_back() -> None:
    pool, backing = ResultPool(), FakeBacking()
    pool.MAX_BYTES = 2 << 20
    pool.use(backing)
    small = pool.empty(10, np.dtype(np.float64))  # below MIN_BYTES: plain NumPy
    a = pool.empty(300_000, np.dtype(np.float64))  # 2.4 MB: a 4 MiB class from the backing
    assert len(backing.made) == 1
    assert np.shares_memory(a, backing.made[0])
    huge = pool.empty(1_000_000, np.dtype(np.float64))  # 8 MiB: the backing has no room
    assert len(backing.made) == 1
    assert huge.size == 1_000_000
    assert small.size == 10
    del a
    gc.collect()
    assert backing.dropped == [backing.made[0]]  # over MAX_BYTES: not kept, dropped
    pool.MAX_BYTES = 64 << 20
    b = pool.empty(300_000, np.dtype(np.float64))
    del b
    gc.collect()
    assert len(backing.made) == 2
    assert pool._kept == 4 << 20
    pool.use(None)  # a new backing: what the old one gave is dropped
    assert backing.dropped[-1] is backing.made[1]
    assert pool._kept == 0
    c = pool.empty(300_000, np.dtype(np.float64))
    assert len(backing.made) == 2
    assert c.size == 300_000


def test_the_engine_serves_results_from_shared_memory_until_it_closes() -> None:
    from zmqmesh.runtime.engine import Engine

    engine, backing = Engine(0, 1, allow_pickle=False), FakeBacking()
    engine.use_shared_memory(backing)
    a = engine.results.empty(300_000, np.dtype(np.float64))
    assert len(backing.made) == 1
    assert np.shares_memory(a, backing.made[0])
    del a
    gc.collect()  # kept by the pool, still the backing's
    engine.close()
    assert backing.dropped == backing.made  # closed: the backing's memory is let go
    b = engine.results.empty(300_000, np.dtype(np.float64))
    assert len(backing.made) == 1  # and new results are NumPy's memory again
    assert b.size == 300_000
