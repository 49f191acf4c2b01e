"""Large same-host messages copied by both ends at once.

Theory of operation. A message sent by descriptor (``rndv.py``) is copied
by its receiver, in ``process_vm_readv`` calls: one core's worth of memory
bandwidth, while the sender's core sits idle in its wait. When the sender
is blocked until that very send completes (a blocking ``Send``, or
``Wait``/``Waitall`` on its request), it copies too: the transfer is cut
into chunks, the receiver reads them from the front, the sender writes
them (``process_vm_writev``) from the back, and they meet in the middle.

Claims. Each side keeps, in its own memory, how far it has claimed: the
receiver ``R`` (chunks below it are its), the sender ``S`` (chunks from it
on are its). A side writes its claim before it copies the chunk, and reads
the other's (a cross-memory read of 8 bytes) before it claims the next.
A read may be stale, so both may copy one chunk: the same bytes into a
receive that has not completed, which is harmless. No chunk is left to
neither: a side skips a chunk only when the other has claimed it, and a
claim is always followed by the copy (or by a report that it failed).

Messages, on a duplicate of the world kept for this (:class:`Exchange`),
handed to the exchange as they are read (``Comm.on_message``), each an
int64 array of rows naming transfers by their number ``ident`` (unique to
the sender), so that each reaches its transfer whatever order transfers
complete in:

- *ready* (to the sender): rows ``[ident, pid, dst, R's address]``: copy
  along into ``dst`` of process ``pid``. Receives matched in one turn of
  the loop ask in one message. The sender copies its part of each, the
  newest transfer first (the receiver starts from the oldest), at once,
  inside whatever call it is waiting in, and then says *done*.
- *done* (to the receiver): rows ``[ident, first]``, chunks from ``first``
  on are written: the receive completes (nothing writes into it later).
- *answer* (to the sender): rows ``[ident, ok, read]``, sent as soon as
  the receiver has read its part, chunks below ``read``: the send
  completes, its memory is not read again. Only when the sender claimed
  a chunk and could not write it (``first > read``) does the receiver read
  those chunks itself after the done, and answer a second time.

The answer does not wait for the done, so the two cross: the end of a
transfer costs one trip between the ranks, not two. A sender reads its
messages in order, so it has handled a ready before the answer after it.

Whether to ask. The sender's claim slot also says whether it is waiting
for this send now (``waiting``). The receiver sends a ready only then: the
sender cannot leave that wait before the send completes, so it answers;
a receive never waits on a sender busy outside MPI (it reads alone).
A peer that fails fails the transfers in flight with it.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from typing import Any

import numpy as np
import numpy.typing as npt

from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.rndv import readv, writev
from zmqmesh.runtime.comm import Comm as ZComm

__all__ = [
    "ALONE",
    "ASK_MIN",
    "CHUNK_MIN",
    "UNCLAIMED",
    "Exchange",
    "attach",
    "chunking",
    "exchange",
    "receiver_copy",
    "rest_copy",
    "sender_copy",
    "sender_waits",
    "slot",
]

CHUNK_MIN = 1 << 20  # a chunk costs two system calls more; below two, read alone
MAX_CHUNKS = 16
UNCLAIMED = 1 << 62  # a sender's claim before it has claimed any chunk
# Asking costs the receiver a wait for the sender's done, and a waiting
# sender is asleep: woken, it starts 50-200 us later here. Only a batch
# of transfers that takes one core longer than that is worth it.
ASK_MIN = 8 << 20
ALONE = -1  # a transfer left to its receiver alone (no ready was sent)

_READY, _DONE, _ANSWER = 0, 1, 2
_idents = itertools.count()
_state: dict[str, Exchange] = {}


def attach(comm: ZComm) -> None:
    """Copy along over ``comm``, a duplicate of the world no program sees
    (until this is called, every transfer is read by its receiver alone)."""
    _state["x"] = Exchange(comm)


def exchange() -> Exchange | None:
    """The exchange ``attach`` made, or None."""
    return _state.get("x")


class Exchange:
    """This process's transfers in flight with peers of the world, on the
    loop's thread (see the module docstring)."""

    def __init__(self, comm: ZComm) -> None:
        self.comm = comm
        self.ranks = {int(e): r for r, e in enumerate(comm._ranks)}
        self.sends: dict[int, _Send] = {}  # a sender's, by number
        # a receiver's: (peer, ident) -> the future of the sender's done
        self.recvs: dict[tuple[int, int], asyncio.Future[int]] = {}
        self.readies: dict[int, list[tuple[list[int], int]]] = {}  # peer -> (row, bytes)
        self.answers: dict[int, list[list[int]]] = {}  # the same for answers
        comm.on_message(self._arrived)
        comm.watch_failures(self._failed)

    def peer(self, comm: Any, rank: int) -> int | None:
        """The rank here of rank ``rank`` of ``comm`` (a zmqmesh
        communicator, or an intercommunicator's view of one), or None when
        the exchange cannot reach it (a communicator of another engine, or
        a process of another job: a spawned job's)."""
        if hasattr(comm, "union"):
            comm, rank = comm.union(rank)
        if comm._engine is not self.comm._engine:
            return None
        return self.ranks.get(comm._ranks[rank])

    # -- the sender's side --------------------------------------------------------------------
    def sending(
        self, peer: int, src: int, n: int, claim: npt.NDArray[np.int64]
    ) -> tuple[int, asyncio.Future[bool]]:
        """A transfer of ``n`` bytes at ``src`` to ``peer``: its number,
        and the future of the receiver's answer."""
        ident = next(_idents)
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.sends[ident] = _Send(fut, src, n, claim, peer)
        self.comm.watch(fut, ("send(dest={}) of a large message", peer), peer)
        return ident, fut

    def forget(self, ident: int) -> None:
        """The transfer ``ident`` is given up (its send was cancelled)."""
        self.sends.pop(ident, None)

    def _help(self, src: int, rows: Any) -> None:
        done = []
        for ident, pid, dst, r_addr in reversed(rows.tolist()):
            rec = self.sends.get(ident)
            if rec is None:  # (written by nobody here: the receiver reads it all)
                done.append([ident, UNCLAIMED])
                continue
            rec.first = sender_copy(pid, dst, r_addr, rec.src, rec.n, rec.claim)
            done.append([ident, rec.first])
        self._send(np.array(done, np.int64), src, _DONE)

    # -- the receiver's side ------------------------------------------------------------------
    def ask(
        self, peer: int, ident: int, dst: int, claim: npt.NDArray[np.int64], n: int
    ) -> asyncio.Future[int]:
        """Queue a ready for ``peer``'s transfer ``ident`` of ``n`` bytes
        (``flush`` sends it, or not); the future of the sender's done, or
        ``ALONE`` when ``flush`` left the transfer to this rank alone."""
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.recvs[(peer, ident)] = fut
        self.comm.watch(fut, ("recv(source={}) of a large message", peer), peer)
        row = [ident, os.getpid(), dst, claim.ctypes.data]
        self.readies.setdefault(peer, []).append((row, n))
        return fut

    def worth_asking(self, peer: int, n: int) -> bool:
        """Whether ``flush`` would send a ready for one more transfer of
        ``n`` bytes from ``peer`` now."""
        return n + sum(k for _, k in self.readies.get(peer, ())) >= ASK_MIN

    def flush(self, peer: int) -> None:
        """Send the readies and the answers queued for ``peer``, each kind
        in one message. Readies go only when their transfers come to
        ``ASK_MIN`` bytes together; else each is left to this rank alone."""
        queued = self.readies.pop(peer, None)
        if queued and sum(n for _, n in queued) >= ASK_MIN:
            self._send(np.array([row for row, _ in queued], np.int64), peer, _READY)
        elif queued:
            for row, _ in queued:
                fut = self.recvs.pop((peer, row[0]), None)
                if fut is not None and not fut.done():
                    fut.set_result(ALONE)
        rows = self.answers.pop(peer, None)
        if rows:
            self._send(np.array(rows, np.int64), peer, _ANSWER)

    def answer(self, peer: int, ident: int, ok: bool, read: int) -> None:
        """Answer ``peer``'s transfer ``ident`` now: whether the chunks
        below ``read`` could be read (a sender whose writes failed above
        them waits for the second answer, once the receiver read those)."""
        self._send(np.array([[ident, int(ok), read]], np.int64), peer, _ANSWER)

    def answer_later(self, peer: int, ident: int, ok: bool, read: int) -> None:
        """``answer``, queued: ``flush`` sends it (with the others queued
        by then, in one message)."""
        self.answers.setdefault(peer, []).append([ident, int(ok), read])

    # -- messages -----------------------------------------------------------------------------
    def _send(self, rows: npt.NDArray[np.int64], peer: int, tag: int) -> None:
        sent = self.comm.start_send(rows, peer, tag)
        if sent is not None:
            sent.add_done_callback(_retrieve)

    def _arrived(self, src: int, tag: int, rows: Any) -> None:
        if tag == _READY:
            self._help(src, rows)
        elif tag == _DONE:
            for ident, first in rows.tolist():
                fut = self.recvs.pop((src, ident), None)
                if fut is not None and not fut.done():
                    fut.set_result(first)
        elif tag == _ANSWER:
            for ident, ok, read in rows.tolist():
                rec = self.sends.get(ident)
                if rec is None:
                    continue
                if ok and rec.first > read and not rec.answered:
                    rec.answered = True  # its reads of what this rank failed to write come
                    continue
                del self.sends[ident]
                if not rec.fut.done():
                    rec.fut.set_result(bool(ok))

    def _failed(self, rank: int, detail: str) -> None:
        gone = MPIException(
            C.ERR_OTHER, f"rank {rank} failed during a large message on this host: {detail}"
        )
        for ident, rec in list(self.sends.items()):
            if rec.peer == rank:
                del self.sends[ident]
                if not rec.fut.done():
                    rec.fut.set_exception(gone)
        for key, fut in list(self.recvs.items()):
            if key[0] == rank:
                del self.recvs[key]
                if not fut.done():
                    fut.set_exception(gone)


