"""One-sided communication (``MPI.Win``): the pure parts (the lock table,
the memory a window's operations reach, the target's service fed with
requests) in process, and the tour programs on real ranks under
``launch --mpi4py``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from conftest import launch
from hypothesis import given
from hypothesis import strategies as st

from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import typemap as T
from zmqmesh.compat.mpi4py import winmem as M
from zmqmesh.compat.mpi4py.datatypes import PREDEFINED
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.winlock import LockError, LockTable
from zmqmesh.compat.mpi4py.winserve import _ANS as ANS
from zmqmesh.compat.mpi4py.winserve import _REQ as REQ
from zmqmesh.compat.mpi4py.winserve import Port, settle

HERE = Path(__file__).resolve().parent
X, S = C.LOCK_EXCLUSIVE, C.LOCK_SHARED


# -- the lock table: events in, grants out ------------------------------------------------------
def test_shared_holders_share_and_an_exclusive_waits_for_all_of_them() -> None:
    t = LockTable()
    assert t.lock(1, S) == [1]
    assert t.lock(2, S) == [2]
    assert t.lock(3, X) == []
    assert t.unlock(1) == []
    assert t.unlock(2) == [3]
    assert t.exclusive == 3


def test_readers_behind_a_waiting_writer_wait_in_order() -> None:
    t = LockTable()
    assert t.lock(0, X) == [0]
    assert t.lock(1, S) == []
    assert t.lock(2, X) == []
    assert t.lock(3, S) == []
    assert t.unlock(0) == [1]
    assert t.unlock(1) == [2]
    assert t.unlock(2) == [3]


@pytest.mark.parametrize(
    "misuse",
    [
        lambda t: t.unlock(0),
        lambda t: (t.lock(0, X), t.lock(0, S)),
        lambda t: t.lock(0, 99),
        lambda t: (t.lock(0, S), t.unlock(0), t.unlock(0)),
    ],
)
def test_lock_misuse_raises(misuse: object) -> None:
    t = LockTable()
    with pytest.raises(LockError):
        misuse(t)  # type: ignore[operator]


@given(st.lists(st.tuples(st.integers(0, 4), st.sampled_from([X, S])), max_size=30))
def test_every_request_is_granted_once_and_exclusives_are_alone(
    asks: list[tuple[int, int]],
) -> None:
    t = LockTable()
    granted: list[int] = []
    asked: list[int] = []
    for origin, kind in asks:
        if t.holds(origin) or any(o == origin for o, _ in t.waiting):
            continue
        asked.append(origin)
        granted += t.lock(origin, kind)
        assert t.exclusive is None or not t.shared
    while t.exclusive is not None or t.shared:
        holder = t.exclusive if t.exclusive is not None else next(iter(t.shared))
        granted += t.unlock(holder)
        assert t.exclusive is None or not t.shared
    assert sorted(granted) == sorted(asked)
    assert not t.waiting


# -- the memory operations reach ----------------------------------------------------------------
def _tm(name: str) -> T.Typemap:
    return PREDEFINED[name].typemap


def test_descriptions_travel_without_kind_numbers() -> None:
    vec = PREDEFINED["INT"].Create_vector(3, 1, 2)
    tm = vec.typemap
    back = M.typemap_of(M.describe(tm))
    assert (back.disps == tm.disps).all()
    assert (back.lb, back.ub) == (tm.lb, tm.ub)
    assert back.base == np.dtype("i4")
    assert M.describe(_tm("DOUBLE")) == np.dtype("f8").str
    with pytest.raises(ValueError, match="not a datatype description"):
        M.typemap_of((["<i4"], [0, 5], [0, 4], 0, 8))


def test_an_access_outside_the_window_is_a_range_error() -> None:
    mem = M.Memory(np.zeros(16, np.uint8), 4)
    buf, p = mem.locate(3, _tm("INT"), 1)
    assert (p.low, p.high) == (12, 16)
    assert buf is mem.base
    for disp, count in [(4, 1), (2, 3), (-1, 1)]:
        with pytest.raises(M.RangeError):
            mem.locate(disp, _tm("INT"), count)


def test_a_dynamic_window_finds_the_region_an_address_is_in() -> None:
    a, b = np.zeros(8, np.uint8), np.zeros(16, np.uint8)
    mem = M.Memory(None, 1, dynamic=True)
    mem.attach(a)
    mem.attach(b)
    addr = b.__array_interface__["data"][0]
    buf, p = mem.locate(addr + 8, _tm("DOUBLE"), 1)
    assert buf is b
    assert p.start == 8
    with pytest.raises(M.RangeError):
        mem.locate(addr + 12, _tm("DOUBLE"), 1)
    assert mem.detach(addr)
    assert not mem.detach(addr)
    with pytest.raises(M.RangeError):
        mem.locate(addr, _tm("DOUBLE"), 1)


@pytest.mark.parametrize("op", sorted(M.ACCUMULATE_OPS))
@pytest.mark.parametrize("dtype", ["i4", "u1", "f8"])
def test_accumulate_combines_the_target_with_the_origin(op: str, dtype: str) -> None:
    if dtype == "f8" and op.startswith("B"):
        return  # bitwise ops take integers only, as MPI's
    target = np.array([3, 0, 5, 6], dtype)
    origin = np.array([1, 2, 5, 0], dtype)
    mem = target.copy().view(np.uint8)
    tm = T.basic(np.dtype(dtype))
    p = T.plan(tm, 4, 0)
    old = M.accumulate(mem, p, tm, origin.view(np.uint8), op)
    assert (old.view(dtype) == target).all()
    npop = {
        "SUM": np.add,
        "PROD": np.multiply,
        "MAX": np.maximum,
        "MIN": np.minimum,
        "LAND": np.logical_and,
        "LOR": np.logical_or,
        "LXOR": np.logical_xor,
        "BAND": np.bitwise_and,
        "BOR": np.bitwise_or,
        "BXOR": np.bitwise_xor,
        "REPLACE": lambda a, b: b,
        "NO_OP": lambda a, b: a,
    }[op]
    assert (mem.view(dtype) == np.asarray(npop(target, origin)).astype(dtype)).all()


def test_compare_and_swap_stores_only_on_a_match() -> None:
    mem = np.array([7], "i8").view(np.uint8)
    tm = T.basic(np.dtype("i8"))
    p = T.plan(tm, 1, 0)
    new, seven = np.array([9], "i8").view(np.uint8), np.array([7], "i8").view(np.uint8)
    assert M.compare_and_swap(mem, p, tm, new, new).view("i8")[0] == 7
    assert mem.view("i8")[0] == 7
    assert M.compare_and_swap(mem, p, tm, new, seven).view("i8")[0] == 7
    assert mem.view("i8")[0] == 9


def test_a_shared_segment_is_one_memory_under_two_mappings() -> None:
    path = M.SharedSegment.new_path()
    one = M.SharedSegment(path, 64, create=True)
    two = M.SharedSegment(path, 64, create=False)
    one.unlink()
    one.array[5] = 42
    assert two.array[5] == 42
    for seg in (one, two):
        seg.close()


# -- on real ranks ------------------------------------------------------------------------------
TOUR = [
    "fence put get accumulate",
    "derived datatypes",
    "nxtval counter",
    "shared locks",
    "post start complete wait",
    "allocate shared",
    "request-based",
    "dynamic",
    "compare and swap",
    "errors",
]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("n", [3, 4])
def test_the_nxtval_counter_and_mutex_are_exact(n: int) -> None:
    res = launch(n, HERE / "win_mutex.py", "10", "10", timeout=80, launcher_args=("--mpi4py",))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert f"[0] ok counter {10 * n}" in res.stdout
    assert f"[0] ok mutex {10 * n}" in res.stdout


@pytest.mark.timeout(90)
@pytest.mark.parametrize("n", [2, 4])
def test_win_tour_on_real_ranks(n: int) -> None:
    res = launch(n, HERE / "win_tour.py", timeout=80, launcher_args=("--mpi4py",))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    said = [ln[len("[0] ok ") :] for ln in res.stdout.splitlines() if ln.startswith("[0] ok ")]
    assert said == TOUR, res.stdout[-3000:]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("n", [2, 4])
def test_a_busy_target_serves_the_counter_at_its_next_call(n: int) -> None:
    res = launch(n, HERE / "win_busy.py", timeout=80, launcher_args=("--mpi4py",))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert f"[0] ok busy target served {20 * (n - 1)} ids" in res.stdout


# -- the target's service: requests in, answers out ---------------------------------------------
class _Link:
    """Stands for the window's communicator: records what is sent."""

    def __init__(self, rank: int) -> None:
        self.rank = rank
        self.sent: list[tuple[int, int, object]] = []

    def start_send(self, obj: object, dest: int, tag: int) -> None:
        self.sent.append((dest, tag, obj))

    def on_message(self, handler: object) -> None:
        pass

    def watch(self, fut: object, call: object, peer: int) -> None:
        pass


