"""Collective algorithms priced by simulation, for any number of ranks.

Two views of the same algorithms, which the tests hold equal:

- :func:`simulate` runs the real algorithm coroutines of this package for
  ``p`` ranks in one process, over a simulated :class:`Channel` that delivers
  the objects, records every message ``(source, dest, bytes)`` and keeps a
  clock per rank. No event loop: the driver steps the coroutines itself.
- :func:`predict` gives the same time, message count and bytes in closed
  form (round by round), so that p = 100,000 costs microseconds.

The cost model (alpha-beta-gamma, Hockney with a reduction term, plus the
software of a collective): a message of ``n`` bytes occupies its sender for
``alpha + step + (beta + copy)*n`` and arrives at the sender's start time
plus as much; a receive completes at ``max(receiver's clock, arrival)``;
``sendrecv`` starts its send at once and completes at ``max(send done,
arrival)``; reducing ``n`` bytes costs ``gamma*n`` on the rank that does
it. The time of a collective is the latest rank's clock at its end, every
rank starting at 0, plus ``call``. With more ranks than ``cores`` the
costs stretch (:meth:`Model.stretch`): those per message and per call by
one factor, those per byte by another.

``nbytes`` is, per collective: the array every rank contributes (allreduce),
the root's array (bcast, root 0), each rank's object (allgather), the item
each rank sends to each rank (alltoall); barrier ignores it. Arrays are
``itemsize``-byte elements cut into blocks as the algorithms cut them.

Pure: no sockets, threads or event loop; the simulated arrays are real
(``nbytes`` per rank), so :func:`simulate` is for small p and sizes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zmqmesh.collectives import allgather, allreduce, alltoall, barrier, bcast
from zmqmesh.collectives.base import bounds, pof2_below
from zmqmesh.collectives.ops import SUM

__all__ = [
    "ALGORITHMS",
    "Cost",
    "Model",
    "Result",
    "predict",
    "rounds",
    "simulate",
]

ALGORITHMS: dict[str, tuple[str, ...]] = {
    "barrier": ("dissemination",),
    "bcast": ("binomial", "scatter_allgather"),
    "allreduce": ("recursive_doubling", "ring", "rabenseifner"),
    "allgather": ("bruck", "ring"),
    "alltoall": ("bruck", "pairwise"),
}

_DTYPES = {1: np.uint8, 2: np.uint16, 4: np.float32, 8: np.float64}


@dataclass(frozen=True)
class Model:
    """What collectives cost on one machine, in seconds.

    ``alpha`` per message and ``beta`` per byte moved are a bare ping-pong's;
    ``gamma`` is per byte reduced. ``step`` and ``copy`` are what a
    collective adds to each of its messages over a bare send and receive:
    per message (the algorithm's own code, the call's matching and checks)
    and per byte (what it copies: received blocks into results and working
    arrays). They are software, so they are measured on collectives rather
    than on a ping-pong. ``call`` is per call, whatever its messages
    (entering and leaving it).

    ``cores``: how many cores the ranks share, 0 for a core per rank. With
    ``p > cores`` ranks the costs per message and per call (alpha, step,
    call) are :meth:`stretch`-ed by ``1 + share * (p / cores - 1)``, and
    those per byte (beta, copy, gamma) by ``1 + share_bytes * (p / cores -
    1)``: busy ranks take turns on the cores (a share of 1 is even time
    slicing; less, when waiting ranks leave their core to others; more, when
    switching between ranks costs too). Two shares, because a rank woken
    for every message pays for the switch each time, and a copy does not.
    """

    alpha: float
    beta: float
    gamma: float = 0.0
    step: float = 0.0
    copy: float = 0.0
    call: float = 0.0
    cores: int = 0
    share: float = 1.0
    share_bytes: float = 1.0

    def msg(self, n: float) -> float:
        """Seconds of one message of ``n`` bytes, sent to received."""
        return self.alpha + self.step + (self.beta + self.copy) * n

    def stretch(self, p: int) -> tuple[float, float]:
        """How much slower the costs per message and per call, and those per
        byte, are with ``p`` ranks on ``cores`` cores."""
        if self.cores <= 0 or p <= self.cores:
            return 1.0, 1.0
        crowd = p / self.cores - 1.0
        return 1.0 + self.share * crowd, 1.0 + self.share_bytes * crowd

    def at(self, p: int) -> Model:
        """This model's costs for ``p`` ranks (stretched), as a model with a
        core per rank."""
        if self.cores <= 0:
            return self
        f, g = self.stretch(p)
        return Model(
            self.alpha * f,
            self.beta * g,
            self.gamma * g,
            self.step * f,
            self.copy * g,
            self.call * f,
        )


@dataclass(frozen=True)
class Cost:
    """What one collective costs: ``time`` (seconds), ``messages`` (total
    over every rank) and ``bytes_per_rank`` (the most bytes one rank sends)."""

    time: float
    messages: int
    bytes_per_rank: int


@dataclass(frozen=True)
class Result(Cost):
    """A :class:`Cost` from running the algorithm, with its ``trace``: every
    message as ``(source, dest, bytes)``, in the order each rank sent them."""

    trace: list[tuple[int, int, int]] = field(default_factory=list)
    clocks: list[float] = field(default_factory=list)


def _check(collective: str, algorithm: str, p: int) -> None:
    if algorithm not in ALGORITHMS.get(collective, ()):
        raise ValueError(f"unknown algorithm {collective}/{algorithm}")
    if p < 1:
        raise ValueError(f"p must be >= 1, got {p}")


def rounds(p: int) -> int:
    """ceil(log2 p): the rounds of the logarithmic algorithms."""
    return (p - 1).bit_length()


# -- running the real coroutines ---------------------------------------------


class _Await:
    """What a simulated channel call yields to the driver."""

    __slots__ = ("dest", "obj", "source")

    def __init__(self, dest: int, obj: Any, source: int) -> None:
        self.dest, self.obj, self.source = dest, obj, source  # -1: no send / no receive

    def __await__(self) -> Generator[_Await, Any, Any]:
        return (yield self)


def _size(obj: Any) -> int:
    """Bytes charged for a message: an array's data, a list's items; a
    scalar counts 8 and ``None`` (a signal) nothing."""
    if obj is None:
        return 0
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes)
    if isinstance(obj, list | tuple):
        return sum(_size(x) for x in obj)
    if isinstance(obj, bytes | bytearray | memoryview):
        return len(obj)
    return 8


class _Channel:
    """One rank's simulated channel."""

    def __init__(self, rank: int, size: int) -> None:
        self._rank, self._size = rank, size

    @property
    def rank(self) -> int:
        return self._rank

    @property
    def size(self) -> int:
        return self._size

    async def send(self, peer: int, obj: Any) -> None:
        await _Await(peer, obj, -1)

    async def recv(self, peer: int) -> Any:
        return await _Await(-1, None, peer)

    async def sendrecv(self, dest: int, obj: Any, source: int) -> Any:
        return await _Await(dest, obj, source)

    async def exchange(self, dest: int, arr: np.ndarray, source: int, out: np.ndarray) -> None:
        out[...] = await _Await(dest, arr, source)

    def empty(self, count: int, dtype: np.dtype[Any]) -> np.ndarray:
        return np.empty(count, dtype)


