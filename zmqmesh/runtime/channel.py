"""One collective call on the wire: tags, signatures, mismatch detection.

Theory of operation. Every communicator numbers its collective calls; call
``n`` uses tag ``n`` on the communicator's collective context, and every
message it sends carries in the envelope's ``aux`` field a 64-bit signature
of what this rank called: the collective's name, the algorithm, the root,
the op and (for reductions) the array's dtype and shape. Ranks that called
the same thing produce the same signature.

A mismatch is found wherever a message of call ``n`` meets a rank whose own
call ``n`` has another signature: when a receive of the call takes it, when
the rank enters call ``n`` and finds it already queued, or when it arrives
for a call the rank already finished. Mismatched calls can also leave every
rank waiting with nothing in flight (each thinks another is the root), so
a receive that has waited ``CHECK_AFTER`` seconds sends the peer it waits
for a *check* notice with its call number and signature; the peer compares
it with its own call ``n`` (now, or when it gets there). The rank that finds it marks the
communicator's collectives broken, fails every collective receive waiting
on it, and sends an abort notice (a CTRL message) to every member, which
does the same on arrival. From then on every collective on that
communicator raises :class:`CollectiveMismatchError` at once, on every rank.
A rank that only sends in a call (a bcast root) could return before any of
that reaches it, so such calls end with :meth:`CollChannel.agree`.

The error names both calls as the user wrote them, e.g. ``rank 1 called
bcast(root=0) at b.py:7 while rank 0 called allreduce(int, op=SUM) at
b.py:5 (collective #1 on the world communicator)``: every call records its
words and call site (``Comm._channel``), the abort notice carries the
reporter's, and every rank that gets one answers with its own (a
``because`` notice; to every member when its call is not the reporter's).
A rank holds its waiting calls' errors until words of a call unlike its own
have come, or ``WORDS_WAIT`` seconds have passed.

A call cancelled on one rank (``asyncio.CancelledError`` reaching any of
its waits) breaks the communicator the same way, with a reason that names
the call and the rank: the other ranks may be waiting for messages it will
never send, or may have sent it messages (lent shared-memory blocks among
them) it will never take. The cancelled rank marks the state broken and
sends the abort before the CancelledError goes on. Once broken, the
engine drops what is queued for the collective context and what arrives
for it later (giving shared memory back to its senders), and a send
waiting for a lent block to come back stops waiting: nothing of a broken
communicator's calls is ever matched again, and no rank stays blocked on
one.

Invariants: the signature of call ``n`` is recorded before any of its
messages is sent or matched; a broken communicator never completes another
collective; a cancelled call leaves its communicator broken on the rank
where it was cancelled, before the cancellation propagates.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np

from zmqmesh.collectives.signature import signature
from zmqmesh.collectives.tree import Edges, Tree
from zmqmesh.errors import CollectiveMismatchError, RankFailedError
from zmqmesh.matching import ANY_SOURCE, Selector
from zmqmesh.wire import Envelope, Kind, decode, encode, peek_envelope

if TYPE_CHECKING:
    from zmqmesh.runtime.engine import Engine

__all__ = ["CollChannel", "CollState"]

# How many finished calls keep their signature for late-arrival checks.
_RECENT = 64
# Seconds a collective receive waits before asking its peer to compare calls.
CHECK_AFTER = 0.5
# The longest gap between two such requests.
CHECK_MAX_GAP = 8.0
# Seconds a rank that found a mismatch waits for the other rank's words.
WORDS_WAIT = 1.0
_RULE = (
    "(ranks must call the same collectives, with the same root, op, dtype and "
    "shape, in the same order)"
)


def _call(words: str) -> str:
    """The call of a call's words, without where it was made."""
    return words.partition(" at ")[0]


