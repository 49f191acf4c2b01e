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
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from zmqmesh.errors import DecodeError
from zmqmesh.matching import Matcher, Selector
from zmqmesh.runtime.transport import Transport
from zmqmesh.wire import Kind, decode, peek_envelope

if TYPE_CHECKING:
    from zmqmesh.runtime.collective import CollState

__all__ = ["Engine", "Received"]

log = logging.getLogger("zmqmesh.engine")

# (source rank in the message's communicator, tag, frames)
Received = tuple[int, int, list[Any]]


class Engine:
    """Point-to-point machinery of one rank (world ranks throughout)."""

    def __init__(
        self, rank: int, size: int, *, allow_pickle: bool, transport: Transport | None = None
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

    # -- inbound ------------------------------------------------------------
    def deliver(self, msg: list[Any]) -> None:
        """Inbound path: ``[header bytes, *buffer views]`` from the transport."""
        self._arrive(msg)

    def _arrive(self, msg: list[Any], *, front: bool = False) -> None:
        try:
            env = peek_envelope(msg)
        except DecodeError as exc:
            log.error("rank %d: dropped a message that does not decode: %s", self.rank, exc)
            return
        if env.kind != Kind.P2P:
            state = self.coll_states.get(env.ctx)
            if env.kind == Kind.CTRL:
                self._control(state, msg)
                return
            if state is not None and not front:
                state.check_arrival(env)
        token, probes = self.matcher.arrive(env.ctx, env.source, env.tag, msg, front=front)
        if token is not None:
            token.set_result((env.source, env.tag, msg))
        for probe in probes:
            if not probe.done():
                probe.set_result((env.source, env.tag, msg))

    def _control(self, state: CollState | None, msg: list[Any]) -> None:
        try:
            env, payload = decode(msg)
        except DecodeError as exc:
            log.error("rank %d: dropped a control message that does not decode: %s", self.rank, exc)
            return
        if state is not None:
            state.control(env.source, payload)

    # -- outbound -----------------------------------------------------------
    def send(self, dest: int, frames: Sequence[Any]) -> asyncio.Future[None] | None:
        """Send ``frames`` to world rank ``dest``; see ``Transport.send``."""
        if dest == self.rank:
            # The sender may reuse its buffers as soon as this returns; the
            # copies are writable, as frames received from ZeroMQ are.
            self._arrive([bytes(frames[0]), *(bytearray(f) for f in frames[1:])])
            return None
        if self.transport is None:
            raise ValueError(f"rank {dest} is not reachable from a singleton job")
        return self.transport.send(dest, frames)

    def connect(self, dest: int) -> None:
        """Open the connection to world rank ``dest`` now, not at first send."""
        if dest != self.rank and self.transport is not None:
            self.transport.connect(dest)

    # -- receives and probes ------------------------------------------------
    def post_recv(self, sel: Selector) -> asyncio.Future[Received]:
        """A future that resolves to the message a receive with ``sel`` takes.
        Cancelling it withdraws the receive."""
        fut: asyncio.Future[Received] = asyncio.get_running_loop().create_future()
        found = self.matcher.post_recv(sel, fut)
        if found is not None:
            fut.set_result(found)
        else:
            fut.add_done_callback(self._withdraw_recv)
        return fut

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

    def close(self) -> None:
        """Close the transport and fail every waiter (idempotent)."""
        if self.closed:
            return
        self.closed = True
        if self.transport is not None:
            self.transport.close()
        for _, fut in list(self.matcher.waiters()):
            if not fut.done() and not fut.get_loop().is_closed():
                fut.set_exception(ConnectionError("zmqmesh was finalized"))
