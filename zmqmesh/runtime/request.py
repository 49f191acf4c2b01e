"""``Status`` and ``Request``: what point-to-point calls report and return."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from typing import Any

__all__ = ["Request", "Status"]


class Status:
    """Where a received (or probed) message came from.

    ``source`` is the sender's rank in the receiving communicator, ``tag`` the
    message's tag and ``nbytes`` the size of its encoded payload in bytes
    (header plus array frames). Fields are -1 until a call fills them; a
    receive from ``None`` (``PROC_NULL``) gives ``(None, ANY_TAG, 0)``.
    """

    __slots__ = ("nbytes", "source", "tag")

    def __init__(self, source: int | None = -1, tag: int = -1, nbytes: int = -1) -> None:
        self.source = source
        self.tag = tag
        self.nbytes = nbytes

    def _fill(self, source: int | None, tag: int, nbytes: int) -> None:
        self.source, self.tag, self.nbytes = source, tag, nbytes

    def __repr__(self) -> str:
        return f"Status(source={self.source}, tag={self.tag}, nbytes={self.nbytes})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Status):
            return NotImplemented
        return (self.source, self.tag, self.nbytes) == (other.source, other.tag, other.nbytes)

    __hash__ = None  # type: ignore[assignment]  # mutable


class Request:
    """A nonblocking operation in flight, returned by ``isend``/``irecv``.

    ``await req`` waits for completion and returns the received object
    (``irecv``) or None (``isend``); awaiting again returns the same value.
    ``req.status`` holds the :class:`Status` of a completed receive.
    ``cancel()`` withdraws a receive that has not matched yet; a send that
    ZeroMQ has already taken cannot be recalled. A cancelled receive
    consumes nothing: the message goes to a later receive.
    """

    __slots__ = ("_done_value", "_finish", "_fut", "_give_back", "_has_value", "_note", "status")

    def __init__(
        self,
        fut: asyncio.Future[Any] | None,
        finish: Callable[[Any], Any] | None = None,
        give_back: Callable[[asyncio.Future[Any]], None] | None = None,
        note: tuple[Any, Any, int] | None = None,
    ) -> None:
        self._fut = fut
        self._finish = finish
        # (engine, call as Engine.waiting takes it, world peer): what
        # ``await req`` reports it waits in
        self._note = note
        # Returns what a receive matched to the queue, when the task waiting
        # for it is cancelled between the match and its wake-up.
        self._give_back = give_back
        self._has_value = fut is None
        self._done_value: Any = None
        self.status: Status | None = None

    def done(self) -> bool:
        """True once the operation has completed (or failed, or was cancelled)."""
        return self._has_value or (self._fut is not None and self._fut.done())

    def _value(self) -> Any:
        if not self._has_value:
            assert self._fut is not None
            raw = self._fut.result()
            self._done_value = self._finish(raw) if self._finish is not None else raw
            self._has_value = True
        return self._done_value

    def test(self) -> tuple[bool, Any]:
        """``(True, result)`` if complete, else ``(False, None)``; never waits.
        Raises what the operation raised."""
        if not self.done():
            return False, None
        return True, self._value()

    def cancel(self) -> bool:
        """Cancel the operation if it has not completed; True if cancelled."""
        if self.done() or self._fut is None:
            return False
        return self._fut.cancel()

    async def wait(self) -> Any:
        """Wait for completion; returns the result (see class doc).

        Cancelling the awaiting task cancels the request itself; a receive
        that had matched a message but not yet delivered it gives the
        message back (a later receive takes it)."""
        if not self._has_value and self._fut is not None:
            fut = self._fut
            note = self._note if not fut.done() else None
            if note is not None:
                note[0].waiting(fut, note[1], note[2])
            try:
                await fut
            except asyncio.CancelledError:
                if not fut.done():  # cancelled before its task waited on it
                    fut.cancel()
                taken = fut.done() and not fut.cancelled() and fut.exception() is None
                if taken and self._give_back is not None:
                    self._give_back(fut)
                    self._fut = fut.get_loop().create_future()
                    self._fut.cancel()
                raise
            finally:
                if note is not None:
                    note[0].done_waiting(fut)
        return self._value()

    def __await__(self) -> Generator[Any, None, Any]:
        return self.wait().__await__()

    def __repr__(self) -> str:
        state = "done" if self.done() else "pending"
        return f"<Request {state}>"
