"""``Comm``: a group of ranks with its own message space.

A communicator maps its ranks to world ranks and owns two context ids: one
for point-to-point traffic and one for collectives, so a user's
``recv(ANY_SOURCE, ANY_TAG)`` can never take a collective's message (MPI
keeps the same two contexts per communicator).
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from zmqmesh.checkpoint import checkpoint as save_checkpoint
from zmqmesh.checkpoint import restore as load_checkpoint
from zmqmesh.collectives import allreduce, bcast
from zmqmesh.collectives.base import is_segmentable
from zmqmesh.collectives.ops import BOR, SUM, Op, op_id, working_copy
from zmqmesh.collectives.plan import EDGE_KINDS, plan
from zmqmesh.collectives.registry import REGISTRY
from zmqmesh.collectives.signature import alltoall_sig, item_bytes, payload_sig, signature
from zmqmesh.collectives.tree import Edges
from zmqmesh.runtime.channel import CollChannel, CollState
from zmqmesh.runtime.engine import Engine
from zmqmesh.runtime.failure import call_site
from zmqmesh.runtime.p2p import PointToPoint, as_int
from zmqmesh.runtime.topocomm import TopoComm
from zmqmesh.topology import Topology, make_topology

__all__ = ["Comm"]

log = logging.getLogger("zmqmesh")


# Each collective's algorithms by name (one dict access per call).
_BARRIER = REGISTRY["barrier"]
_BCAST = REGISTRY["bcast"]
_SCATTER = REGISTRY["scatter"]
_GATHER = REGISTRY["gather"]
_ALLGATHER = REGISTRY["allgather"]
_REDUCE = REGISTRY["reduce"]
_ALLREDUCE = REGISTRY["allreduce"]
_ALLTOALL = REGISTRY["alltoall"]
_REDUCE_SCATTER = REGISTRY["reduce_scatter"]
_SCAN = REGISTRY["scan"]
_EXSCAN = REGISTRY["exscan"]


class Comm(PointToPoint):
    """A communicator. Every method is a coroutine unless marked *sync*.

    Cancelling a collective (``asyncio.wait_for`` timing out, the task
    cancelled) on any rank makes the communicator unusable for collectives:
    the ``CancelledError`` propagates on that rank, and there and on every
    other rank that call (where not complete yet), any collective in flight
    and every later one raise :class:`~zmqmesh.CollectiveMismatchError`
    naming the cancelled call and its rank, never a wrong result or a
    hang. Point to point on it still works; a new communicator from one
    whose collectives are intact (its parent's ``dup()``) carries on. A
    mismatch or a lost member breaks the collectives the same way.
    """

    def __init__(
        self,
        engine: Engine,
        ranks: tuple[int, ...],
        slot: int,
        ident: int = 0,
        topo: Topology | None = None,
    ) -> None:
        self._engine = engine
        self._ranks = ranks  # comm rank -> world rank
        self._rank = ranks.index(engine.rank)
        self._slot = slot
        self._ctx = 2 * slot  # point-to-point context; 2 * slot + 1 is for collectives
        self._heads = {}
        # What the collectives' plan depends on besides the call: the kind
        # (a topology's, else "general"), the spanning trees of an
        # edges-only topology, and the forced algorithms of this process.
        self._kind = "general" if topo is None else topo.kind
        self._edges = Edges(topo) if topo is not None and topo.kind in EDGE_KINDS else None
        self._settings = engine.coll
        self._coll = CollState(engine, 2 * slot + 1, self._rank, ranks, ident, self._edges)
        engine.claim_slot(slot, ranks, self._coll)
        if slot != 0:  # a dropped communicator gives its context slot back
            weakref.finalize(self, engine.release_slot, slot)
        if topo is not None:  # a topology connects to its neighbors at once
            for q in set(topo.neighbors) - {self._rank}:
                self._use(q)
                engine.connect(ranks[q])

    @property
    def rank(self) -> int:
        """This process's rank in the communicator."""
        return self._rank

    def __repr__(self) -> str:
        return f"<Comm rank={self._rank} size={self.size} ctx={self._ctx}>"

    # -- collectives --------------------------------------------------------
    # Each method validates its arguments on the calling rank, asks
    # ``plan`` for the algorithm (by this communicator's kind and size, the
    # payload and the process's forced algorithms), builds the call's
    # channel (tag + signature, which names the algorithm) and runs the
    # registered body. Where a rank may finish without hearing from every
    # other (a root that only sends, a leaf that only sends up), ``agree()``
    # follows, so that ranks that called different things all raise, none
    # returns; not on a communicator that may use its edges only, as the
    # agreement talks to ranks beyond them. Every wait of a call is a
    # channel's, and the channel turns a cancellation into a broken
    # communicator (``CollState.cancelled``): these methods need no handler.

    def _channel(self, name: str, *parts: Any, say: str = "") -> CollChannel:
        # ``say``: the call's arguments as a mismatch report shows them
        site = call_site()
        label = f"{say}()" if name == "new_comm" else f"{name}({say})"
        words = label + (f" at {site}" if site else "")
        return CollChannel(self._coll, signature(name, *parts), f"{name}{parts!r}", words)

    async def barrier(self) -> None:
        """Return once every rank of the communicator has entered ``barrier``.
        Cancelling it leaves the communicator unusable for collectives, on
        every rank (see :class:`Comm`)."""
        algo = plan("barrier", kind=self._kind, size=self.size, config=self._settings.config)
        await _BARRIER[algo](self._channel("barrier", algo))

    async def bcast(self, obj: Any, root: int = 0) -> Any:
        """Return the root's ``obj`` on every rank (the root gets ``obj`` itself).
        Cancelling it leaves the communicator unusable for collectives, on
        every rank (see :class:`Comm`)."""
        root = self._root(root)
        if self._edges is not None:  # the kind decides: every rank knows it
            algo = plan("bcast", kind=self._kind, size=self.size, config=self._settings.config)
            return await _BCAST[algo](
                self._channel("bcast", algo, root, say=f"root={root}"), obj, root
            )
        # Only the root knows the payload: it chooses and says so (bcast.announced).
        ch = self._channel("bcast", root, say=f"root={root}")
        if self.size == 1:
            return obj
        algo = ""
        if self._rank == root:
            seg = is_segmentable(obj)
            algo = plan(
                "bcast",
                kind=self._kind,
                size=self.size,
                nbytes=obj.nbytes if seg else 0,
                segmentable=seg,
                config=self._settings.config,
            )
        out = await bcast.announced(ch, obj, root, algo)
        await ch.agree()
        return out

    async def scatter(self, seq: Sequence[Any] | None, root: int = 0) -> Any:
        """Rank i gets ``seq[i]`` of the root's ``seq`` (ignored elsewhere).
        Raises ``ValueError`` at the root if ``len(seq) != size``.
        Cancelling it leaves the communicator unusable for collectives, on
        every rank (see :class:`Comm`)."""
        root = self._root(root)
        if self._rank == root:
            self._check_seq(seq, "scatter")
        algo = plan("scatter", kind=self._kind, size=self.size, config=self._settings.config)
        ch = self._channel("scatter", algo, root, say=f"root={root}")
        item = await _SCATTER[algo](ch, seq, root)
        if self._edges is None:
            await ch.agree()
        return item

    async def gather(self, obj: Any, root: int = 0) -> list[Any] | None:
        """A list of every rank's ``obj`` in rank order at ``root``; None elsewhere.
        Cancelling it leaves the communicator unusable for collectives, on
        every rank (see :class:`Comm`)."""
        root = self._root(root)
        algo = plan("gather", kind=self._kind, size=self.size, config=self._settings.config)
        ch = self._channel("gather", algo, root, say=f"root={root}")
        items: list[Any] | None = await _GATHER[algo](ch, obj, root)
        if self._edges is None:
            await ch.agree()
        return items

    async def allgather(self, obj: Any) -> list[Any]:
        """A list of every rank's ``obj`` in rank order, on every rank.
        Cancelling it leaves the communicator unusable for collectives, on
        every rank (see :class:`Comm`)."""
        algo = plan("allgather", kind=self._kind, size=self.size, config=self._settings.config)
        items: list[Any] = await _ALLGATHER[algo](self._channel("allgather", algo), obj)
        return items

    async def reduce(self, obj: Any, op: Op = SUM, root: int = 0) -> Any:
        """``op`` over every rank's ``obj`` (in rank order) at ``root``; None
        elsewhere. Arrays reduce element-wise; the caller's are never changed.
        Cancelling it leaves the communicator unusable for collectives, on
        every rank (see :class:`Comm`)."""
        root, op = self._root(root), self._op(op)
        algo = plan("reduce", kind=self._kind, size=self.size, config=self._settings.config)
        ch = self._channel(
            "reduce", algo, root, op_id(op), payload_sig(obj), say=_say(obj, op, root=root)
        )
        out = await _REDUCE[algo](ch, obj, op, root)
        if self._edges is None:
            await ch.agree()
        return out

    async def allreduce(self, obj: Any, op: Op = SUM) -> Any:
        """``op`` over every rank's ``obj``, bit-identical on every rank.
        Arrays reduce element-wise into a new array; the caller's is never
        changed. Every rank must pass the same dtype and shape.
        Cancelling it leaves the communicator unusable for collectives, on
        every rank (see :class:`Comm`)."""
        op = self._op(op)
        seg = is_segmentable(obj)
        algo = plan(
            "allreduce",
            kind=self._kind,
            size=self.size,
            nbytes=obj.nbytes if seg else 0,
            segmentable=seg,
            commute=op.commute,
            config=self._settings.config,
        )
        ch = self._channel("allreduce", algo, op_id(op), payload_sig(obj), say=_say(obj, op))
        return await _ALLREDUCE[algo](ch, obj, op)

    async def alltoall(self, seq: Sequence[Any] | np.ndarray[Any, Any]) -> list[Any]:
        """Rank i sends ``seq[j]`` to rank j; returns what every rank sent
        this one, in rank order. ``seq`` is a sequence of ``size`` items, or
        one array of ``size`` rows (the items): then every rank must pass an
        array of the same dtype and shape (a ``CollectiveMismatchError``
        otherwise), and the algorithm is chosen by the rows' size. Raises
        ``ValueError`` if ``len(seq) != size``.
        Cancelling it leaves the communicator unusable for collectives, on
        every rank (see :class:`Comm`)."""
        self._check_seq(seq, "alltoall")
        sig = alltoall_sig(seq)
        nbytes = item_bytes(sig, self.size)
        algo = plan(
            "alltoall",
            kind=self._kind,
            size=self.size,
            nbytes=nbytes,
            segmentable=nbytes > 0,
            config=self._settings.config,
        )
        items: list[Any] = await _ALLTOALL[algo](self._channel("alltoall", algo, sig), seq)
        return items

    async def reduce_scatter(self, seq: Sequence[Any], op: Op = SUM) -> Any:
        """Rank i gets ``op`` over every rank's ``seq[i]``, in rank order.
        Raises ``ValueError`` if ``len(seq) != size``.
        Cancelling it leaves the communicator unusable for collectives, on
        every rank (see :class:`Comm`)."""
        self._check_seq(seq, "reduce_scatter")
        op = self._op(op)
        algo = plan("reduce_scatter", kind=self._kind, size=self.size, config=self._settings.config)
        ch = self._channel(
            "reduce_scatter", algo, op_id(op), [payload_sig(x) for x in seq], say=f"op={op_id(op)}"
        )
        return await _REDUCE_SCATTER[algo](ch, seq, op)

    async def scan(self, obj: Any, op: Op = SUM) -> Any:
        """Inclusive prefix: ``op`` over the objects of ranks 0..rank.
        Cancelling it leaves the communicator unusable for collectives, on
        every rank (see :class:`Comm`)."""
        op = self._op(op)
        algo = plan("scan", kind=self._kind, size=self.size, config=self._settings.config)
        ch = self._channel("scan", algo, op_id(op), payload_sig(obj), say=_say(obj, op))
        out = await _SCAN[algo](ch, obj, op)
        if self._edges is None:
            await ch.agree()
        return working_copy(out) if out is obj else out

    async def exscan(self, obj: Any, op: Op = SUM) -> Any:
        """Exclusive prefix: ``op`` over the objects of ranks 0..rank-1;
        None at rank 0.
        Cancelling it leaves the communicator unusable for collectives, on
        every rank (see :class:`Comm`)."""
        op = self._op(op)
        algo = plan("exscan", kind=self._kind, size=self.size, config=self._settings.config)
        ch = self._channel("exscan", algo, op_id(op), payload_sig(obj), say=_say(obj, op))
        out = await _EXSCAN[algo](ch, obj, op)
        if self._edges is None:
            await ch.agree()
        return out

    # -- communicators -------------------------------------------------------
    async def _new_slot(self, *what: Any) -> tuple[int, int]:
        """A context slot free on every rank of this communicator (MPI's
        context-id agreement: OR the masks of used slots, take the lowest
        free bit), so the new communicator's messages never meet another's,
        and the new communicator's identity: the same on its ranks, another
        for each communicator that takes the slot (see ``CollState.ident``).
        ``what`` goes into the call's signature: ranks creating different
        things raise CollectiveMismatchError."""
        mask = 0
        for s in self._engine.slots:
            mask |= 1 << s
        ch = self._channel("new_comm", *what, say=str(what[0]) if what else "")
        used = await allreduce.recursive_doubling(ch, mask, BOR)
        slot = 0
        while used >> slot & 1:
            slot += 1
        return slot, ch.ident

    async def split(self, color: int | None, key: int = 0) -> Comm | None:
        """Partition the ranks by ``color``: ranks with the same colour form a
        new communicator, ordered by ``key`` then by rank here. Ranks passing
        ``color=None`` take part but get None. Collective.
        Cancelling it leaves the communicator unusable for collectives, on
        every rank (see :class:`Comm`)."""
        if color is not None:
            color = as_int(color, "color")
            if color < 0:
                raise ValueError(f"color must be >= 0 or None, got {color}")
        key = as_int(key, "key")
        entries = await self.allgather((color, key))
        slot, ident = await self._new_slot("split")
        if color is None:
            return None
        members = sorted((k, r) for r, (c, k) in enumerate(entries) if c == color)
        return Comm(self._engine, tuple(self._ranks[r] for _, r in members), slot, ident)

    async def dup(self) -> Comm:
        """A communicator of the same ranks with its own message space. Collective.
        Cancelling it leaves the communicator unusable for collectives, on
        every rank (see :class:`Comm`)."""
        return Comm(self._engine, self._ranks, *await self._new_slot("dup"))

    def used_slots(self) -> int:
        """*sync*: the context slots in use in this process, as a bit mask:
        what ranks that make a communicator by :meth:`join` OR together to
        find a slot free on all of them."""
        mask = 0
        for s in self._engine.slots:
            mask |= 1 << s
        return mask

    def join(self, ranks: Sequence[int], slot: int, ident: int) -> Comm:
        """*sync*: the communicator of world ranks ``ranks`` (this rank one
        of them) in context ``slot``, for ranks that agreed ``slot`` (free on
        each: not in the OR of their :meth:`used_slots`) and ``ident`` (the
        same on each, another for each communicator) by messages of their
        own, as the two groups of an intercommunicator do through their
        leaders. Raises ``ValueError`` when the slot is taken here."""
        if slot in self._engine.slots:
            raise ValueError(f"context slot {slot} is already in use on this rank")
        return Comm(self._engine, tuple(int(r) for r in ranks), slot, ident)

    async def create_topology(self, kind: str, **params: Any) -> _TopoComm:
        """A communicator of the same ranks, wired as ``kind`` ("ring",
        "tree" with ``arity``/``root``, "mesh" with ``dims``/``periodic``,
        "full"): a :class:`~zmqmesh.TopoComm` that connects to its neighbors
        only and runs its collectives over those edges. Collective; every
        rank must pass the same arguments. Raises ``ValueError``/``TypeError``
        for bad arguments at the call.
        Cancelling it leaves the communicator unusable for collectives, on
        every rank (see :class:`Comm`)."""
        topo = make_topology(kind, self.size, self._rank, **params)
        slot, ident = await self._new_slot("topology", kind, sorted(params.items()))
        return _TopoComm(self._engine, self._ranks, slot, topo, ident)

    # -- checkpoints ----------------------------------------------------------
    async def checkpoint(
        self, path: str | os.PathLike[str], state: Mapping[str, Any], *, step: int, keep: int = 2
    ) -> None:
        """Collective: save every rank's ``state`` (NumPy arrays and msgpack
        values) for ``step`` under ``path``, atomically, committed only once
        every rank's file is on disk; see :mod:`zmqmesh.checkpoint`."""
        await save_checkpoint(self, path, state, step=step, keep=keep)

    async def restore(self, path: str | os.PathLike[str]) -> tuple[int, dict[str, Any]] | None:
        """Collective: ``(step, state)`` of the newest committed checkpoint
        under ``path`` taken by a communicator of this size, or None."""
        return await load_checkpoint(self, path)

    # -- connections ----------------------------------------------------------
    @property
    def connections(self) -> int:
        """*sync*: how many peers this communicator has connected to."""
        return len(self._coll.peers)

    def stats(self) -> dict[str, Any]:
        """*sync*: what this rank did so far, the counters of ``launch
        --report``: ``peers`` maps each world rank to ``[messages sent, bytes
        sent, messages received, bytes received]``, ``calls`` each blocking
        call's name to ``[count, seconds]``, ``waiting`` the seconds spent in
        those calls, ``wall`` the seconds since ``init``, ``peak_rss`` bytes.
        Recording is on under ``--report`` or ``--trace``, or with
        ``ZMQMESH_STATS=1``; otherwise this raises ``RuntimeError``."""
        recorder = self._engine.recorder
        if recorder is None:
            raise RuntimeError(
                "stats are not being recorded: launch with --report, or set ZMQMESH_STATS=1"
            )
        return recorder.snapshot()

    def _check_seq(self, seq: Any, what: str) -> None:
        rows = what == "alltoall" and type(seq) is np.ndarray and seq.ndim >= 1
        if not rows and (isinstance(seq, (str, bytes)) or not isinstance(seq, Sequence)):
            raise TypeError(
                f"{what} needs a sequence of {self.size} items, not {type(seq).__name__}"
            )
        if len(seq) != self.size:
            raise ValueError(
                f"{what} needs exactly one item per rank: got {len(seq)} for a "
                f"communicator of size {self.size}"
            )

    @staticmethod
    def _op(op: Any) -> Op:
        if not isinstance(op, Op):
            raise TypeError(
                f"op must be a zmqmesh.Op such as zmqmesh.SUM or zmqmesh.Op(fn), "
                f"not {type(op).__name__}"
            )
        return op

    def _root(self, root: Any) -> int:
        r = as_int(root, "root")
        if not 0 <= r < self.size:
            raise ValueError(f"root {r} out of range for a communicator of size {self.size}")
        return r


class _TopoComm(Comm, TopoComm):
    """What ``create_topology`` returns: a :class:`Comm` over a topology
    (its kind chooses the collectives' algorithms), with the
    :class:`TopoComm` face."""

    __repr__ = TopoComm.__repr__

    def __init__(
        self, engine: Engine, ranks: tuple[int, ...], slot: int, topo: Topology, ident: int = 0
    ) -> None:
        super().__init__(engine, ranks, slot, ident, topo)
        self._topo = topo


def _say(obj: Any, op: Op, **more: Any) -> str:
    """A reduction's arguments in a mismatch report: operand, op, root."""
    sig = payload_sig(obj)
    what = f"{np.dtype(sig[1]).name}{list(sig[2])}" if sig[0] == "array" else type(obj).__name__
    return ", ".join([what, f"op={op_id(op)}", *(f"{k}={v}" for k, v in more.items())])
