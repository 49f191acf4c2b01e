"""A rank's network: the ZeroMQ context and everything made on it.

The runtime builds a rank from this and never touches a socket itself.
One :class:`Network` per rank (or per in-process test world) owns the
ZeroMQ context, the CURVE guard of a job that spans hosts, the rendezvous
server when this rank serves it (rank 0 of a job that ``srun`` or an MPI
launcher started), and the rendezvous socket on which the launcher's
failure notices arrive after start-up. ``close`` (at interpreter exit) and
``aclose`` (``finalize``) release them all, whatever failed before.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

import zmq

from zmqmesh.transport.limits import raise_open_files
from zmqmesh.transport.rendezvous import RendezvousServer, exchange, notice_reader
from zmqmesh.transport.security import Guard, JobKeys, load_keys
from zmqmesh.transport.transport import Transport
from zmqmesh.wire.rendezvous import Ask, Failed, SpawnNews

__all__ = ["Network"]


class Network:
    """The ZeroMQ context of one rank, with the job's keys (``keyfile``:
    the job's CURVE keys; None on one host or with ``--insecure``)."""

    def __init__(self, keyfile: str | None = None) -> None:
        raise_open_files()  # a large job's links need more than the usual 1024
        self.zctx: zmq.Context[Any] = zmq.Context()
        self.keys: JobKeys | None = None
        self._guard: Guard | None = None
        self._server: RendezvousServer | None = None
        self._notices: zmq.Socket[Any] | None = None
        self._reader: tuple[asyncio.AbstractEventLoop, int] | None = None  # (watch_notices_alone)
        try:
            if keyfile:
                self.keys = load_keys(keyfile)
                self._guard = Guard(self.zctx, self.keys)
        except BaseException:
            self.close()
            raise

    def transport(self, rank: int, on_message: Callable[..., None], **options: Any) -> Transport:
        """A :class:`Transport` for ``rank`` on this context, with the job's keys."""
        return Transport(self.zctx, rank, on_message, keys=self.keys, **options)

    def serve_rendezvous(self, size: int, job: str, port: int) -> None:
        """Serve the job's rendezvous on tcp ``port`` (all interfaces)."""
        self._server = RendezvousServer(size, job, bind=f"tcp://0.0.0.0:{port}", keys=self.keys)

    async def exchange(
        self, endpoint: str, rank: int, size: int, job: str, info: Any, *, timeout: float = 60.0
    ) -> list[Any]:
        """Check in at the rendezvous ``endpoint`` with this rank's ``info``;
        returns every rank's info, by rank, waiting up to ``timeout`` s for
        them (see ``rendezvous.exchange``). The socket is kept for the
        launcher's notices (:meth:`watch_notices`)."""
        kept: list[zmq.Socket[Any]] = []
        call = functools.partial(exchange, keys=self.keys, keep=kept, timeout=timeout)
        table = await asyncio.to_thread(call, endpoint, rank, size, job, info)
        if kept:
            self._notices = kept[0]
        return table

    def watch_notices(
        self, transport: Transport, on_notice: Callable[[Failed | Ask | SpawnNews], bytes | None]
    ) -> None:
        """Hand the notices the launcher (or rank 0) sends after start-up,
        such as which ranks are gone, to ``on_notice`` on the event loop;
        what it returns is sent back (the answer to an ``Ask``)."""
        sock = self._notices
        if sock is not None:
            transport.watch_control(sock, notice_reader(sock, on_notice))

    def watch_notices_alone(
        self,
        loop: asyncio.AbstractEventLoop,
        on_notice: Callable[[Failed | Ask | SpawnNews], bytes | None],
    ) -> None:
        """``watch_notices`` for a rank without a transport (a job of one)."""
        sock = self._notices
        if sock is not None:
            read = notice_reader(sock, on_notice)
            loop.add_reader(sock.FD, read)
            loop.call_soon(read)
            self._reader = (loop, sock.FD)

    def tell_launcher(self, body: bytes) -> bool:
        """Inside the loop: send ``body`` to the launcher on the notices'
        socket; False when there is none to send it to (this process
        serves the rendezvous itself, or was not started by a launcher)."""
        sock = self._notices
        if sock is None or self._server is not None or sock.closed:
            return False
        try:
            sock.send(body, zmq.NOBLOCK)
        except zmq.ZMQError:
            return False
        return True

    def _release(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None and not reader[0].is_closed():
            reader[0].remove_reader(reader[1])
        try:
            if self._guard is not None:
                self._guard.close()
        finally:
            self._guard = None
            server, self._server = self._server, None
            if server is not None:
                server.close()

    def close(self) -> None:
        """Close everything now; sockets still open linger to deliver what
        was sent (idempotent)."""
        try:
            self._release()
        finally:
            if not self.zctx.closed:
                self.zctx.term()

    async def aclose(self) -> None:
        """:meth:`close` without blocking the event loop while lingering
        sockets deliver what was sent."""
        try:
            self._release()
        finally:
            if not self.zctx.closed:
                await asyncio.to_thread(self.zctx.term)
