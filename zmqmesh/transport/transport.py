"""The transport: the only code that touches ZeroMQ sockets.

Theory of operation. Each rank binds one ROUTER socket (inbound) and opens one
DEALER per peer it sends to (outbound), lazily on the first send. One socket
pair per directed edge gives per-pair FIFO order, which the matching layer
turns into MPI's non-overtaking rule. The ROUTER is only ever read, so its
routing ids are never used to send and ``ROUTER_MANDATORY`` is irrelevant.

Both directions use plain (non-asyncio) pyzmq sockets driven by the event
loop's reader callbacks on ``ZMQ_FD``. That descriptor is edge-triggered: a
wake-up means "look at ZMQ_EVENTS", not "one message". The inbound callback
therefore drains the ROUTER until ``Again`` (bounded per wake-up, then it
re-schedules itself so a flood cannot starve the loop), which is much faster
than zmq.asyncio's one-future-per-message receive (pyzmq #1209, #1259).

Sending never blocks the loop (``outbound.py``): each frame is sent with
``NOBLOCK``. Frames below ``SEND_COPY_BELOW`` are copied into ZeroMQ, so
``send`` can return at once; larger ones are sent zero-copy with a
``MessageTracker`` so the caller learns when ZeroMQ has released the memory
and the buffer may be reused (``zerocopy.py``). When a peer's queue is full
(``Again``), the message and everything sent to that peer after it wait in
a per-peer backlog, flushed in order when the DEALER becomes writable, so
order is kept.

Between ranks on one host, frames of at least ``SHM_MIN`` bytes travel
through shared memory instead (``shm.py``): the transport swaps each for an
empty frame, appends a descriptor frame and flags the message in the
envelope's transport-flags byte; the receiving transport swaps the views
back in, so the layers above never see the difference. The transport's own
*release* notices return segments to their sender's pool. The flags byte,
the notices and the routing ids are ``wire/control.py``'s.

Ranks on one host exchange messages over AF_UNIX stream links read by the
event loop itself, not through ZeroMQ (``samehost.py`` says why: latency);
ZeroMQ keeps other hosts and liveness. A leaving rank's *goodbye* to each
peer and the answer are notices too (``goodbye``).

Invariants: messages to one peer leave in call order; a message is handed to
ZeroMQ whole or not at all; nothing is sent after ``close()``.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable, Collection, Sequence
from typing import Any

import zmq
import zmq.utils.monitor

from zmqmesh.errors import DecodeError
from zmqmesh.transport import limits
from zmqmesh.transport.outbound import Outbound
from zmqmesh.transport.samehost import LocalLinks, link_path
from zmqmesh.transport.security import JobKeys
from zmqmesh.transport.shm import SHM_MIN, SharedMemory
from zmqmesh.transport.zerocopy import Releases
from zmqmesh.wire import control

__all__ = ["MAX_FRAME", "SEND_COPY_BELOW", "Transport", "TransportState"]

log = logging.getLogger("zmqmesh.transport")

Frames = list[Any]  # [header bytes, *buffer views] on receive; bytes/memoryview on send
Deliver = Callable[[Frames, int], None]  # (message, the sending world rank)

# Liveness: ZeroMQ heartbeats every second; a connection dropped (by a
# heartbeat timeout, or by the peer's end going away) and not re-made within
# the grace period means the peer is lost.
_HEARTBEAT_IVL_MS = 1000
_RECONNECT_GRACE = 1.0

# High-water marks, in messages, of each outbound and inbound pipe: what
# ZeroMQ queues per peer before a sender's send has to wait.
_HWM = 128
# How long a closing rank keeps delivering what it sent (ms): a slow receiver
# still gets it, an exited one does not hold the sender's exit up for long.
LINGER_MS = 10_000

MAX_FRAME = limits.MAX_FRAME  # largest frame a rank accepts: host memory
FAILURE_TIMEOUT = limits.FAILURE_TIMEOUT  # seconds before a silent peer counts as failed

# Messages handled per inbound wake-up before yielding to other tasks.
_DRAIN_BUDGET = 256

# Frames smaller than this are copied on send. Measured here: copying 64 KiB
# takes 1.8 us and 256 KiB 7.6 us, while learning that ZeroMQ released a
# zero-copy frame costs a tracker thread wake-up: 64 KiB ping-pong half-RTT
# was 142-187 us copied against 219-253 us tracked (3 alternating runs); at
# 200 KB the two were even. Above 256 KiB the copy grows (1 MiB: 41 us) and
# zero-copy wins.
SEND_COPY_BELOW = 256 * 1024


class TransportState(enum.Enum):
    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"


class Transport:
    """ROUTER in, DEALER per peer out, on the running event loop.

    ``on_message(frames)`` is called on the loop thread for every inbound
    message, with the sender's frames (routing id stripped) as ``zmq.Frame``
    objects whose ``.buffer`` is a zero-copy view of the received data.
    """

    def __init__(
        self,
        zctx: zmq.Context[Any],
        rank: int,
        on_message: Deliver,
        *,
        linger_ms: int = LINGER_MS,
        copy_below: int = SEND_COPY_BELOW,
        keys: JobKeys | None = None,
        failure_timeout: float = FAILURE_TIMEOUT,
        on_lost: Callable[[int, str], None] | None = None,
        paused: Callable[[], bool] | None = None,
        max_frame: int = MAX_FRAME,
        local_links: bool = True,
    ) -> None:
        self.rank = rank
        self._local_links = local_links  # same-host peers over AF_UNIX links
        self._copy_below = copy_below
        self._keys = keys
        self._failure_timeout = failure_timeout
        self._on_lost = on_lost
        self._paused = paused
        self._reading = False
        self._zctx = zctx
        self._on_message = on_message
        self._linger_ms = linger_ms
        self._loop = asyncio.get_running_loop()
        self._router: zmq.Socket[Any] = zctx.socket(zmq.ROUTER)
        self._router.linger = 0
        self._router.rcvhwm = _HWM
        # A peer cannot make this rank allocate more than max_frame bytes for
        # one frame: ZeroMQ drops the connection instead.
        self._router.maxmsgsize = max_frame
        if keys is not None:
            keys.server(self._router)
        self._peers: dict[int, Outbound] = {}
        self._gone: set[int] = set()  # peers known to have failed
        self._endpoints: list[str | None] = []
        self._releases = Releases(self._loop)  # zero-copy frames ZeroMQ holds
        self.shm: SharedMemory | None = None  # large frames to same-host peers
        self._max_frame = max_frame
        self.local: LocalLinks | None = None  # same-host links (samehost.py)
        self._local_peers: frozenset[int] = frozenset()
        self._force_until = 0.0  # links are read past the flow-control limit until then
        self._control: zmq.Socket[Any] | None = None
        self.state = TransportState.NEW
        self.endpoints: list[str] = []

    def __repr__(self) -> str:
        return f"<Transport rank={self.rank} {self.state.value} peers={len(self._peers)}>"

    # -- set-up -----------------------------------------------------------
    def bind(self, endpoint: str) -> str:
        """Bind the inbound ROUTER; returns the resolved endpoint (a tcp
        wildcard port becomes the real one). Receiving starts at ``set_peers``."""
        self._router.bind(endpoint)
        resolved = self._router.getsockopt_string(zmq.LAST_ENDPOINT)
        if resolved.startswith("ipc://") and self._local_links:
            self.local = LocalLinks(
                self._loop,
                self.rank,
                self._accept_local,
                max_message=self._max_frame,
                on_broken=self._link_broken,
            )
            self.local.listen(link_path(resolved))
        self.endpoints.append(resolved)
        if self.state is TransportState.NEW:
            self.state = TransportState.OPEN
        return resolved

    def set_peers(
        self,
        endpoints: Sequence[str | None],
        *,
        same_host: Sequence[int] = (),
        shm_dir: str | None = None,
    ) -> None:
        """Endpoints to reach each rank, indexed by rank (None: unreachable).
        With ``shm_dir``, large frames to the ranks in ``same_host`` go
        through shared memory in that directory."""
        self._endpoints = list(endpoints)
        if self.local is not None:
            for r in set(same_host) - {self.rank}:
                endpoint = endpoints[r] if 0 <= r < len(endpoints) else None
                if endpoint is not None and endpoint.startswith("ipc://"):
                    self.local.paths[r] = link_path(endpoint)
            self._local_peers = frozenset(self.local.paths)
        if shm_dir and same_host:
            peers = frozenset(same_host) - {self.rank}
            self.shm = SharedMemory(shm_dir, self.rank, peers, self._send_release, self._loop)
        # Reading starts now, not at bind: a message that needs these (shared
        # memory) may come as soon as a peer knows the endpoints.
        if self.local is not None:
            self.local.start()
        self.resume()

    def is_local(self, rank: int) -> bool:
        """Whether ``rank`` is reached over a same-host link."""
        return rank in self._local_peers

    @property
    def connections(self) -> int:
        """How many peers this rank holds an outbound connection to."""
        return len(self._peers.keys() | (self.local.links if self.local else {}))

    def connect(self, rank: int) -> None:
        """Open the outbound connection to ``rank`` now (idempotent)."""
        if rank not in self._gone:
            self._peer(rank)

    def _peer(self, rank: int) -> Outbound:
        peer = self._peers.get(rank)
        if peer is None:
            if self.state is not TransportState.OPEN:
                raise RuntimeError(f"transport is {self.state.value}")
            endpoint = self._endpoints[rank] if rank < len(self._endpoints) else None
            if endpoint is None:
                raise ValueError(f"no endpoint known for rank {rank}")
            sock: zmq.Socket[Any] = self._zctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.ROUTING_ID, control.pack_routing_id(self.rank))
            sock.linger = self._linger_ms
            sock.sndhwm = _HWM
            if self._keys is not None:
                self._keys.client(sock)
            if self._on_lost is not None:
                # ZeroMQ's own heartbeats, answered by its I/O thread even
                # while the peer's Python holds the GIL: a busy rank stays
                # alive, a dead host or cut link drops the connection.
                sock.heartbeat_ivl = _HEARTBEAT_IVL_MS
                sock.heartbeat_timeout = int(self._failure_timeout * 1000)
                sock.heartbeat_ttl = int(self._failure_timeout * 1000)
            sock.connect(endpoint)
            peer = self._peers[rank] = Outbound(sock, self._releases, self._copy_below)
            if self._on_lost is not None:
                self._watch(rank, peer)
        return peer

    # -- liveness -----------------------------------------------------------
    def _watch(self, rank: int, peer: Outbound) -> None:
        """Follow the connection's fate through a socket monitor: a peer
        whose connection stays down for ``_RECONNECT_GRACE`` seconds after
        ZeroMQ dropped it (heartbeat timeout, reset, closed) is lost."""
        monitor = peer.sock.get_monitor_socket(
            zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_CONNECTED
        )
        peer.monitor = monitor

        def read() -> None:
            while not monitor.closed:
                try:
                    event = zmq.utils.monitor.recv_monitor_message(monitor, zmq.NOBLOCK)
                except zmq.Again:
                    return
                except zmq.ZMQError:
                    return
                if event["event"] == zmq.EVENT_DISCONNECTED:
                    if peer.suspect is None:
                        peer.suspect = self._loop.call_later(_RECONNECT_GRACE, self._lost, rank)
                elif peer.suspect is not None:
                    peer.suspect.cancel()
                    peer.suspect = None

        self._loop.add_reader(monitor.FD, read)
        self._loop.call_soon(read)

    def _lost(self, rank: int) -> None:
        peer, down = self._peers.get(rank), _RECONNECT_GRACE
        if peer is not None and peer.suspect is not None:  # since it dropped, truly
            down = self._loop.time() - peer.suspect.when() + _RECONNECT_GRACE
            peer.suspect = None
        if self.state is TransportState.OPEN and self._on_lost is not None:
            why = f"reset, or no heartbeat for {self._failure_timeout:g} s"
            self._on_lost(rank, f"unreachable: its connection dropped ({why}), down {down:.1f} s")

    # -- inbound ----------------------------------------------------------
    def resume(self) -> None:
        """(Re)start reading inbound messages."""
        if self.local is not None:
            self.local.resume()
        if self.state is TransportState.OPEN and not self._reading:
            self._reading = True
            self._loop.add_reader(self._router.FD, self._drain)
            # Messages may already be queued: the FD only signals changes.
            self._loop.call_soon(self._drain)

    def drain_now(self, *, force: bool = False) -> None:
        """Take in whatever has arrived, now (before acting on a failure);
        ``force`` reads past the flow-control limit, so that nothing a gone
        peer sent stays unread."""
        if self.state is TransportState.OPEN:
            self._drain(force=force)
            if force and self.local is not None:  # read the links past the limit for a while
                self._force_until = self._loop.time() + 1.0
                self.local.resume()

    def watch_control(self, sock: zmq.Socket[Any], read: Callable[[], None]) -> None:
        """Call ``read`` when ``sock`` (the rank's rendezvous socket, with the
        launcher's notices) may have input, for as long as the transport is open."""
        self._control = sock
        self._loop.add_reader(sock.FD, read)
        self._loop.call_soon(read)

    def _drain(self, *, force: bool = False) -> None:
        router = self._router
        if router.closed:
            return
        recv = router.recv_multipart
        for _ in range(_DRAIN_BUDGET * (64 if force else 1)):
            if not force and self._paused is not None and self._paused():
                # Flow control: leave the rest in ZeroMQ's bounded queues
                # until receives take some of what is waiting here.
                if self._reading:
                    self._reading = False
                    self._loop.remove_reader(router.FD)
                return
            try:
                frames = recv(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            except zmq.ZMQError as exc:
                if self.state is TransportState.CLOSED:
                    return
                log.error("rank %d: receive failed: %s", self.rank, exc)
                return
            sender = -1
            try:
                sender = self._sender(frames[0].bytes)
                msg = self._unpack(sender, frames[1].bytes, [f.buffer for f in frames[2:]])
                if msg is not None:
                    self._on_message(msg, sender)
            except Exception as bad:
                self._dropped(sender, bad)
        # Budget spent and the FD will not fire again for what is queued.
        self._loop.call_soon(self._drain)

    def _sender(self, routing_id: bytes) -> int:
        """The other rank of the job a DEALER's routing id names. Every
        rank's DEALER says its rank; a connection that names no other rank
        may not speak for one: ``ValueError``."""
        try:
            sender = control.parse_routing_id(routing_id)
        except DecodeError as exc:
            raise ValueError(f"the connection it came on is no other rank's: {exc}") from None
        if not 0 <= sender < len(self._endpoints) or sender == self.rank:
            raise ValueError(f"the connection it came on is no other rank's: it says {sender}")
        return sender

    def _dropped(self, sender: int, why: Exception) -> None:
        # one line, not a traceback per message: hostile input is cheap to send
        who = f" from rank {sender}" if sender >= 0 else ""
        log.error("rank %d: dropped an inbound message%s: %s", self.rank, who, why)

    def _link_broken(self, sender: int, why: str) -> None:
        """``sender``'s link broke the stream's rules: the pair's order is lost."""
        if self.state is TransportState.OPEN and self._on_lost is not None:
            self._on_lost(sender, why)

    def _accept_local(self, sender: int, header: bytes, buffers: list[Any]) -> None:
        """A message from a same-host link (see ``_drain`` for ZeroMQ's)."""
        try:  # a message of the layers' own (no transport flag) needs no _unpack
            flagged = len(header) > control.FLAGS_AT and header[control.FLAGS_AT]
            msg = self._unpack(sender, header, buffers) if flagged else [header, *buffers]
            if msg is not None:
                self._on_message(msg, sender)
        except Exception as bad:
            self._dropped(sender, bad)
        over = self._paused is not None and self._paused()
        if over and self.local is not None and self._loop.time() > self._force_until:
            self.local.pause()

    def _unpack(self, sender: int, header: bytes, buffers: list[Any]) -> list[Any] | None:
        """A message as received from ``sender`` (another rank of the job)
        -> ``[header bytes, *buffer views]`` for the engine; None for a
        notice the transport consumed itself. Raises ``DecodeError`` for
        malformed transport bytes (``control.decode``, ``shmdesc.decode``)
        and ``ValueError`` for shared memory this rank does not share."""
        if not control.flags_of(header):
            return [header, *buffers]
        what = control.decode(header, len(buffers))
        if isinstance(what, control.Goodbye):
            self._bye(sender, ack=what.ack)
            return None
        if isinstance(what, control.Release):
            if self.shm is not None:
                self.shm.released(list(what.idents), sender)
            return None
        if self.shm is None:
            raise ValueError(f"shared-memory frames from rank {sender}, which shares none")
        msg = [header, *buffers[:-1]]
        self.shm.reader.swap_in(msg, buffers[-1], sender)
        return msg

    def flush_releases(self) -> None:
        """Return the shared-memory segments received arrays no longer use."""
        if self.shm is not None:
            self.shm.reader.flush()

    def peer_gone(self, rank: int) -> None:
        """``rank`` is gone: nothing sent to it will be read. Every send
        waiting on it ends (lent frames; the same-host link; the DEALER, closed
        at once, lets go of its zero-copy frames) and later ones are dropped."""
        self._gone.add(rank)
        if self.shm is not None:
            self.shm.gone(rank)
        if self.local is not None:
            self.local.gone(rank)
        peer = self._peers.pop(rank, None)
        if peer is not None:
            peer.close(None, linger=False)

    def _send_release(self, peer: int, idents: list[int]) -> None:
        if self.state is TransportState.OPEN and self.shm is not None and peer in self.shm.peers:
            for header in control.release_headers(idents):
                self.send(peer, [header])

    # -- outbound ---------------------------------------------------------
    def send(
        self, rank: int, frames: Sequence[Any], *, lend: bool = False
    ) -> asyncio.Future[None] | None:
        """Hand one message for ``rank`` to its link or to ZeroMQ. Returns None
        when the caller may reuse its buffers at once, else a future that
        completes once the message has been handed over and every zero-copy
        frame released; with ``lend``, large frames of a collective result go
        to a same-host ``rank`` uncopied, and it completes when ``rank`` gives
        them back. ``ValueError`` for an unknown rank, or a message over
        ``max_frame`` (``limits.py``)."""
        if len(frames) == 2:  # one array's message, the common case: no comprehension
            f0, f1 = frames
            sizes = [
                f0.nbytes if type(f0) is memoryview else len(f0),
                f1.nbytes if type(f1) is memoryview else len(f1),
            ]
        else:
            sizes = [f.nbytes if type(f) is memoryview else len(f) for f in frames]  # sizes_of
        local = rank in self._local_peers
        if local:
            total = sum(sizes)
            small = total < SHM_MIN and total <= self._max_frame  # the link, no shared memory
            if small and self.local is not None and rank not in self._gone:
                return self.local.send(rank, frames, sizes)
        if (total if local else max(sizes, default=0)) > self._max_frame:
            limits.check_size(sizes, self._max_frame, whole=local)  # raises, naming the limit
        if self.shm is not None and max(sizes[1:], default=0) >= SHM_MIN and rank in self.shm.peers:
            moved, loan = self.shm.swap_out(frames, rank, lend)
            if moved is not None:
                moved[0] = control.mark_shared(frames[0])
                sent = self._hand_over(rank, moved)
                return loan or sent  # a loan comes back only after the message arrived
        if local and rank not in self._gone and self.local is not None:
            return self.local.send(rank, frames, sizes)
        return self._hand_over(rank, frames)

    def _hand_over(self, rank: int, frames: Sequence[Any]) -> asyncio.Future[None] | None:
        if rank in self._gone:
            return None
        if rank in self._local_peers:
            assert self.local is not None
            return self.local.send(rank, frames)
        return self._peer(rank).send(frames)

    # -- shutdown ---------------------------------------------------------
    # ZeroMQ drops the messages a receiver has not yet read from a
    # connection whose sender closed it (lingering only gets them as far as
    # the kernel), so a leaving rank asks each peer it sent to whether it
    # has read everything, and waits for the answer.
    def _bye(self, sender: int, *, ack: bool) -> None:
        if not ack:  # everything sender sent before this is read: say so
            if self.state is TransportState.OPEN:
                self.send(sender, [control.Goodbye(ack=True).encode()])
            return
        peer = self._peers.get(sender)
        if peer is not None and peer.bye is not None and not peer.bye.done():
            peer.bye.set_result(None)

    async def goodbye(self, gone: Callable[[], Collection[int]]) -> None:
        """Wait (up to the linger time) until every live peer this rank sent
        to has read it all; ``gone()`` names the ranks not to wait for."""
        if self.state is not TransportState.OPEN:
            return
        deadline = self._loop.time() + self._linger_ms / 1000
        if self.local is not None:  # the kernel keeps what it has after exit
            await self.local.drain(deadline, gone)
        waiting = {}
        for rank, peer in self._peers.items():
            if peer.sent and rank not in gone():
                peer.bye = self._loop.create_future()
                self.send(rank, [control.Goodbye(ack=False).encode()])
                waiting[rank] = peer.bye
        while waiting and self._loop.time() < deadline:
            await asyncio.wait(list(waiting.values()), timeout=0.05)
            lost = gone()
            waiting = {r: f for r, f in waiting.items() if not f.done() and r not in lost}

    def close(self, gone: frozenset[int] = frozenset()) -> None:
        """Close every socket (idempotent). Outbound sockets to live peers
        linger up to ``linger_ms`` so what was sent still reaches a slow
        receiver; those to the ``gone`` ranks do not linger."""
        if self.state is TransportState.CLOSED:
            return
        was_open = self.state is TransportState.OPEN
        self.state = TransportState.CLOSED
        loop_open = not self._loop.is_closed()
        if was_open and loop_open and self._reading:
            self._loop.remove_reader(self._router.FD)
        self._router.close(linger=0)
        if self.local is not None:
            self.local.close()
        if self._control is not None:
            if loop_open:
                self._loop.remove_reader(self._control.FD)
            self._control.close(linger=0)
        closed = ConnectionError("transport closed before the message left")
        for rank, peer in self._peers.items():
            peer.close(closed, linger=rank not in gone)
        self._peers.clear()
        if self.shm is not None:
            self.shm.close()
        self._releases.close()
