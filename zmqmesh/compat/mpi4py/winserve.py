"""One window's messages at one rank: the target side that serves other
ranks' one-sided operations, and the origin side that sends them.

Theory of operation. Every window has its own duplicate of its
communicator, whose point-to-point messages never meet the program's.
Instead of matching receives, each of that duplicate's messages is handed
to :meth:`Port._arrived` as it is read (``Comm.on_message``), on the thread
that runs the layer's event loop. A rank reads its input whenever it is
inside an MPI call (a blocking call runs the loop or reads the same-host
links until it completes), so a target answers while its program is in
any MPI call and at the latest at its next one, as MPICH does without a
progress thread; no thread and no task is kept for it.

- A *request* (tag ``_REQ``: ``(kind, seq, *args)``) is applied at once and
  whole, in the order it arrived (``_serve``): puts, gets and accumulates
  go to :class:`~winmem.Memory`, which makes accumulates element-wise
  atomic per target; ``lock`` and ``unlock`` go to the window's
  :class:`~winlock.LockTable`. Every request is answered (tag ``_ANS``:
  ``(seq, error, payload)``), a lock request once it is granted. An
  origin does not wait for its lock before sending what it does under it
  (as MPICH, ``Lock`` returns at once): until the lock is granted, the
  target holds that origin's later requests back, then applies them in
  order.
- An *answer* completes the origin's future of that ``seq`` (after its
  ``on_reply`` step has written a get's data into the origin buffer).
- A *note* (tag ``_NOTE``: ``"post"`` or ``"complete"``) counts toward the
  PSCW calls waiting for it.

An operation whose target is this rank is applied in place, without a
message. Every call that changes this state runs inside the loop
(``runner.now``/``runner.run``), so the loop's thread is the only one that
touches it.

Invariants: ``replies`` holds exactly the operations sent and not answered;
``held`` holds requests only of origins in ``lock_seq``;
``pending[t]`` the futures of those sent to ``t``; a granted lock request is
answered exactly once.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import winmem as M
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.winlock import LockError, LockTable
from zmqmesh.runtime.comm import Comm as ZComm

__all__ = ["Port", "error_of", "settle"]

log = logging.getLogger(__name__)

_REQ, _ANS, _NOTE = 1, 2, 3
_DEFER = object()  # a lock request not granted yet: answered later


def error_of(exc: BaseException) -> tuple[int, str]:
    """The MPI error class and message an operation's failure reports."""
    if isinstance(exc, MPIException):
        return exc.Get_error_class(), str(exc)
    if isinstance(exc, M.RangeError):
        return C.ERR_RMA_RANGE, f"Target memory is not part of the window: {exc}"
    if isinstance(exc, LockError):
        return C.ERR_RMA_SYNC, f"Wrong synchronization of RMA calls: {exc}"
    if isinstance(exc, KeyError):
        return C.ERR_OP, f"Invalid MPI_Op for one-sided accumulate: {exc}"
    return C.ERR_ARG, f"Invalid argument: {exc}"