class _PricedOp:
    """SUM that charges ``gamma`` per reduced byte to the running rank."""

    name = "SUM"
    commute = True

    def __init__(self, world: _World) -> None:
        self._world = world

    def _charge(self, x: Any) -> None:
        self._world.clock[self._world.running] += self._world.model.gamma * _size(x)

    def __call__(self, a: Any, b: Any) -> Any:
        self._charge(b)
        return SUM(a, b)

    def combine_into(self, acc: Any, b: Any, *, left: bool) -> Any:
        self._charge(b)
        return SUM.combine_into(acc, b, left=left)

    def combine_to(self, out: np.ndarray, a: Any, b: Any) -> None:
        self._charge(out)
        SUM.combine_to(out, a, b)


class _World:
    """The driver: steps every rank's coroutine until all have returned."""

    def __init__(self, p: int, model: Model) -> None:
        self.p, self.model = p, model
        self.clock = [0.0] * p
        self.running = 0
        self.trace: list[tuple[int, int, int]] = []
        self.sent = [0] * p
        self._box: dict[tuple[int, int], deque[tuple[float, Any]]] = {}
        self._waiting: dict[int, int] = {}  # rank -> the source it waits on

    def run(self, coros: list[Coroutine[Any, Any, Any]]) -> list[Any]:
        out: list[Any] = [None] * self.p
        ready: deque[tuple[int, Any]] = deque((r, None) for r in range(self.p))
        while ready:
            rank, value = ready.popleft()
            self.running = rank
            try:
                req = coros[rank].send(value)
            except StopIteration as stop:
                out[rank] = stop.value
                continue
            assert isinstance(req, _Await), req
            if req.dest >= 0:
                n = _size(req.obj)
                t = self.clock[rank] + self.model.msg(n)
                self.clock[rank] = t
                self.trace.append((rank, req.dest, n))
                self.sent[rank] += n
                # a copy for arrays: the sender may write its buffer once
                # the send completed, which in this model is at once
                obj = req.obj.copy() if isinstance(req.obj, np.ndarray) else req.obj
                self._box.setdefault((rank, req.dest), deque()).append((t, obj))
                if self._waiting.get(req.dest) == rank:
                    del self._waiting[req.dest]
                    ready.append((req.dest, self._take(req.dest, rank)))
            if req.source < 0:
                ready.append((rank, None))
            elif self._box.get((req.source, rank)):
                ready.append((rank, self._take(rank, req.source)))
            else:
                self._waiting[rank] = req.source
        if self._waiting:
            raise RuntimeError(f"deadlock: ranks waiting {self._waiting}")
        return out

    def _take(self, rank: int, source: int) -> Any:
        arrival, obj = self._box[(source, rank)].popleft()
        self.clock[rank] = max(self.clock[rank], arrival)
        return obj


