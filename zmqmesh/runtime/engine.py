"""The engine: one rank's transport and matching queues, in world ranks.

Theory of operation. Inbound messages arrive from the transport (or, for
messages a rank sends to itself, from ``send`` directly) as frame lists. The
engine peeks at the fixed-size envelope only, then hands the message to the
matcher; the payload is decoded later by the receive that takes it, because
only that call knows whether it wants copies. A message whose envelope does
not decode is logged and dropped; it cannot be attributed to a receive.

Waiters are asyncio futures: a posted receive's future resolves to
``(source, tag, frames)``; a blocking probe's future to the same triple
without consuming the message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from zmqmesh.collectives.base import Backing, ResultPool
from zmqmesh.collectives.plan import CollConfig, CollSettings
from zmqmesh.errors import DecodeError, RankFailedError
from zmqmesh.job.settings import UNEXPECTED_LIMIT
from zmqmesh.matching import ANY_SOURCE, ANY_TAG, Matcher, Selector
from zmqmesh.runtime.spin import KEEP, SpinGovernor
from zmqmesh.transport.transport import Transport
from zmqmesh.wire import Envelope, Kind, decode, payload_nbytes, peek_envelope, unpack_envelope

__all__ = ["Engine", "Received", "config"]


class CollState(Protocol):
    """What the engine asks of a communicator's collective state
    (``channel.CollState``) when messages, notices and failures arrive."""

    broken: str | None  # why its collectives broke (a mismatch)
    dead: RankFailedError | None  # a member is gone

    def check_arrival(self, env: Envelope) -> None: ...

    def control(self, source: int, payload: Any) -> None: ...

    def lost(self, rank: int, detail: str) -> None: ...


class Recorder(Protocol):
    """The counters of ``--report`` (``profile.Recorder``)."""

    def snapshot(self) -> dict[str, Any]: ...


log = logging.getLogger("zmqmesh.engine")

# A waiting call as reports name it: its words, or a template and the
# ranks and tags to put in it, formatted only when a report asks (a wait
# starts on every receive that sleeps: a string per wait costs more).
Call = str | tuple[Any, ...]


def call_words(call: Call) -> str:
    """``call`` in words; in a template, ANY for the wildcards (ANY_SOURCE
    and ANY_TAG are both -1)."""
    if isinstance(call, str):
        return call
    return str(call[0]).format(*("ANY" if v == ANY_SOURCE else v for v in call[1:]))


# (source rank in the message's communicator, tag, frames)
Received = tuple[int, int, list[Any]]

# What a queued message costs beyond its payload (Python objects, frames):
# counted too, so a flood of empty messages is bounded like any other.
_MESSAGE_OVERHEAD = 512
# Messages for communicators not (yet) created here may wait up to this many
# bytes; more are dropped (a peer a step ahead is fine, a flood is not).
ORPHAN_LIMIT = 64 * 2**20
# Control notices kept for communicators not created here yet.
_EARLY_CTRL_LIMIT = 4096
# The largest control notice read (bytes): checks and aborts are far smaller.
_CTRL_MAX = 64 * 1024
_P2P, _CTRL = int(Kind.P2P), int(Kind.CTRL)  # plain ints: every arrival compares

# The forced collective algorithms of this process's communicators. API.md
# makes ``zmqmesh.config`` process-wide, so the engines of a process share
# these by default; the runtime adds the job's at init (``use_coll_config``)
# and every collective call passes ``.config`` to ``plan``.
PROCESS_COLL = CollSettings()


def config(**algorithms: str | None) -> dict[str, str]:
    """Force collective algorithms for this process, e.g.
    ``zmqmesh.config(allreduce="ring")``; ``None`` returns a collective to
    automatic choice. Returns the forced settings now in effect.

    The environment variables ``ZMQMESH_ALLREDUCE``, ``ZMQMESH_BCAST``,
    ``ZMQMESH_ALLGATHER`` and ``ZMQMESH_ALLTOALL`` do the same for a whole
    job (read at ``init``; what this function sets wins). Every rank must
    force the same algorithms. A forced algorithm that cannot run a given
    call (ring or Rabenseifner allreduce of a non-array or with a
    non-commutative op, scatter-allgather bcast of a non-array) falls back
    to the default for that call; topology communicators other than
    ``full`` run their edges' algorithms whatever is forced. Raises
    ``ValueError`` for an unknown collective or algorithm name.
    """
    return dict(PROCESS_COLL.change(**algorithms).forced)


class Engine:
    """Point-to-point machinery of one rank (world ranks throughout)."""

    def __init__(
        self,
        rank: int,
        size: int,
        *,
        allow_pickle: bool,
        transport: Transport | None = None,
        unexpected_limit: int = UNEXPECTED_LIMIT,
        coll: CollSettings = PROCESS_COLL,
    ) -> None:
        self.rank = rank
        self.size = size
        self.allow_pickle = allow_pickle
        self.transport = transport
        self.matcher: Matcher[list[Any], asyncio.Future[Any]] = Matcher()
        self.closed = False
        # collective context id -> that communicator's collective state
        self.coll_states: dict[int, CollState] = {}
        # context slots in use here: slot k owns contexts 2k (p2p) and 2k+1
        self.slots: set[int] = {0}
        # context -> the world ranks of its communicator, in communicator order
        self.ctx_ranks: dict[int, tuple[int, ...]] = {}
        # world rank -> why it is gone (process exit, lost connection)
        self.failed: dict[int, str] = {}
        self._going: dict[int, tuple[str, float]] = {}  # reported gone, not yet failed
        self.recorder: Recorder | None = None  # counters of --report (profile.py)
        self.spin_budget = 0.0  # seconds a receive busy-polls before it sleeps
        self.spin_limit = 0.0  # the same for a caller that knows a core is free
        self.governor = SpinGovernor()  # spins only while spinning finds input
        # context -> what takes its point-to-point messages instead of receives
        self.handlers: dict[int, Callable[[list[Any]], None]] = {}
        # called with (world rank, detail) once a peer is declared failed
        self.failure_watchers: list[Callable[[int, str], None]] = []
        self._last_seen: dict[int, float] = {}  # world rank -> last arrival (while going)
        self.connected: set[int] = set()  # world ranks ``connect`` has opened (read-only)
        # Flow control: bytes of messages that arrived before their receive.
        # Past the limit the transport stops reading, ZeroMQ's queues fill to
        # their high-water marks and the senders' sends wait: memory stays
        # bounded however fast the senders are.
        self.unexpected_bytes = 0
        self.unexpected_limit = unexpected_limit
        self.orphan_bytes = 0  # the same, for contexts no communicator here has
        self._orphans: dict[int, int] = {}  # id(message) -> bytes counted
        # CTRL notices (aborts, checks) for a communicator this rank has not
        # created yet: replayed when it is, so a slow rank still learns of
        # a mismatch its peers found before it got there.
        self._early_ctrl: dict[int, list[list[Any]]] = {}
        # Memory for large collective results, recycled across calls; the
        # collectives reach it through their channels (``CollChannel.empty``).
        self.results = ResultPool()
        self.coll = coll  # the forced collective algorithms its communicators follow
        # What this rank waits in, for the launcher's hang reports
        # (runtime/hang.py): the future awaited -> (call, world peer or -1,
        # since), and the messages sent to and arrived from each world rank.
        self.waits: dict[asyncio.Future[Any], tuple[Call, int, float]] = {}
        self.sent_to = [0] * size
        self.arrived_from = [0] * size

    def use_shared_memory(self, backing: Backing | None) -> None:
        """Take large collective results from ``backing`` (the transport's
        shared-memory pool, once it is up; None: NumPy's memory again), so
        that a result block lent to a same-host peer is sent without a copy."""
        self.results.use(backing)

    def use_coll_config(self, config: CollConfig) -> None:
        """Follow what the job forces (``config``, from the job's settings)
        from now on, under what ``zmqmesh.config`` set."""
        self.coll.use_job(config)

    # -- inbound ------------------------------------------------------------
    def deliver(self, msg: list[Any], sender: int = -1) -> None:
        """Inbound path: ``[header bytes, *buffer views]`` from the transport,
        sent by world rank ``sender`` (its connection's routing id). A message
        whose envelope claims another source is dropped: no peer can speak
        for another."""
        if sender >= 0:
            try:
                env = unpack_envelope(msg[0])
            except DecodeError as exc:
                log.error("rank %d: dropped a message that does not decode: %s", self.rank, exc)
                return
            ranks = self.ctx_ranks.get(env.ctx)
            if ranks is not None and (env.source >= len(ranks) or ranks[env.source] != sender):
                log.error(
                    "rank %d: dropped a message from rank %d claiming to come from "
                    "rank %d of context %d",
                    self.rank,
                    sender,
                    env.source,
                    env.ctx,
                )
                return
            self.arrived_from[sender] += 1
            self._arrive(msg, env=env)
            return
        self._arrive(msg)

    def _arrive(self, msg: list[Any], *, front: bool = False, env: Envelope | None = None) -> None:
        if env is None:
            try:
                env = peek_envelope(msg)
            except DecodeError as exc:
                log.error("rank %d: dropped a message that does not decode: %s", self.rank, exc)
                return
        if self._going:
            ranks = self.ctx_ranks.get(env.ctx)
            if ranks is not None and env.source < len(ranks):
                self._last_seen[ranks[env.source]] = asyncio.get_running_loop().time()
        if env.ctx not in self.ctx_ranks and self.orphan_bytes > ORPHAN_LIMIT:
            log.error(
                "rank %d: dropped a message for unknown context %d: %d bytes already wait "
                "for communicators that do not exist here",
                self.rank,
                env.ctx,
                self.orphan_bytes,
            )
            return
        kind = env.kind
        if kind != _P2P:
            state = self.coll_states.get(env.ctx)
            if kind == _CTRL:
                self._control(state, msg)
                return
            if state is not None and state.broken is not None:
                # No call of a broken communicator takes it: a late message
                # of a cancelled or mismatched call is dropped at once, its
                # shared memory given back to the sender, which may wait.
                self.consumed(msg)
                return
            if state is not None and not front:
                state.check_arrival(env)
        if kind == _P2P and env.ctx in self.handlers:
            self.handlers[env.ctx](msg)
            return
        token, probes = self.matcher.arrive(env.ctx, env.source, env.tag, msg, front=front)
        while token is not None and token.done():
            # A receive cancelled since it was posted: its withdrawal (a done
            # callback) has not run yet. It must not take the message: the
            # next matching receive does, or the queue.
            token, probes = self.matcher.arrive(env.ctx, env.source, env.tag, msg, front=front)
        if token is not None:
            token.set_result((env.source, env.tag, msg))
        elif env.ctx not in self.ctx_ranks:
            # For a communicator not created here (yet): counted apart, so a
            # flood for contexts nobody will receive on cannot stall reading.
            self._orphans[id(msg)] = payload_nbytes(msg) + _MESSAGE_OVERHEAD
            self.orphan_bytes += self._orphans[id(msg)]
        else:
            self.unexpected_bytes += payload_nbytes(msg) + _MESSAGE_OVERHEAD
        for probe in probes:
            if not probe.done():
                probe.set_result((env.source, env.tag, msg))

    def _control(self, state: CollState | None, msg: list[Any]) -> None:
        size = sum(f.nbytes if type(f) is memoryview else len(f) for f in msg)
        if size > _CTRL_MAX:  # notices are small; these could pile up unread
            log.error("rank %d: dropped a control notice of %d bytes", self.rank, size)
            return
        if state is None:  # no communicator of that context here (yet)
            ctx = peek_envelope(msg).ctx
            if sum(map(len, self._early_ctrl.values())) >= _EARLY_CTRL_LIMIT:
                log.error("rank %d: dropped a control notice for context %d", self.rank, ctx)
            else:
                self._early_ctrl.setdefault(ctx, []).append(msg)
            return
        try:
            env, payload = decode(msg)
        except DecodeError as exc:
            log.error("rank %d: dropped a control message that does not decode: %s", self.rank, exc)
            return
        state.control(env.source, payload)

    # -- outbound -----------------------------------------------------------
    def send(
        self, dest: int, frames: Sequence[Any], *, lend: bool = False
    ) -> asyncio.Future[None] | None:
        """Send ``frames`` to world rank ``dest``; see ``Transport.send``."""
        if dest == self.rank:
            # The sender may reuse its buffers as soon as this returns; the
            # copies are writable, as frames received from ZeroMQ are.
            self._arrive([bytes(frames[0]), *(bytearray(f) for f in frames[1:])])
            return None
        if self.transport is None:
            raise ValueError(f"rank {dest} is not reachable from a singleton job")
        if dest in self.failed:
            raise RankFailedError(dest, self.failed[dest])
        sent = self.transport.send(dest, frames, lend=lend)
        self.sent_to[dest] += 1
        return sent

    def waiting(self, fut: asyncio.Future[Any], call: Call, peer: int) -> None:
        """A call is about to wait for ``fut`` (``peer``: the world rank it
        waits on, -1 for any; ``call``: see ``call_words``); ``done_waiting``
        when it stops."""
        self.waits[fut] = (call, peer, time.monotonic())

    def done_waiting(self, fut: asyncio.Future[Any]) -> None:
        self.waits.pop(fut, None)

    def claim_slot(self, slot: int, ranks: tuple[int, ...], state: CollState) -> None:
        """A communicator of world ranks ``ranks`` now owns ``slot``; control
        notices that came for it before are handled now."""
        self.slots.add(slot)
        self.coll_states[2 * slot + 1] = state
        self.ctx_ranks[2 * slot] = self.ctx_ranks[2 * slot + 1] = ranks
        for msg in self._early_ctrl.pop(2 * slot + 1, ()):
            self._control(state, msg)

    def set_handler(self, ctx: int, handler: Callable[[list[Any]], None] | None) -> None:
        """Hand every point-to-point message of context ``ctx`` to ``handler``
        as it arrives (those already queued first), instead of matching it
        to receives; None goes back to matching."""
        if handler is None:
            self.handlers.pop(ctx, None)
            return
        self.handlers[ctx] = handler
        while (found := self.matcher.take(Selector(ctx, ANY_SOURCE, ANY_TAG))) is not None:
            self._taken(found[2])
            handler(found[2])

    def release_slot(self, slot: int) -> None:
        """A communicator of this slot is gone: forget its contexts, unless
        its collectives broke (a mismatch, a lost member). Messages of those
        calls may still be queued or on their way, and a communicator that
        took the slot over would match them as its own: the slot stays
        taken, and ``new_comm``'s agreement skips it on every rank."""
        state = self.coll_states.get(2 * slot + 1)
        if state is not None and (state.broken is not None or state.dead is not None):
            return
        self.slots.discard(slot)
        for ctx in (2 * slot, 2 * slot + 1):
            self.ctx_ranks.pop(ctx, None)
            self.coll_states.pop(ctx, None)
            self._early_ctrl.pop(ctx, None)

    def connect(self, dest: int) -> None:
        """Open the connection to world rank ``dest`` now, not at first send."""
        if dest not in self.connected and dest != self.rank and self.transport is not None:
            self.transport.connect(dest)
            self.connected.add(dest)

    # -- receives and probes ------------------------------------------------
    def spin(self, source: int, budget: float | None = None) -> None:
        """Before a wait for world rank ``source`` (-1: any) sleeps: read
        what the same-host links hold now, busy-polling them for up to
        ``budget`` seconds (default ``spin_budget``; see ``LocalLinks.poll``)
        while spinning has been finding input (``spin.SpinGovernor``: on a
        loaded machine it does not), else looking once."""
        links = self.transport.local if self.transport is not None else None
        if links is None:
            return
        if budget is None:
            budget = self.spin_budget
        governor = self.governor
        if governor.rate < KEEP or budget <= 0:  # budget's common case inline
            budget = governor.budget(budget)
        if not budget:
            links.poll(0.0, source)
            return
        start = time.perf_counter()
        found = links.poll(budget, source)
        # a poll that returned at once did not spin (the links were busy)
        if found or time.perf_counter() - start >= budget / 2:
            self.governor.spun(found)

    def wait_input(self, fut: asyncio.Future[Any], timeout: float) -> bool:
        """For a caller whose event loop is not running while it waits (the
        mpi4py layer's blocking calls): when ``fut`` is a wait registered by
        ``waiting`` on a same-host peer, sleep in the kernel until the links
        have input and read it, until ``fut`` is done or ``timeout`` seconds
        have passed. Whether ``fut`` is done; at once for any other wait,
        which needs the loop (ZeroMQ, timers, flow control)."""
        rec = self.waits.get(fut)
        links = self.transport.local if self.transport is not None else None
        if rec is None or links is None or rec[1] not in links.paths:
            return fut.done()
        deadline = time.monotonic() + timeout
        while not fut.done():
            left = deadline - time.monotonic()
            # nothing read (time is up, the link closed, a write waits for
            # the loop): the loop takes over
            if left <= 0 or not links.poll(left, rec[1], sleep=True):
                break
        return fut.done()

    def consumed(self, msg: list[Any]) -> None:
        """The receive that took ``msg`` copied out what it needed: its shared
        memory goes back to the sender now (``ShmReader.consumed``)."""
        if self.transport is not None and self.transport.shm is not None:
            self.transport.shm.reader.consumed(msg)

    def drop_queued(self, ctx: int) -> None:
        """Drop every message queued for context ``ctx`` (its communicator's
        collectives broke: nothing will take them), giving their shared
        memory back to the senders."""
        sel = Selector(ctx, ANY_SOURCE, ANY_TAG)
        while (found := self.matcher.take(sel)) is not None:
            self._taken(found[2])
            self.consumed(found[2])

    def flush_releases(self) -> None:
        """Give back now the shared memory received arrays no longer use."""
        if self.transport is not None and self.transport.shm is not None:
            self.transport.flush_releases()

    def take(self, sel: Selector) -> Received | None:
        """The message a receive with ``sel`` takes now, if it is here."""
        self.flush_releases()
        found = self.matcher.take(sel)
        if found is not None:
            self._taken(found[2])
        return found

    def post_recv(self, sel: Selector, *, withdraw: bool = True) -> asyncio.Future[Received]:
        """A future that resolves to the message a receive with ``sel`` takes.
        Cancelling it withdraws the receive (without ``withdraw``, the caller
        must: ``matcher.cancel_recv``)."""
        self.flush_releases()
        fut: asyncio.Future[Received] = asyncio.get_running_loop().create_future()
        found = self.matcher.post_recv(sel, fut)
        if found is not None:
            fut.set_result(found)
            self._taken(found[2])
        elif withdraw:
            fut.add_done_callback(self._withdraw_recv)
        return fut

    def receive(self, sel: Selector) -> Received | asyncio.Future[Received]:
        """``take``, else ``post_recv(sel, withdraw=False)``, in one step:
        the message a receive with ``sel`` takes now if it is here, else the
        future it waits on (the caller withdraws it if cancelled)."""
        shm = self.transport.shm if self.transport is not None else None
        if shm is not None:  # flush_releases, inline
            shm.reader.flush()
        found = self.matcher.take(sel)
        if found is not None:
            self._taken(found[2])
            return found
        fut: asyncio.Future[Received] = asyncio.get_running_loop().create_future()
        self.matcher.post(sel, fut)
        return fut

    def over_limit(self) -> bool:
        """Whether the transport should stop reading for now."""
        return self.unexpected_bytes > self.unexpected_limit

    def _taken(self, msg: list[Any]) -> None:
        orphan = self._orphans.pop(id(msg), None)
        if orphan is not None:
            self.orphan_bytes -= orphan
            return
        self.unexpected_bytes -= payload_nbytes(msg) + _MESSAGE_OVERHEAD
        # hysteresis: reading resumes once half the allowance is free again
        if self.unexpected_bytes <= self.unexpected_limit // 2 and self.transport is not None:
            self.transport.resume()

    def _withdraw_recv(self, fut: asyncio.Future[Any]) -> None:
        if fut.cancelled():
            self.matcher.cancel_recv(fut)

    def give_back(self, fut: asyncio.Future[Received]) -> None:
        """A receive whose waiter was cancelled after its future resolved
        returns the message, ahead of later arrivals (nothing is lost)."""
        if fut.done() and not fut.cancelled() and fut.exception() is None:
            self._arrive(fut.result()[2], front=True)

    def post_probe(self, sel: Selector) -> asyncio.Future[Received]:
        fut: asyncio.Future[Received] = asyncio.get_running_loop().create_future()
        found = self.matcher.post_probe(sel, fut)
        if found is not None:
            fut.set_result(found)
        else:
            fut.add_done_callback(self._withdraw_probe)
        return fut

    def _withdraw_probe(self, fut: asyncio.Future[Any]) -> None:
        if fut.cancelled():
            self.matcher.cancel_probe(fut)

    def peek(self, sel: Selector) -> Received | None:
        return self.matcher.peek(sel)

    # -- failures -------------------------------------------------------------
    # A peer that is gone fails every wait that involves it, so no call blocks
    # forever after a failure (ULFM's rule): a receive from it, a probe of it,
    # a receive from any source once every other member is gone, and every
    # collective of a communicator it belongs to.

    # Messages a rank sent before it went away may still be on their way when
    # the news arrives by another path (or sit behind flow control): a peer is
    # declared failed only once nothing more has arrived from it for
    # FAIL_QUIET seconds, after reading everything queued.
    FAIL_QUIET = 0.2
    FAIL_QUIET_CLEAN = 1.0  # a rank that exited with status 0 flushed its sends

    def peer_failed(self, world: int, detail: str) -> None:
        """Learn that world rank ``world`` is gone (idempotent)."""
        if world == self.rank or world in self.failed or world in self._going or self.closed:
            return
        quiet = self.FAIL_QUIET_CLEAN if detail.endswith("code 0") else self.FAIL_QUIET
        self._going[world] = (detail, quiet)
        asyncio.get_running_loop().call_later(quiet, self._settle, world)

    def _settle(self, world: int) -> None:
        if self.closed or world not in self._going:
            return
        detail, quiet = self._going[world]
        if self.transport is not None:
            self.transport.drain_now(force=True)
        loop = asyncio.get_running_loop()
        last = self._last_seen.get(world)
        if last is not None and loop.time() - last < quiet:
            loop.call_later(quiet, self._settle, world)  # still arriving: wait
            return
        del self._going[world]
        self.failed[world] = detail
        if self.transport is not None:
            self.transport.peer_gone(world)
        self._fail_waiters(world)
        for watcher in list(self.failure_watchers):
            watcher(world, detail)

    def failure(self, ctx: int, source: int) -> RankFailedError | None:
        """The error for waiting on communicator rank ``source`` of ``ctx``
        (or on any source) if it can no longer send, else None."""
        ranks = self.ctx_ranks.get(ctx)
        if not ranks or not self.failed:
            return None
        if source == ANY_SOURCE:
            others = [w for w in ranks if w != self.rank]
            if others and all(w in self.failed for w in others):
                first = others[0]
                return RankFailedError(ranks.index(first), self.failed[first])
            return None
        world = ranks[source]
        if world in self.failed:
            return RankFailedError(source, self.failed[world])
        return None

    def _fail_waiters(self, world: int) -> None:
        if self.closed:
            return
        detail = self.failed[world]
        for ctx, ranks in self.ctx_ranks.items():
            if world not in ranks:
                continue
            state = self.coll_states.get(ctx)
            if state is not None:
                state.lost(ranks.index(world), detail)
        for sel, fut in list(self.matcher.waiters()):
            if fut.done():
                continue
            err = (
                RankFailedError(self.ctx_ranks[sel.ctx].index(world), detail)
                if sel.ctx in self.coll_states and world in self.ctx_ranks.get(sel.ctx, ())
                else self.failure(sel.ctx, sel.source)
            )
            if err is not None:
                self.matcher.cancel_recv(fut) or self.matcher.cancel_probe(fut)
                fut.set_exception(err)

    async def goodbye(self) -> None:
        """Before closing: wait until the live peers have read what this rank
        sent them (bounded by the transport's linger time)."""
        if self.transport is not None and not self.closed:
            await self.transport.goodbye(lambda: self.failed.keys() | self._going.keys())

    def close(self) -> None:
        """Close the transport and fail every waiter (idempotent)."""
        if self.closed:
            return
        self.closed = True
        self.results.use(None)  # before the shared memory behind it goes
        if self.transport is not None:
            self.transport.close(gone=frozenset(self.failed) | frozenset(self._going))
        for _, fut in list(self.matcher.waiters()):
            if not fut.done() and not fut.get_loop().is_closed():
                fut.set_exception(ConnectionError("zmqmesh was finalized"))