class Port:
    """The messages and the target-side state of one window at one rank."""

    __slots__ = (
        "early",
        "handed",
        "held",
        "local_grant",
        "lock_seq",
        "locks",
        "memory",
        "notes",
        "pending",
        "rank",
        "replies",
        "seq",
        "waiters",
        "z",
    )

    def __init__(self, z: ZComm, memory: M.Memory) -> None:
        self.z = z
        self.rank = z.rank
        self.memory = memory
        self.locks = LockTable()
        self.lock_seq: dict[int, int] = {}  # origin -> seq of its lock request waiting
        self.held: dict[int, list[Any]] = {}  # origin -> its requests after that one
        self.local_grant: asyncio.Future[Any] | None = None
        self.seq = 0
        self.replies: dict[int, tuple[asyncio.Future[Any], Callable[[Any], None] | None]] = {}
        self.pending: defaultdict[int, set[asyncio.Future[Any]]] = defaultdict(set)
        self.handed: set[asyncio.Future[Any]] = set()  # pending ones a caller waits for
        self.notes: Counter[tuple[str, int]] = Counter()
        self.waiters: list[asyncio.Future[None]] = []
        # requests that came while the window was being made (``serve_early``)
        self.early: list[tuple[int, Any]] | None = []

    def open(self) -> None:
        """Inside the loop: start taking the window's messages."""
        self.z.on_message(self._arrived)

    def serve_early(self) -> None:
        """Inside the loop, at this rank's first call after the window's
        creation returned: serve the requests that came before, in order
        (the program may have written its memory in between, as a program
        may between a collective and its next call)."""
        early, self.early = self.early or [], None
        for src, req in early:
            self._serve(src, req)

    def close(self) -> None:
        """Inside the loop: stop taking them (``Free``, after its barrier)."""
        self.z.on_message(None)

    # -- arrivals ---------------------------------------------------------------------------------
    def _arrived(self, src: int, tag: int, obj: Any) -> None:
        try:
            if tag == _REQ and self.early is not None:
                self.early.append((src, obj))  # the window is being made here still
            elif tag == _REQ:
                self._serve(src, obj)
            elif tag == _ANS:
                self._answered(obj)
            elif tag == _NOTE:
                self.notes[(str(obj), src)] += 1
                self._wake()
            else:
                log.error("window message with unknown tag %d from rank %d dropped", tag, src)
        except Exception:  # a malformed message must not break the reader
            log.exception("window message from rank %d dropped", src)

    def _serve(self, src: int, req: Any) -> None:
        if src in self.lock_seq:
            # Its lock is not granted yet: what it sent after waits for it.
            self.held.setdefault(src, []).append(req)
            return
        kind, seq, args = req[0], int(req[1]), req[2:]
        try:
            if kind == "lock":
                self.lock_seq[src] = seq
            payload = self.apply(src, kind, args)
        except Exception as exc:
            self.lock_seq.pop(src, None)
            self._answer(src, seq, error_of(exc), None)
            return
        if payload is not _DEFER:
            self.lock_seq.pop(src, None)
            self._answer(src, seq, None, payload)

    def _answer(self, dest: int, seq: int, error: Any, payload: Any) -> None:
        sent = self.z.start_send((seq, error, payload), dest, _ANS)
        if sent is not None:
            sent.add_done_callback(_retrieve)

    def _answered(self, obj: Any) -> None:
        seq, error, payload = obj
        got = self.replies.pop(int(seq), None)
        if got is None:
            log.error("answer to an unknown window request %s dropped", seq)
            return
        fut, on_reply = got
        if fut.done():
            return
        if error is not None:
            fut.set_exception(MPIException(int(error[0]), str(error[1])))
            return
        try:
            if on_reply is not None:
                on_reply(payload)
        except Exception as exc:
            fut.set_exception(exc)
            return
        fut.set_result(None)

    def _granted(self, origins: Iterable[int]) -> None:
        for origin in origins:
            if origin == self.rank:
                grant, self.local_grant = self.local_grant, None
                if grant is not None and not grant.done():
                    grant.set_result(None)
            else:
                seq = self.lock_seq.pop(origin, None)
                if seq is not None:
                    self._answer(origin, seq, None, None)
                    for req in self.held.pop(origin, ()):
                        self._serve(origin, req)

    # -- what a request does to this rank's window ------------------------------------------------
    def apply(self, src: int, kind: str, args: Any) -> Any:
        """Apply one request of ``src`` here; its answer's payload, or
        ``_DEFER`` for a lock not granted yet. Raises what the request did wrong."""
        mem = self.memory
        if kind == "put":
            disp, count, wire, data = args
            buf, p = mem.locate(disp, M.typemap_of(wire), count)
            M.put(buf, p, data)
            return None
        if kind == "get":
            disp, count, wire = args
            buf, p = mem.locate(disp, M.typemap_of(wire), count)
            return M.get(buf, p)
        if kind == "acc":
            disp, count, wire, data, op, fetch = args
            tm = M.typemap_of(wire)
            buf, p = mem.locate(disp, tm, count)
            old = M.accumulate(buf, p, tm, data, op)
            return old if fetch else None
        if kind == "cas":
            disp, wire, origin, compare = args
            tm = M.typemap_of(wire)
            buf, p = mem.locate(disp, tm, 1)
            return M.compare_and_swap(buf, p, tm, origin, compare)
        if kind == "lock":
            (lock_type,) = args
            granted = self.locks.lock(src, int(lock_type))
            self._granted(o for o in granted if o != src)
            return None if src in granted else _DEFER
        if kind == "unlock":
            self._granted(self.locks.unlock(src))
            return None
        raise ValueError(f"unknown window request {kind!r}")

    # -- the origin side ------------------------------------------------------------------------
    def request(
        self,
        target: int,
        kind: str,
        *args: Any,
        on_reply: Callable[[Any], None] | None = None,
    ) -> asyncio.Future[Any]:
        """Inside the loop: send request ``kind`` to ``target`` (applied in
        place for this rank); the future of its answer. For this rank, an
        error raises here."""
        loop = asyncio.get_running_loop()
        if target == self.rank:
            if kind == "lock":
                grant = self.local_grant = loop.create_future()
                try:
                    payload = self.apply(target, kind, args)
                except Exception:
                    self.local_grant = None
                    raise
                if payload is _DEFER:
                    return grant
                self.local_grant = None
            else:
                payload = self.apply(target, kind, args)
            if on_reply is not None:
                on_reply(payload)
            fut: asyncio.Future[Any] = loop.create_future()
            fut.set_result(None)
            return fut
        self.seq += 1
        fut = loop.create_future()
        self.replies[self.seq] = (fut, on_reply)
        pending = self.pending[target]
        pending.add(fut)
        fut.add_done_callback(functools.partial(self._forget, pending))
        # a wait of this rank's: a blocking call may sleep in the kernel for
        # the answer (read and applied as it is read), and a hang report names it
        self.z.watch(fut, ("win.{}(target={})", kind, target), target)
        sent = self.z.start_send((kind, self.seq, *args), target, _REQ)
        if sent is not None:
            sent.add_done_callback(_retrieve)
        return fut

    def note(self, targets: Iterable[int], what: str) -> None:
        """Inside the loop: tell ``targets`` ``what`` (``"post"``, ``"complete"``)."""
        for t in targets:
            if t == self.rank:
                self.notes[(what, t)] += 1
                self._wake()
                continue
            sent = self.z.start_send(what, t, _NOTE)
            if sent is not None:
                sent.add_done_callback(_retrieve)

    def have_notes(self, what: str, sources: Iterable[int]) -> bool:
        """Whether a note ``what`` has come from each of ``sources``."""
        return all(self.notes[(what, s)] > 0 for s in sources)

    def take_notes(self, what: str, sources: Iterable[int]) -> None:
        for s in sources:
            self.notes[(what, s)] -= 1

    async def until_notes(self, what: str, sources: list[int]) -> None:
        """Wait until a note ``what`` has come from each of ``sources``, and take them."""
        while not self.have_notes(what, sources):
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.waiters.append(fut)
            await fut
        self.take_notes(what, sources)

    def _wake(self) -> None:
        waiters, self.waiters = self.waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)

    def outstanding(self, targets: Iterable[int] | None = None) -> list[asyncio.Future[Any]]:
        """The operations sent to ``targets`` (all when None) not answered
        yet, and those answered with an error since the last call: the
        call that completes them reports it, however early it came."""
        keys = list(self.pending) if targets is None else list(targets)
        found: list[asyncio.Future[Any]] = []
        for t in keys:
            pending = self.pending.get(t)
            if not pending:
                continue
            done = {f for f in pending if f.done()}
            # done after a caller took it: that caller reported it (its
            # ``_forget`` may not have run yet, the loop need not have turned)
            reported = done & self.handed
            found += [f for f in pending if f not in reported]
            if done:
                pending -= done
                self.handed -= reported
        self.handed.update(f for f in found if not f.done())
        return found

    def _forget(self, pending: set[asyncio.Future[Any]], fut: asyncio.Future[Any]) -> None:
        """An operation done: a failed one stays pending until ``outstanding``
        hands it to a caller, who reports its error."""
        handed = fut in self.handed
        self.handed.discard(fut)
        if handed or fut.cancelled() or fut.exception() is None:
            pending.discard(fut)


def _retrieve(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.error("a window message was not sent: %s", fut.exception())


async def settle(futures: list[asyncio.Future[Any]]) -> None:
    """Wait for every future; then raise the first one's error, if any."""
    if not futures:
        return
    if all(f.done() for f in futures):  # (operations done in place: no turn of the loop)
        first: BaseException | None = None
        for f in futures:
            err = asyncio.CancelledError() if f.cancelled() else f.exception()
            if err is not None and first is None:
                first = err
        if first is not None:
            raise first
        return
    got = await asyncio.gather(*futures, return_exceptions=True)
    for g in got:
        if isinstance(g, BaseException):
            raise g