class CollState:
    """The collective bookkeeping of one communicator on one rank."""

    def __init__(
        self,
        engine: Engine,
        ctx: int,
        rank: int,
        ranks: tuple[int, ...],
        ident: int = 0,
        edges: Edges | None = None,
    ) -> None:
        self.engine = engine
        self.edges = edges  # the spanning trees of a communicator that may use its edges only
        self.ctx = ctx  # the collective context id
        # Which communicator of this context: a notice about calls of an
        # earlier one that used the slot (a late check) must not count here.
        self.ident = ident
        self.rank = rank  # this rank in the communicator
        self.ranks = ranks  # communicator rank -> world rank
        self.seq = 0
        # seq -> (sig, what, the call as the user wrote it and where)
        self.recent: OrderedDict[int, tuple[int, str, str]] = OrderedDict()
        self.broken: str | None = None
        self.checks: dict[int, tuple[int, int]] = {}  # seq -> (sig, rank) asked by peers
        self.peers: set[int] = set()  # communicator ranks this rank has sent to
        self.dead: RankFailedError | None = None  # a member is gone: collectives fail
        # Completed when the collectives break: what waits for something no
        # receive covers (a send's lent block coming back) waits on it too.
        self._broke: asyncio.Future[None] | None = None
        # A mismatch found here waits a moment for the other rank's words
        # (its call and line) before the waiting calls raise: (call, peer,
        # timer) while it does, and the futures held until then.
        self._holding: tuple[int, int, asyncio.TimerHandle] | None = None
        self._held: list[asyncio.Future[Any]] = []
        self._told: dict[int, list[tuple[int, str]]] = {}  # call -> other ranks' words

    def begin(self, sig: int, what: str, words: str = "") -> int:
        """Start the next call; returns its tag. Raises if broken or if a
        message of this call with another signature is already queued."""
        told = self._told.get(self.seq + 1) if self.broken is not None else None
        if self.broken is not None and not told:
            raise CollectiveMismatchError(self.broken)
        if told:  # broken at this very call before this rank got here
            self.recent[self.seq + 1] = (sig, what, words)
            if story := self._story(self.seq + 1):
                raise CollectiveMismatchError(story)
            if self._holding is None:  # the other call's words may follow: the call
                self._hold(self.seq + 1, told[0][0])  # goes on, and its waits raise
            self.seq += 1
            return self.seq
        if self.dead is not None:
            raise RankFailedError(self.dead.rank, self.dead.detail)
        self.seq += 1
        tag = self.seq
        self.recent[tag] = (sig, what, words or what)
        while len(self.recent) > _RECENT:
            self.recent.popitem(last=False)
        for source, _, msg in self.engine.matcher.scan(Selector(self.ctx, ANY_SOURCE, tag)):
            if peek_envelope(msg).aux != sig:
                self.mismatch(tag, source)
                return tag  # waiting for the peer's words: the call's receives raise
        asked = self.checks.pop(tag, None)
        if asked is not None and asked[0] != sig:
            self.mismatch(tag, asked[1])
        return tag

    def lost(self, rank: int, detail: str) -> None:
        """Member ``rank`` is gone: this communicator's collectives fail from
        now on (its waiting receives are failed by the engine)."""
        if self.dead is None:
            self.dead = RankFailedError(rank, detail)

    def control(self, source: int, payload: Any) -> None:
        """A CTRL message from communicator rank ``source``."""
        if not isinstance(payload, tuple) or len(payload) < 2 or payload[-1] != self.ident:
            return  # malformed, or about an earlier communicator of this slot
        if payload[0] in ("abort", "because") and len(payload) in (4, 5):
            told = self._told.setdefault(payload[-3], []) if type(payload[-3]) is int else []
            if type(payload[-2]) is str and payload[-2] and len(told) < 8:
                told.append((source, payload[-2]))  # (also for a rank not at that call yet)
        if payload[0] == "abort" and len(payload) in (3, 5):
            tag = payload[2] if len(payload) == 5 and type(payload[2]) is int else 0
            mine, story = self._words(tag), self._story(tag)
            # (a rank whose call is the reporter's own learns nothing from its words)
            theirs = payload[3] if len(payload) == 5 and type(payload[3]) is str else ""
            differs = bool(mine) and bool(theirs) and _call(theirs) != _call(mine)
            if mine and not story and self.broken is None:  # the other call's words may follow
                self._hold(tag, source)
            self.fail(story or f"rank {source} reported: {payload[1]}", notify=False)
            held = self._holding
            if story and held is not None and held[0] == tag:
                self._release(story)
            # The reporter waits for our words to name both calls; when our
            # call differs from its, the ranks that called what it did wait too.
            for r in range(len(self.ranks)) if differs else [source] if mine else []:
                if r != self.rank:
                    self._send_ctrl(r, ("because", tag, mine, self.ident))
        elif payload[0] == "because" and len(payload) == 4:
            held = self._holding
            if held is not None and held[0] == payload[1] and (story := self._story(held[0])):
                self._release(story)  # the other call, at last: the story is whole
        elif payload[0] == "check" and len(payload) == 4:
            seq, sig = payload[1], payload[2]
            if self.broken is not None:  # the asker missed the abort: tell it again
                self._abort_to(source, self.broken)
                return
            known = self.recent.get(seq)
            if known is None:
                if seq > self.seq:  # not there yet: compare on arrival
                    self.checks[seq] = (sig, source)
            elif known[0] != sig:
                self.mismatch(seq, source, raise_=False)

    def ask(self, peer: int, tag: int, sig: int) -> None:
        """Ask ``peer`` to compare its call ``tag`` with ours."""
        if self.broken is None:
            env = Envelope(Kind.CTRL, self.ctx, self.rank, tag)
            self.engine.send(self.ranks[peer], encode(env, ("check", tag, sig, self.ident)))

    def check_arrival(self, env: Envelope) -> None:
        """Called for every collective message as it arrives."""
        known = self.recent.get(env.tag)
        if known is not None and known[0] != env.aux and self.broken is None:
            self.mismatch(env.tag, env.source, raise_=False)

    def mismatch(self, tag: int, source: int, *, raise_: bool = True) -> None:
        """Call ``tag`` does not match rank ``source``'s (-1: some rank's).
        With a known ``source``, the calls waiting here raise once its words
        came (its answer to the abort notice, which carries ours) or after
        ``WORDS_WAIT`` seconds; else at once (``raise_``: here)."""
        mine = self._words(tag) or "a collective"
        who = "another rank" if source < 0 else f"rank {source}"
        reason = (
            f"rank {self.rank} called {mine}, but {who} called something else there "
            f"({self._where(tag)})\n{_RULE}"
        )
        if source >= 0 and self.broken is None:
            self._hold(tag, source)
        self.fail(reason, notify=True, tag=tag)
        if self._holding is not None and (story := self._story(tag)):
            self._release(story)
        if raise_ and self._holding is None:
            raise CollectiveMismatchError(self.broken)

    def _story(self, tag: int) -> str:
        """Both calls of a mismatch at call ``tag``, once another rank's words
        for it that differ from this rank's call have come ("": not yet)."""
        mine = self._words(tag)
        for other, theirs in self._told.get(tag, ()) if mine else ():
            if _call(theirs) != _call(mine):
                return self._both(tag, other, theirs)
        return ""

    def _words(self, tag: int) -> str:
        """This rank's call ``tag`` as the user wrote it, and where ("": none)."""
        known = self.recent.get(tag)
        return known[2] if known is not None else ""

    def _where(self, tag: int) -> str:
        comm = "the world communicator" if self.ctx == 1 else f"communicator context {self.ctx}"
        return f"collective #{tag} on {comm}"

    def _both(self, tag: int, other: int, theirs: str) -> str:
        return (
            f"rank {self.rank} called {self._words(tag)} while rank {other} called "
            f"{theirs} ({self._where(tag)})\n{_RULE}"
        )

    def _hold(self, tag: int, source: int) -> None:
        """Hold the waiting calls until the words of a call ``tag`` unlike ours
        come (or ``WORDS_WAIT`` seconds pass)."""
        timer = asyncio.get_running_loop().call_later(WORDS_WAIT, self._release, None)
        self._holding = (tag, source, timer)

    def _release(self, reason: str | None) -> None:
        """End the wait for the other rank's words: the held calls raise."""
        if self._holding is not None:
            self._holding[2].cancel()
            self._holding = None
        if reason is not None:
            self.broken = reason
        err = CollectiveMismatchError(self.broken)
        held, self._held = self._held, []
        for fut in held:
            if not fut.done():
                fut.set_exception(err)

    def held(self) -> asyncio.Future[Any] | None:
        """For a call that would wait on a broken communicator: a future
        that raises with the whole story, while a mismatch waits for the
        other rank's words; None when there is nothing to wait for."""
        if self._holding is None:
            return None
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._held.append(fut)
        return fut

    def cancelled(self, tag: int) -> None:
        """This rank's call ``tag`` was cancelled mid-way: the communicator's
        collectives break here and, by the abort notice, on every member."""
        what = self.recent.get(tag, (0, "a collective", ""))[1].partition("(")[0]
        self.fail(
            f"collective call #{tag} ({what}) was cancelled on rank {self.rank}; "
            "this communicator's collectives are unusable from then on (get a "
            "new communicator from one whose collectives are intact, e.g. its "
            "parent's dup())",
            notify=True,
        )

    def broke(self) -> asyncio.Future[None]:
        """A future that completes once the collectives are broken."""
        if self._broke is None:
            self._broke = asyncio.get_running_loop().create_future()
            if self.broken is not None:
                self._broke.set_result(None)
        return self._broke

    def fail(self, reason: str, *, notify: bool, tag: int = 0) -> None:
        """Mark the communicator's collectives broken and wake every waiter
        (or hold them, while ``mismatch`` waits for the other rank's words);
        ``notify`` tells every member, with this rank's words for call ``tag``."""
        if self.broken is not None:
            return
        self.broken = reason
        err = CollectiveMismatchError(reason)
        for fut in self.engine.matcher.withdraw_all(self.ctx):
            if fut.done():
                continue
            if self._holding is not None:
                self._held.append(fut)
            else:
                fut.set_exception(err)
        # No call of this communicator will take what is queued for it.
        self.engine.drop_queued(self.ctx)
        if self._broke is not None and not self._broke.done():
            self._broke.set_result(None)
        if notify:
            for r in range(len(self.ranks)):
                if r != self.rank:
                    self._abort_to(r, reason, tag)

    def _abort_to(self, peer: int, reason: str, tag: int = 0) -> None:
        self._send_ctrl(peer, ("abort", reason, tag, self._words(tag), self.ident))

    def _send_ctrl(self, peer: int, payload: tuple[Any, ...]) -> None:
        env = Envelope(Kind.CTRL, self.ctx, self.rank, self.seq)
        world = self.ranks[peer]
        if world not in self.engine.failed:
            self.engine.send(world, encode(env, payload))