def _data(nbytes: int, itemsize: int, rank: int) -> np.ndarray:
    count = max(nbytes // itemsize, 1)
    return np.full(count, rank + 1, dtype=_DTYPES[itemsize])


# Bytes, as _size counts them, of what a bcast adds to its algorithm on a
# general communicator: the tag of the root's first message, the shape and
# dtype that announce a scatter_allgather of a 1-d array, and each message
# of the agreement that follows (two signatures).
_TAG = 8
_META = 16
_AGREE = 16


async def _bcast_call(ch: _Channel, x: np.ndarray | None, algorithm: str) -> Any:
    """A bcast from rank 0 as a general communicator runs it: the root
    announces its choice in its first message (``bcast.announced``), and
    the ranks then agree that they made the same call."""
    out = await bcast.announced(ch, x, 0, algorithm)
    await _agree(ch)
    return out


async def _agree(ch: _Channel) -> None:
    """The message pattern of the runtime's agreement (``CollChannel.agree``):
    every rank passes two signatures around a dissemination pattern."""
    dist = 1
    while dist < ch.size:
        await ch.sendrecv((ch.rank + dist) % ch.size, (0, 0), (ch.rank - dist) % ch.size)
        dist *= 2


def _coroutine(
    collective: str, algorithm: str, ch: _Channel, op: Any, nbytes: int, itemsize: int
) -> Coroutine[Any, Any, Any]:
    r, p = ch.rank, ch.size
    x = _data(nbytes, itemsize, r)
    if collective == "barrier":
        return barrier.dissemination(ch)
    if collective == "bcast":
        return _bcast_call(ch, x if r == 0 else None, algorithm)
    if collective == "allreduce":
        fn: Callable[..., Coroutine[Any, Any, Any]] = getattr(allreduce, algorithm)
        return fn(ch, x, op)
    if collective == "allgather":
        return allgather.bruck(ch, x) if algorithm == "bruck" else allgather.ring(ch, x)
    seq = [_data(nbytes, itemsize, r * p + j) for j in range(p)]
    return alltoall.bruck(ch, seq) if algorithm == "bruck" else alltoall.pairwise(ch, seq)


def simulate(
    collective: str,
    algorithm: str,
    p: int,
    nbytes: int,
    model: Model,
    *,
    itemsize: int = 8,
    check: bool = True,
) -> Result:
    """Run ``collective``'s ``algorithm`` (its real coroutines) on ``p``
    simulated ranks, and what it cost under ``model``. With ``check`` the
    results are compared with the exact answer (SUM of rank + 1 for
    allreduce; the root's array for bcast; every rank's for allgather and
    alltoall)."""
    _check(collective, algorithm, p)
    if p == 1:  # nothing to send (and the runtime runs no algorithm)
        return Result(0.0, 0, 0, [], [0.0])
    model = model.at(p)
    world = _World(p, model)
    op = _PricedOp(world)
    coros = [
        _coroutine(collective, algorithm, _Channel(r, p), op, nbytes, itemsize) for r in range(p)
    ]
    out = world.run(coros)
    if check:
        _verify(collective, out, p, nbytes, itemsize)
    return Result(
        time=max(world.clock) + model.call,
        messages=len(world.trace),
        bytes_per_rank=max(world.sent),
        trace=world.trace,
        clocks=world.clock,
    )


def _verify(collective: str, out: list[Any], p: int, nbytes: int, itemsize: int) -> None:
    for r, got in enumerate(out):
        if collective == "allreduce":
            want = np.full(got.size, p * (p + 1) // 2).astype(got.dtype)
            ok = np.array_equal(got, want)
        elif collective == "bcast":
            ok = np.array_equal(got, _data(nbytes, itemsize, 0))
        elif collective == "allgather":
            ok = all(np.array_equal(g, _data(nbytes, itemsize, i)) for i, g in enumerate(got))
        elif collective == "alltoall":
            ok = all(
                np.array_equal(g, _data(nbytes, itemsize, i * p + r)) for i, g in enumerate(got)
            )
        else:
            ok = got is None
        if not ok:
            raise AssertionError(f"{collective}: rank {r} got a wrong result")


# -- closed forms --------------------------------------------------------------


def _blocks(nbytes: int, itemsize: int, parts: int) -> list[int]:
    """Bytes of each of ``parts`` blocks of the array, as the algorithms cut it."""
    cuts = bounds(max(nbytes // itemsize, 1), parts)
    return [(cuts[i + 1] - cuts[i]) * itemsize for i in range(parts)]


def _array_bytes(nbytes: int, itemsize: int) -> int:
    return max(nbytes // itemsize, 1) * itemsize


def predict(
    collective: str, algorithm: str, p: int, nbytes: int, model: Model, *, itemsize: int = 8
) -> Cost:
    """The cost of ``collective``'s ``algorithm`` on ``p`` ranks, round by
    round, in O(p) at most. Messages and bytes are exact; the time is
    exact when the array's elements divide evenly into the blocks the
    algorithm cuts (and, for the tree algorithms, p is a power of two), and
    otherwise an upper bound that charges every round its largest block."""
    _check(collective, algorithm, p)
    if p == 1:
        return Cost(0.0, 0, 0)
    m = model.at(p)
    cost = _messages(collective, algorithm, p, nbytes, m, itemsize)
    return Cost(cost.time + m.call, cost.messages, cost.bytes_per_rank)


def _messages(
    collective: str, algorithm: str, p: int, nbytes: int, m: Model, itemsize: int
) -> Cost:
    """:func:`predict` for p > 1 and ``m`` already at p, without ``call``."""
    L = rounds(p)
    if collective == "barrier":
        return Cost(L * m.msg(0), p * L, 0)
    if collective in ("allgather", "alltoall"):
        return _exchange(collective, algorithm, p, nbytes, m)
    n = _array_bytes(nbytes, itemsize)
    if collective == "bcast":
        if algorithm == "binomial":
            cost = Cost(L * m.msg(n + _TAG), p - 1, L * (n + _TAG))
        else:
            cost = _scatter_allgather(p, n, itemsize, m)
        # the agreement: a rank's clock at the end is the latest rank's
        # before it, plus one message per round (dissemination reaches all)
        return Cost(
            cost.time + L * m.msg(_AGREE),
            cost.messages + p * L,
            cost.bytes_per_rank + L * _AGREE,
        )
    pof2 = pof2_below(p)
    rem, lp = p - pof2, pof2.bit_length() - 1
    fold_msgs = 2 * rem
    fold_time = (2 * m.msg(n) + m.gamma * n) if rem else 0.0
    if algorithm == "recursive_doubling":
        t = fold_time + lp * (m.msg(n) + m.gamma * n)
        return Cost(t, fold_msgs + pof2 * lp, (lp + (1 if rem else 0)) * n)
    if algorithm == "ring":
        blk = _blocks(n, itemsize, p)
        b = max(blk)
        t = (p - 1) * (2 * m.msg(b) + m.gamma * b)
        # rank r sends every block but r + 1 (reduce-scatter), then every
        # block but r + 2 (allgather)
        sent = 2 * n - min(blk[(r + 1) % p] + blk[(r + 2) % p] for r in range(p))
        return Cost(t, 2 * p * (p - 1), sent)
    # Rabenseifner: halving then doubling over pof2 blocks; a participant
    # sends its whole array less its final block in each phase
    blk = _blocks(n, itemsize, pof2)
    t, half = fold_time, pof2
    for _ in range(lp):
        half //= 2
        seg = max(sum(blk[i : i + half]) for i in range(0, pof2, half))
        t += 2 * m.msg(seg) + m.gamma * seg
    # participant r keeps block r after the halving (it sent every other
    # one), then sends the aligned runs of 1, 2, 4, ... blocks holding r
    cum = [0]
    for b in blk:
        cum.append(cum[-1] + b)
    sent = 0
    for r in range(pof2):
        s = n - blk[r] + (n if r < rem else 0)
        for j in range(lp):
            lo = (r >> j) << j
            s += cum[lo + (1 << j)] - cum[lo]
        sent = max(sent, s)
    return Cost(t, fold_msgs + 2 * pof2 * lp, sent)


def _exchange(collective: str, algorithm: str, p: int, n: int, m: Model) -> Cost:
    if algorithm in ("ring", "pairwise"):
        return Cost((p - 1) * m.msg(n), p * (p - 1), (p - 1) * n)
    t, sent, k = 0.0, 0, 1
    while k < p:
        # items per message in round k: Bruck's allgather doubles what it
        # has; Bruck's alltoall forwards the slots whose index has bit k set
        c = (
            min(k, p - k)
            if collective == "allgather"
            else (p // (2 * k)) * k + max(0, p % (2 * k) - k)
        )
        t += m.msg(c * n)
        sent += c * n
        k <<= 1
    return Cost(t, p * rounds(p), sent)


def _scatter_allgather(p: int, n: int, itemsize: int, m: Model) -> Cost:
    """Announced by a binomial bcast of the array's shape and dtype, which
    ends on the root, the last to finish it: every block starts from the
    root, so the scatter that follows starts ``rounds(p)`` messages late."""
    blk = _blocks(n, itemsize, p)
    cuts = [0]
    for b in blk:
        cuts.append(cuts[-1] + b)
    # binomial scatter: a rank's clock when it has received its subtree's
    # blocks, and when it is done sending (relative ranks, root 0); the
    # announcement went down the same tree
    start = rounds(p) * m.msg(_TAG + _META)
    got = [start] * p
    done = 0.0
    scatter_sent = [0] * p
    for v in range(p):
        t = got[v]
        low = v & -v if v else 1 << rounds(p)
        mask = low >> 1
        while mask > 0:
            if v + mask < p:
                c = cuts[min(v + 2 * mask, p)] - cuts[v + mask]
                t += m.msg(c)
                got[v + mask] = t
                scatter_sent[v] += c + _TAG + _META
            mask >>= 1
        done = max(done, t)
    b = max(blk)
    t = done + (p - 1) * m.msg(b)
    # ring: relative rank v sends every block but v + 1
    sent = max(scatter_sent[v] + n - blk[(v + 1) % p] for v in range(p))
    return Cost(t, 2 * (p - 1) + p * (p - 1), sent)