def _port(nbytes: int = 16) -> tuple[Port, _Link, np.ndarray]:
    link = _Link(0)
    mem = np.zeros(nbytes, np.uint8)
    port = Port(link, M.Memory(mem, 1))  # type: ignore[arg-type]
    port.serve_early()  # (made: it serves what comes)
    return port, link, mem


def _answers(link: _Link) -> list[tuple[int, int, object]]:
    got = [(dest, obj[0], obj[1]) for dest, tag, obj in link.sent if tag == ANS]  # type: ignore[index]
    link.sent.clear()
    return got


def test_requests_after_a_waiting_lock_wait_for_it_then_apply_in_order() -> None:
    port, link, mem = _port()
    i4 = np.dtype("i4").str
    port._arrived(1, REQ, ("lock", 1, X))
    assert _answers(link) == [(1, 1, None)]
    port._arrived(2, REQ, ("lock", 1, X))
    port._arrived(2, REQ, ("put", 2, 0, 1, i4, np.array([7], "i4").view(np.uint8)))
    port._arrived(2, REQ, ("acc", 3, 0, 1, i4, np.array([1], "i4").view(np.uint8), "SUM", True))
    assert _answers(link) == []  # rank 2 waits for the lock, and so does what it sent
    port._arrived(1, REQ, ("unlock", 2))
    answers = _answers(link)
    assert [a[:2] for a in answers] == [(2, 1), (2, 2), (2, 3), (1, 2)]
    assert answers[2][2] is None  # no error
    assert mem[:4].view("i4")[0] == 8