class _Send:
    """A sender's transfer in flight: the future of the receiver's answer,
    the bytes (address, length), the claim slot, the receiver, and the
    first chunk from which on this rank wrote all (0 until it was asked)."""

    __slots__ = ("answered", "claim", "first", "fut", "n", "peer", "src")

    def __init__(self, fut: asyncio.Future[bool], src: int, n: int, claim: Any, peer: int) -> None:
        self.fut, self.src, self.n, self.claim, self.peer = fut, src, n, claim, peer
        self.first = 0
        self.answered = False


def _retrieve(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


def slot(waiting: bool) -> npt.NDArray[np.int64]:
    """A sender's claim slot for one transfer: ``[S, waiting]``."""
    return np.array([UNCLAIMED, int(waiting)], np.int64)


def chunking(n: int) -> tuple[int, int]:
    """``(chunk size, chunk count)`` of a transfer of ``n`` bytes."""
    size = max(CHUNK_MIN, -(-n // MAX_CHUNKS))
    size = -(-size // 4096) * 4096
    return size, -(-n // size)


def sender_waits(pid: int, slot_addr: int) -> bool:
    """Whether the sender ``pid``'s claim slot at ``slot_addr`` says it
    waits for the transfer now (False when it cannot be read)."""
    got = np.zeros(2, np.int64)
    return readv(pid, got.ctypes.data, slot_addr, got.nbytes) and bool(got[1])


def receiver_copy(
    pid: int, src: int, n: int, dst: int, s_addr: int, claim: npt.NDArray[np.int64]
) -> int:
    """The receiver's part: read chunks from the front of ``n`` bytes at
    ``src`` in process ``pid`` into ``dst`` here, while the sender's claim
    (at ``s_addr`` there) leaves them; ``claim[0]`` is ours. The count of
    chunks read (all below it are), or -1 when a read failed."""
    size, count = chunking(n)
    theirs = np.zeros(1, np.int64)
    at, i = theirs.ctypes.data, 0
    while i < count:
        if not readv(pid, at, s_addr, 8):
            return -1
        if i >= theirs[0]:
            break
        claim[0] = i + 1
        off = i * size
        if not readv(pid, dst + off, src + off, min(size, n - off)):
            return -1
        i += 1
    return i


def rest_copy(pid: int, src: int, n: int, dst: int, first: int, last: int) -> bool:
    """The receiver reads chunks ``first`` to ``last`` (excluded) itself:
    those the sender claimed and could not write."""
    size, _ = chunking(n)
    lo, hi = first * size, min(last * size, n)
    return hi <= lo or readv(pid, dst + lo, src + lo, hi - lo)


def sender_copy(
    pid: int, dst: int, r_addr: int, src: int, n: int, claim: npt.NDArray[np.int64]
) -> int:
    """The sender's part: write chunks from the back of ``n`` bytes at
    ``src`` here into ``dst`` in process ``pid``, while the receiver's
    claim (at ``r_addr`` there) leaves them; ``claim[0]`` is ours. The
    first chunk from which on all are written."""
    size, count = chunking(n)
    theirs = np.zeros(1, np.int64)
    at, j = theirs.ctypes.data, count
    while j > 0:
        if not readv(pid, at, r_addr, 8) or j - 1 < theirs[0]:
            break
        claim[0] = j - 1
        off = (j - 1) * size
        if not writev(pid, dst + off, src + off, min(size, n - off)):
            break
        j -= 1
    return j
