"""What a collective algorithm may use: a channel to the other ranks.

Every algorithm in this package is a coroutine over a :class:`Channel`: the
ranks of one communicator, already bound to one collective call (its tag and
signature), with ``send``/``recv``/``sendrecv`` addressed by communicator
rank. The algorithms import neither ZeroMQ nor the runtime, so they can run
over real sockets (``runtime/channel.py``) or any stand-in.

Data arguments follow one convention: a value passed to ``send`` is not
touched again by the algorithm until the send completed, and a received
array is a read-only view that the algorithm copies before changing it.
"""

from __future__ import annotations

import ctypes
import weakref
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

__all__ = ["Backing", "Channel", "ResultPool", "bounds", "is_segmentable", "pof2_below"]


class Channel(Protocol):
    """One collective call's view of its communicator."""

    @property
    def rank(self) -> int: ...

    @property
    def size(self) -> int: ...

    async def send(self, peer: int, obj: Any) -> None:
        """Send ``obj`` to ``peer``; returns when ``obj``'s arrays may be reused."""

    async def recv(self, peer: int) -> Any:
        """The next message of this call from ``peer``."""

    async def sendrecv(self, dest: int, obj: Any, source: int) -> Any:
        """Send to ``dest`` and receive from ``source`` concurrently."""

    async def exchange(self, dest: int, arr: np.ndarray, source: int, out: np.ndarray) -> None:
        """Send the array ``arr`` to ``dest`` and copy the array ``source``
        sends (by its own ``exchange``) into ``out``. As every receiver
        copies at once, ``arr`` may be lent rather than copied: it must not
        change before this returns."""

    def empty(self, count: int, dtype: np.dtype[Any]) -> np.ndarray:
        """A new 1-d array of ``count`` items for a result the algorithm
        returns (its memory may be recycled: see :class:`ResultPool`)."""


def pof2_below(n: int) -> int:
    """The largest power of two <= n (n >= 1)."""
    return 1 << (n.bit_length() - 1)


def bounds(n: int, parts: int) -> list[int]:
    """Boundaries splitting ``n`` items into ``parts`` near-equal blocks
    (the first ``n % parts`` blocks one larger), as ``np.array_split``."""
    q, r = divmod(n, parts)
    out = [0]
    for i in range(parts):
        out.append(out[-1] + q + (1 if i < r else 0))
    return out


def is_segmentable(obj: Any) -> bool:
    """True for an ndarray that large-message algorithms may cut into
    segments (numeric or bool, so a flat view can be split anywhere)."""
    return type(obj) is np.ndarray and obj.dtype.kind in "biufc" and obj.size > 0


def concat(parts: Sequence[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


class Backing(Protocol):
    """Where the results pool gets its memory (shared memory in a job)."""

    def alloc(self, capacity: int) -> np.ndarray | None:
        """``capacity`` bytes as a uint8 array, or None (then NumPy's)."""

    def drop(self, raw: np.ndarray) -> None:
        """``raw``, from ``alloc``, is not kept any more."""


class ResultPool:
    """Recycled memory for large collective results.

    A fresh multi-megabyte array costs a page fault per 4 KiB page on first
    touch, which here is slower than the copy that fills it (16 MiB: 3.5 ms
    fresh against about 1.5 ms warm). A result handed to the caller is an
    ordinary array; once the caller drops it (and every view of it), a
    finalizer returns its memory here, and the next result of that size
    class (powers of two) reuses it, already mapped. At most ``MAX_BYTES``
    are kept. With a :class:`Backing` (``use``) new memory comes from it.

    A runtime owns one per rank and serves it through its channels'
    ``empty``; nothing else reaches it.
    """

    MAX_BYTES = 256 * 2**20
    MIN_BYTES = 1 << 20

    def __init__(self) -> None:
        self._free: dict[int, list[np.ndarray]] = {}
        self._kept = 0
        self._backing: Backing | None = None

    def use(self, backing: Backing | None) -> None:
        """Take new memory from ``backing`` from now on (None: NumPy); the
        memory kept from the previous one is dropped."""
        old, self._backing = self._backing, backing
        for raw in (r for free in self._free.values() for r in free):
            if old is not None:
                old.drop(raw)
        self._free.clear()
        self._kept = 0

    def empty(self, count: int, dtype: np.dtype[Any]) -> np.ndarray:
        nbytes = count * dtype.itemsize
        if nbytes < self.MIN_BYTES:
            return np.empty(count, dtype)
        capacity = 1 << (nbytes - 1).bit_length()
        free = self._free.get(capacity)
        if free:
            raw = free.pop()
            self._kept -= capacity
        else:
            got = self._backing.alloc(capacity) if self._backing is not None else None
            raw = np.empty(capacity, np.uint8) if got is None else got
        # NumPy points every view straight at the array that owns the memory,
        # so a finalizer on the result itself could fire while a slice of it
        # lives on. A ctypes object over the memory sits in every view's base
        # chain and dies only with the last of them: the finalizer goes there.
        owner = (ctypes.c_char * capacity).from_buffer(raw)  # type: ignore[arg-type]
        weakref.finalize(owner, self._give_back, raw)
        out: np.ndarray = np.frombuffer(owner, dtype, count)  # type: ignore[call-overload]
        return out

    def _give_back(self, raw: np.ndarray) -> None:
        if self._kept + raw.nbytes <= self.MAX_BYTES:
            self._free.setdefault(raw.nbytes, []).append(raw)
            self._kept += raw.nbytes
        elif self._backing is not None:
            self._backing.drop(raw)