def test_an_access_outside_the_window_is_answered_with_its_error_class() -> None:
    port, link, _ = _port(4)
    port._arrived(3, REQ, ("get", 5, 2, 1, np.dtype("i4").str))
    [(dest, seq, error)] = _answers(link)
    assert (dest, seq, error[0]) == (3, 5, C.ERR_RMA_RANGE)  # type: ignore[index]
    assert "not part of the window" in error[1]  # type: ignore[index]


def test_an_error_answered_before_the_epoch_ends_is_raised_by_the_call_that_ends_it() -> None:
    async def scenario() -> None:
        port, link, _ = _port()
        ok = port.request(1, "put", 0, 1, np.dtype("i4").str, np.zeros(4, np.uint8))
        bad = port.request(1, "put", 99, 1, np.dtype("i4").str, np.zeros(4, np.uint8))
        seqs = [obj[1] for _, tag, obj in link.sent if tag == REQ]  # type: ignore[index]
        port._arrived(1, ANS, (seqs[0], None, None))
        port._arrived(1, ANS, (seqs[1], (C.ERR_RMA_RANGE, "outside"), None))
        await asyncio.sleep(0)  # one loop turn: the futures' callbacks run
        assert ok.done()  # both answered before Unlock asks
        assert bad.done()
        found = port.outstanding([1])
        assert bad in found
        with pytest.raises(MPIException) as err:
            await settle(found)
        assert err.value.Get_error_class() == C.ERR_RMA_RANGE
        assert port.outstanding([1]) == []  # reported once

    asyncio.run(scenario())


