"""Rendezvous: how the ranks of a job learn each other's endpoints.

Theory of operation: one server (the launcher, or rank 0 when started by
``srun``/an MPI launcher) binds a ROUTER socket. Every rank connects a DEALER,
sends one ``hello`` frame (msgpack map: ``rank``, ``size``, ``job``, ``info``)
and waits. When all ``size`` distinct ranks have checked in, the server sends
each of them the same ``{"table": [info_0, ..., info_{size-1}]}``. A hello that
cannot belong to the job (wrong job id or size, rank out of range, a rank seen
twice) is answered with ``{"error": text}`` and otherwise ignored, so a
stray or hostile client never disturbs the job.

Invariants: the table is sent once, only when complete, and in rank order.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import zmq

from zmqmesh.errors import DecodeError, LaunchError
from zmqmesh.transport.security import Guard, JobKeys
from zmqmesh.wire.rendezvous import (
    NO_LAUNCHER,
    Ask,
    Failed,
    Hello,
    Refusal,
    SpawnAsk,
    SpawnNews,
    Table,
    decode_from_rank,
    decode_hello,
    decode_notice,
    decode_reply,
)

__all__ = ["RendezvousServer", "exchange", "notice_reader"]

log = logging.getLogger("zmqmesh.rendezvous")


class RendezvousServer:
    """A rendezvous server running in a daemon thread.

    ``endpoint`` is the address clients connect to. ``close()`` stops the
    thread and closes the socket; it is idempotent.
    """

    def __init__(
        self,
        size: int,
        job: str,
        *,
        bind: str = "tcp://127.0.0.1:*",
        keys: JobKeys | None = None,
        private: bool = False,
    ) -> None:
        if size < 1:
            raise ValueError(f"rendezvous size must be >= 1, got {size}")
        self.size = size
        self.job = job
        # a context of its own (``private``) for a server beside others in
        # one process: each has its own authentication handler
        self._own = private
        self._ctx: zmq.Context[Any] = zmq.Context() if private else zmq.Context.instance()
        self._sock = self._ctx.socket(zmq.ROUTER)
        self._sock.linger = 1000
        self._guard = Guard(self._ctx, keys) if keys is not None else None
        if keys is not None:
            keys.server(self._sock)
        try:
            self._sock.bind(bind)
        except zmq.ZMQError as exc:
            self._sock.close(linger=0)
            if self._guard is not None:
                self._guard.close()
            if private:
                self._ctx.term()
            raise LaunchError(f"cannot bind the rendezvous at {bind}: {exc}") from None
        self.endpoint: str = self._sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self._stop = threading.Event()
        # (rank, detail): rank failed; an Ask; (rank, bytes): for that rank alone
        self._notices: queue.Queue[tuple[int, str] | tuple[int, bytes] | Ask] = queue.Queue()
        self.on_spawn: Callable[[int, SpawnAsk], None] | None = None  # (see ``SpawnAsk``)
        self._asked = 0  # the last Ask's number
        self._answers: dict[int, dict[str, Any]] = {}  # rank -> its State's report
        self._answers_lock = threading.Lock()
        self.done = threading.Event()
        self.error: str | None = None
        self._thread = threading.Thread(target=self._serve, name="zmqmesh-rendezvous", daemon=True)
        self._thread.start()

    def _check(self, hello: Hello, seen: dict[int, Any]) -> str | None:
        if hello.job != self.job:
            return "hello for another job"
        if hello.size != self.size:
            return f"size mismatch: job has {self.size} ranks, rank says {hello.size!r}"
        if not 0 <= hello.rank < self.size:
            return f"rank {hello.rank!r} out of range for a job of {self.size}"
        if hello.rank in seen:
            return f"rank {hello.rank} checked in twice"
        return None

    def _serve(self) -> None:
        seen: dict[int, tuple[bytes, Any]] = {}
        try:
            while not self._stop.is_set() and len(seen) < self.size:
                if not self._sock.poll(100):
                    continue
                parts = self._sock.recv_multipart()
                if len(parts) != 2:
                    continue
                ident, body = parts
                try:
                    hello = decode_hello(body)
                except DecodeError as exc:
                    problem: str | None = f"malformed hello: {exc}"
                else:
                    problem = self._check(hello, seen)
                if problem is not None:
                    self._sock.send_multipart([ident, Refusal(problem).encode()])
                    continue
                seen[hello.rank] = (ident, hello.info)
            if len(seen) == self.size:
                table = Table([seen[r][1] for r in range(self.size)]).encode()
                for r in range(self.size):
                    self._sock.send_multipart([seen[r][0], table])
                self.done.set()
                self._notify_loop([seen[r][0] for r in range(self.size)])
        except zmq.ZMQError as exc:  # context terminated during shutdown
            if not self._stop.is_set():
                self.error = str(exc)

    def _notify_loop(self, idents: list[bytes]) -> None:
        """After the table: pass notices on to every rank still connected
        (each rank keeps its rendezvous socket as this channel), and keep
        the ranks' answers to the last :class:`Ask`."""
        rank_of = {ident: r for r, ident in enumerate(idents)}
        while not self._stop.is_set():
            while self._sock.poll(0):
                self._answer(rank_of, self._sock.recv_multipart())
            try:
                item = self._notices.get(timeout=0.02)
            except queue.Empty:
                continue
            if isinstance(item, Ask):
                notice, skip = item.encode(), -1
            elif isinstance(item[1], bytes):
                with contextlib.suppress(zmq.ZMQError, IndexError):
                    self._sock.send_multipart([idents[item[0]], item[1]], zmq.NOBLOCK)
                continue
            else:
                notice, skip = Failed(item[0], item[1]).encode(), item[0]
            for r, ident in enumerate(idents):
                if r != skip:
                    with contextlib.suppress(zmq.ZMQError):
                        self._sock.send_multipart([ident, notice], zmq.NOBLOCK)

    def _answer(self, rank_of: dict[bytes, int], parts: list[bytes]) -> None:
        if len(parts) != 2 or parts[0] not in rank_of:
            return
        try:
            state = decode_from_rank(parts[1])
        except DecodeError as exc:
            log.warning("dropped a message from rank %d: %s", rank_of[parts[0]], exc)
            return
        if isinstance(state, SpawnAsk):
            if self.on_spawn is not None:
                self.on_spawn(rank_of[parts[0]], state)
            else:
                why = "the job was not started by zmqmesh launch, which starts processes"
                news = SpawnNews(state.n, -1, NO_LAUNCHER, why)
                self.tell(rank_of[parts[0]], news.encode())
            return
        with self._answers_lock:
            # only a rank's own answer, to the last question
            if state.n == self._asked and state.rank == rank_of[parts[0]]:
                self._answers[state.rank] = state.report

    def notify_failure(self, rank: int, detail: str) -> None:
        """Tell every other rank that ``rank`` is gone (thread-safe)."""
        self._notices.put((rank, detail))

    def tell(self, rank: int, body: bytes) -> None:
        """Send ``body`` (an encoded notice) to ``rank`` alone (thread-safe)."""
        self._notices.put((rank, body))

    def ask(self, *, stack: bool = False) -> None:
        """Ask every rank what it waits in (thread-safe); :meth:`answers`
        then holds the answers that came (those of earlier asks are dropped)."""
        with self._answers_lock:
            self._asked += 1
            self._answers = {}
            n = self._asked
        self._notices.put(Ask(n, stack))

    def answers(self) -> dict[int, dict[str, Any]]:
        """The reports of the ranks that answered the last :meth:`ask`, by rank."""
        with self._answers_lock:
            return dict(self._answers)

    def close(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if not self._sock.closed:
            self._sock.close(linger=200)
        if self._guard is not None:
            self._guard.close()
        if self._own and not self._ctx.closed:
            self._ctx.term()


def exchange(
    endpoint: str,
    rank: int,
    size: int,
    job: str,
    info: Any,
    *,
    timeout: float = 60.0,
    keys: JobKeys | None = None,
    keep: list[zmq.Socket[Any]] | None = None,
) -> list[Any]:
    """Check in with the rendezvous at ``endpoint`` and return the table of
    every rank's ``info``, indexed by rank.

    Blocks until the whole job has checked in. With ``keep``, the socket is
    appended to it instead of closed: the server sends failure notices
    (``{"failed": rank, "detail": text}``) on it later. Raises :class:`LaunchError`
    when the server refuses this rank or no table arrives within ``timeout``
    seconds.
    """
    ctx: zmq.Context[Any] = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    if keys is not None:
        keys.client(sock)
    try:
        sock.connect(endpoint)
        sock.send(Hello(rank, size, job, info).encode())
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not sock.poll(int(left * 1000) + 1):
                raise LaunchError(
                    f"rank {rank}: no rendezvous with the other {size - 1} ranks at {endpoint} "
                    f"within {timeout:g} s"
                )
            try:
                reply = decode_reply(sock.recv())
            except DecodeError as exc:  # not from our server: wait for its answer
                log.warning("rank %d: ignored a rendezvous reply: %s", rank, exc)
                continue
            if isinstance(reply, Refusal):
                raise LaunchError(f"rank {rank}: rendezvous at {endpoint} refused: {reply.error}")
            if isinstance(reply, Table):
                table: list[Any] = reply.infos
                if keep is not None:  # the caller listens for failure notices on it
                    keep.append(sock)
                    sock = None
                return table
    finally:
        if sock is not None:
            sock.close()


def notice_reader(
    sock: zmq.Socket[Any], on_notice: Callable[[Failed | Ask | SpawnNews], bytes | None]
) -> Callable[[], None]:
    """A reader callback for the launcher's notices on ``sock``; what
    ``on_notice`` returns (an answer) is sent back on it."""

    def read() -> None:
        while not sock.closed:
            try:
                body = sock.recv(zmq.NOBLOCK)
            except zmq.ZMQError:  # Again included
                return
            try:
                notice = decode_notice(body)
            except DecodeError as exc:
                log.error("dropped a notice from the launcher: %s", exc)
                continue
            answer = on_notice(notice)
            if answer is not None:
                with contextlib.suppress(zmq.ZMQError):
                    sock.send(answer, zmq.NOBLOCK)

    return read