class CollChannel:
    """The :class:`~zmqmesh.collectives.tree.EdgeChannel` (a
    :class:`~zmqmesh.collectives.base.Channel` with trees) of one collective
    call."""

    __slots__ = ("_sig", "_state", "_tag", "rank", "size")

    def __init__(self, state: CollState, sig: int, what: str, words: str = "") -> None:
        self._state = state
        self._sig = sig
        self._tag = state.begin(sig, what, words)
        self.rank = state.rank
        self.size = len(state.ranks)

    def _post(
        self, peer: int, obj: Any, *, lend: bool = False, tag: int | None = None
    ) -> asyncio.Future[None] | None:
        st = self._state
        if st.broken is not None:  # the call fails (in ``_sent``): nothing more goes
            return None
        env = Envelope(Kind.COLL, st.ctx, st.rank, self._tag if tag is None else tag, self._sig)
        if peer != st.rank:
            st.peers.add(peer)
            if st.ranks[peer] in st.engine.failed:
                raise RankFailedError(peer, st.engine.failed[st.ranks[peer]])
        frames = encode(env, obj, allow_pickle=st.engine.allow_pickle)
        return st.engine.send(st.ranks[peer], frames, lend=lend)

    def _post_or_drop(
        self,
        peer: int,
        obj: Any,
        fut: asyncio.Future[Any],
        tag: int | None = None,
        *,
        lend: bool = False,
    ) -> asyncio.Future[None] | None:
        """``_post`` for a call that has posted the receive ``fut``: if the
        send cannot start, the receive is withdrawn."""
        try:
            return self._post(peer, obj, lend=lend, tag=tag)
        except BaseException:
            self._drop(fut)
            raise

    async def send(self, peer: int, obj: Any) -> None:
        await self._sent(self._post(peer, obj))

    async def _sent(self, waiter: asyncio.Future[None] | None) -> None:
        """Wait until a send completes; it may end because a member failed
        (the transport gives up on a dead peer), and then the call fails.
        A lent block comes back only when its receiver takes it, which a
        receiver whose collectives broke never does: the wait also ends
        when they break here, and then the call fails."""
        st = self._state
        if st.broken is not None:
            held = st.held()  # a mismatch waiting for the other call's words
            if held is not None:
                await held
            raise CollectiveMismatchError(st.broken)
        if waiter is None:
            return
        if not waiter.done():
            try:
                # Not ``await waiter``: cancelling this wait must not cancel
                # the transport's own future.
                await asyncio.wait((waiter, st.broke()), return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                st.cancelled(self._tag)
                raise
        if st.broken is not None:
            raise CollectiveMismatchError(st.broken)
        waiter.result()  # done: the wait ended and the collectives are intact
        if st.dead is not None:
            raise RankFailedError(st.dead.rank, st.dead.detail)

    async def _sent_then(
        self, waiter: asyncio.Future[None] | None, fut: asyncio.Future[Any]
    ) -> None:
        """``_sent(waiter)`` for a call that has posted the receive ``fut``
        already: if the send fails or is cancelled, the receive goes too."""
        try:
            await self._sent(waiter)
        except BaseException:
            self._drop(fut)
            raise

    def _drop(self, fut: asyncio.Future[Any]) -> None:
        """A receive of this call that nobody will take: withdraw it, or give
        back the shared memory of the message it took."""
        if not fut.done():
            fut.cancel()
        elif not fut.cancelled() and fut.exception() is None:
            self._state.engine.consumed(fut.result()[2])

    def _expect(self, peer: int, tag: int | None = None) -> asyncio.Future[Any]:
        if self._state.broken is not None:  # an abort came in mid-call
            held = self._state.held()  # (a mismatch waiting for the other's words)
            if held is not None:
                return held
            raise CollectiveMismatchError(self._state.broken)
        if self._state.dead is not None:
            raise RankFailedError(self._state.dead.rank, self._state.dead.detail)
        self._state.engine.connect(self._state.ranks[peer])  # heartbeats watch the peer
        selector = Selector(self._state.ctx, peer, self._tag if tag is None else tag)
        return self._state.engine.post_recv(selector)

    def _take(self, fut: asyncio.Future[Any]) -> Any:
        source, _, frames = fut.result()
        env, obj = decode(frames, allow_pickle=self._state.engine.allow_pickle)
        if env.aux != self._sig:
            self._state.mismatch(self._tag, source)
        return obj

    @property
    def ident(self) -> int:
        """An identity for a communicator this call creates: the same on
        every rank of the call, another for every call."""
        return signature("comm", self._state.ctx, self._state.ident, self._tag)

    async def agree(self) -> None:
        """Return only if every rank made this same call; else raise
        :class:`CollectiveMismatchError` on every rank.

        For the calls where some ranks only send (bcast's root, reduce's
        leaves) and so could return before anyone notices a mismatch. Each
        rank sends the lowest and highest signature it knows of around a
        dissemination pattern: after ceil(log2 size) rounds every rank
        knows them for all ranks (min and max are idempotent, so any size
        works), and all reach the same verdict. A rank that stopped at a
        mismatch sends nothing more, and then no rank completes. The
        messages use tag ``-n`` for call ``n``: user data never meets them.
        """
        lo = hi = self._sig
        tag, dist = -self._tag, 1
        while dist < self.size:
            source = (self.rank - dist) % self.size
            fut = self._expect(source, tag)
            dest = (self.rank + dist) % self.size
            await self._sent_then(self._post_or_drop(dest, (lo, hi), fut, tag), fut)
            if not fut.done():
                await self._wait(fut, source, check=False)
            got = decode(fut.result()[2], allow_pickle=False)[1]
            if type(got) is not tuple or len(got) != 2 or not all(type(x) is int for x in got):
                got = (-1, -1)  # not what a rank sends: a mismatch all the same
            lo, hi = min(lo, got[0]), max(hi, got[1])
            dist *= 2
        if lo != hi:
            self._state.mismatch(self._tag, -1)

    async def _wait(self, fut: asyncio.Future[Any], peer: int, *, check: bool = True) -> Any:
        if not fut.done():
            engine, world = self._state.engine, self._state.ranks[peer]
            engine.spin(world)
            nudge = _Nudge(self._state, peer, self._tag, self._sig)
            what = self._state.recent.get(self._tag, (0, "collective"))[1].partition("(")[0]
            engine.waiting(fut, f"{what} (collective #{self._tag}, from rank {peer})", world)
            try:
                await fut
            except asyncio.CancelledError:
                self._drop(fut)
                self._state.cancelled(self._tag)
                raise
            finally:
                nudge.handle.cancel()
                engine.done_waiting(fut)
        return self._take(fut) if check else None

    async def recv(self, peer: int) -> Any:
        return await self._wait(self._expect(peer), peer)

    async def sendrecv(self, dest: int, obj: Any, source: int) -> Any:
        fut = self._expect(source)
        await self._sent_then(self._post_or_drop(dest, obj, fut), fut)
        return await self._wait(fut, source)

    def tree(self, root: int | None = None) -> Tree:
        """The communicator's spanning tree rooted at ``root`` (None: its
        home); only for a communicator that may use its edges only."""
        edges = self._state.edges
        assert edges is not None, "a tree algorithm on a communicator without edges"
        return edges.tree(root)

    def empty(self, count: int, dtype: np.dtype[Any]) -> np.ndarray:
        # From the engine's results pool: recycled, and in shared memory when
        # the transport has it, so lending a result block to a same-host peer
        # (``exchange``) needs no copy.
        return self._state.engine.results.empty(count, dtype)

    async def exchange(self, dest: int, arr: np.ndarray, source: int, out: np.ndarray) -> None:
        fut = self._expect(source)
        waiter = self._post_or_drop(dest, arr, fut, lend=True)
        try:
            got = await self._wait(fut, source)
        except BaseException:
            self._drop(fut)
            raise
        out[...] = got
        del got
        # Give back at once what ``source`` lent: it waits for that, as this
        # rank may wait for ``dest``.
        self._state.engine.consumed(fut.result()[2])
        await self._sent(waiter)


class _Nudge:
    """While a collective receive waits, ask its peer to compare calls after
    CHECK_AFTER seconds, then again with doubling gaps: a notice can reach
    a rank before it has created the communicator, and a long wait is
    usually a legitimate one."""

    __slots__ = ("delay", "handle", "peer", "sig", "state", "tag")

    def __init__(self, state: CollState, peer: int, tag: int, sig: int) -> None:
        self.state, self.peer, self.tag, self.sig = state, peer, tag, sig
        self.delay = CHECK_AFTER
        self.handle = asyncio.get_running_loop().call_later(self.delay, self._fire)

    def _fire(self) -> None:
        self.state.ask(self.peer, self.tag, self.sig)
        self.delay = min(2 * self.delay, CHECK_MAX_GAP)
        self.handle = asyncio.get_running_loop().call_later(self.delay, self._fire)