def test_an_error_answered_while_the_epoch_ends_is_raised_by_that_call_only() -> None:
    async def scenario() -> None:
        port, link, _ = _port()
        bad = port.request(1, "put", 99, 1, np.dtype("i4").str, np.zeros(4, np.uint8))
        [seq] = [obj[1] for _, tag, obj in link.sent if tag == REQ]  # type: ignore[index]
        found = port.outstanding([1])  # handed out before its answer
        port._arrived(1, ANS, (seq, (C.ERR_RMA_RANGE, "outside"), None))
        with pytest.raises(MPIException):
            await settle(found)
        await asyncio.sleep(0)
        assert bad.done()
        assert port.outstanding([1]) == []  # the next flush does not raise it again

    asyncio.run(scenario())


def test_an_error_reported_before_the_loop_turned_is_not_raised_again() -> None:
    # A blocking call may take the answer and report its error in the
    # kernel wait, before the loop ran the future's callbacks.
    async def scenario() -> None:
        port, link, _ = _port()
        port.request(1, "put", 99, 1, np.dtype("i4").str, np.zeros(4, np.uint8))
        [seq] = [obj[1] for _, tag, obj in link.sent if tag == REQ]  # type: ignore[index]
        found = port.outstanding([1])
        port._arrived(1, ANS, (seq, (C.ERR_RMA_RANGE, "outside"), None))
        with pytest.raises(MPIException):
            await settle(found)  # done at once: no turn of the loop
        assert port.outstanding([1]) == []  # the callbacks have not run yet

    asyncio.run(scenario())


def test_requests_that_come_while_the_window_is_made_wait_for_the_next_call() -> None:
    link = _Link(0)
    mem = np.zeros(4, np.uint8)
    port = Port(link, M.Memory(mem, 1))  # type: ignore[arg-type]
    i4 = np.dtype("i4").str
    port._arrived(1, REQ, ("lock", 1, X))
    port._arrived(1, REQ, ("acc", 2, 0, 1, i4, np.array([5], "i4").view(np.uint8), "SUM", True))
    assert _answers(link) == []  # held: the program may still write its memory
    mem[:] = np.array([1], "i4").view(np.uint8)  # as a program initializes it
    port.serve_early()
    answers = _answers(link)
    assert [a[:2] for a in answers] == [(1, 1), (1, 2)]
    assert mem.view("i4")[0] == 6


def test_settle_of_done_futures_takes_no_turn_of_the_loop_and_raises_the_first_error() -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        seen: list[str] = []
        loop.call_soon(seen.append, "loop turned")
        ok, bad, worse = loop.create_future(), loop.create_future(), loop.create_future()
        ok.set_result(None)
        bad.set_exception(MPIException(C.ERR_RMA_RANGE, "first"))
        worse.set_exception(ValueError("second"))
        await settle([ok])
        with pytest.raises(MPIException, match="first"):
            await settle([ok, bad, worse])  # every error retrieved, the first raised
        seen.append("settled")
        gone = loop.create_future()
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await settle([ok, gone])
        return list(seen)  # (the loop runs its callback once main is done)

    assert asyncio.run(main()) == ["settled"]  # before the loop ran its callback


def test_a_window_over_alloc_mem_takes_an_indexed_datatype() -> None:
    # MPI.Alloc_mem's buffer is an ndarray subclass whose indexing refuses
    # index arrays: the window's packing must see a plain array (mpi4py's
    # nxtval-scalable demo at 5 ranks failed on it).
    from zmqmesh.compat.mpi4py import MPI
    from zmqmesh.compat.mpi4py.foreign import as_bytes

    mem = MPI.Alloc_mem(4 * 4)
    base, _, _ = as_bytes(mem, False)
    assert type(base) is np.ndarray
    base.view("i4")[:] = [10, 11, 12, 13]
    picks = MPI.INT.Create_indexed_block(1, [0, 2, 3]).Commit()
    plan = T.plan(picks._t.tm, 1, 0)
    assert list(M.get(base, plan).view("i4")) == [10, 12, 13]
    M.accumulate(base, plan, picks._t.tm, np.array([1, 1, 1], "i4").view(np.uint8), "SUM")
    assert list(np.frombuffer(mem, "i4")) == [11, 11, 13, 14]
    picks.Free()
    MPI.Free_mem(mem)
