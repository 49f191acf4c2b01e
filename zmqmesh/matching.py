"""Message matching: posted receives against arriving messages, as in MPI.

Theory of operation. Each message carries ``(ctx, source, tag)``. A receive
(or a blocking probe) is posted with a selector ``(ctx, source, tag)`` where
``source`` may be :data:`ANY_SOURCE` and ``tag`` may be :data:`ANY_TAG`.

* ``arrive(msg)``: the message goes to the *oldest* posted receive it matches;
  if none matches it joins the unexpected queue, and every blocking probe it
  matches is woken (without consuming it).
* ``post_recv(selector)``: takes the *oldest* unexpected message that matches;
  if none does, the receive is queued behind earlier posted receives.

Invariants (MPI's non-overtaking rule, given that the transport delivers each
sender's messages in the order they were sent):

1. Two messages from one source that both match a receive are received in
   arrival order.
2. Two receives that both match a message are satisfied in posting order.
3. A message is delivered to exactly one receive; probes never consume.

Unexpected messages are bucketed by ``(ctx, source, tag)`` with a global
arrival number, so exact selectors are O(1) and wildcard selectors scan the
buckets of one context. This module is pure: no I/O, no asyncio.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, NamedTuple, TypeVar

__all__ = ["ANY_SOURCE", "ANY_TAG", "Matcher", "Selector"]

ANY_SOURCE = -1
ANY_TAG = -1

M = TypeVar("M")  # a message: opaque to the matcher
T = TypeVar("T")  # a waiter token (a future, in the runtime)


class Selector(NamedTuple):
    """What a receive or probe accepts (a tuple: cheap to make, one per receive)."""

    ctx: int
    source: int = ANY_SOURCE
    tag: int = ANY_TAG

    def matches(self, ctx: int, source: int, tag: int) -> bool:
        return (
            ctx == self.ctx
            and (self.source == ANY_SOURCE or self.source == source)
            and (self.tag == ANY_TAG or self.tag == tag)
        )


@dataclass(slots=True)
class _Arrived(Generic[M]):
    order: int
    source: int
    tag: int
    msg: M


@dataclass(slots=True)
class Matcher(Generic[M, T]):
    """The posted-receive and unexpected-message queues of one rank."""

    _arrivals: int = 0
    _restored: int = -1  # orders given to restored messages count down from here
    # (ctx, source, tag) -> arrived messages in arrival order
    _unexpected: dict[tuple[int, int, int], deque[_Arrived[M]]] = field(default_factory=dict)
    # ctx -> keys of non-empty buckets, for wildcard scans
    _keys_by_ctx: dict[int, set[tuple[int, int, int]]] = field(default_factory=dict)
    _posted: list[tuple[Selector, T]] = field(default_factory=list)
    _probes: list[tuple[Selector, T]] = field(default_factory=list)

    # -- arrivals ---------------------------------------------------------
    def arrive(
        self, ctx: int, source: int, tag: int, msg: M, *, front: bool = False
    ) -> tuple[T | None, list[T]]:
        """Deliver an arriving message.

        Returns ``(recv_token, probe_tokens)``: the token of the posted receive
        that now owns ``msg`` (None if it was queued as unexpected), and the
        tokens of blocking probes that matched it (only when it was queued);
        those probes are removed.

        ``front=True`` gives back a message that a receive took but could not
        deliver (its waiter was cancelled after the match): it is queued ahead
        of everything that arrived after it, so no message is lost or
        reordered by a cancellation.
        """
        for i, (sel, token) in enumerate(self._posted):
            # sel.matches(ctx, source, tag), inline: once per message
            s_ctx, s_source, s_tag = sel
            if s_ctx == ctx and s_source in (ANY_SOURCE, source) and s_tag in (ANY_TAG, tag):
                del self._posted[i]
                return token, []
        key = (ctx, source, tag)
        bucket = self._unexpected.get(key)
        if bucket is None:
            bucket = self._unexpected[key] = deque()
            self._keys_by_ctx.setdefault(ctx, set()).add(key)
        if front:
            bucket.appendleft(_Arrived(self._restored, source, tag, msg))
            self._restored -= 1
        else:
            bucket.append(_Arrived(self._arrivals, source, tag, msg))
            self._arrivals += 1
        woken: list[T] = []
        if self._probes:
            keep: list[tuple[Selector, T]] = []
            for sel, token in self._probes:
                if sel.matches(ctx, source, tag):
                    woken.append(token)
                else:
                    keep.append((sel, token))
            self._probes = keep
        return None, woken

    # -- receives ---------------------------------------------------------
    def _oldest(self, sel: Selector) -> tuple[int, int, int] | None:
        if sel.source != ANY_SOURCE and sel.tag != ANY_TAG:
            key = (sel.ctx, sel.source, sel.tag)
            return key if key in self._unexpected else None
        best: tuple[int, int, int] | None = None
        best_order = -1
        for key in self._keys_by_ctx.get(sel.ctx, ()):
            head = self._unexpected[key][0]
            if sel.matches(sel.ctx, head.source, head.tag) and (
                best is None or head.order < best_order
            ):
                best, best_order = key, head.order
        return best

    def _pop(self, key: tuple[int, int, int]) -> _Arrived[M]:
        bucket = self._unexpected[key]
        item = bucket.popleft()
        if not bucket:
            del self._unexpected[key]
            keys = self._keys_by_ctx[key[0]]
            keys.discard(key)
            if not keys:
                del self._keys_by_ctx[key[0]]
        return item

    def take(self, sel: Selector) -> tuple[int, int, M] | None:
        """Remove and return ``(source, tag, msg)`` of the oldest matching
        unexpected message, or None. Never queues anything."""
        if not self._unexpected:  # the common case of a receive that waits
            return None
        if sel.source != ANY_SOURCE and sel.tag != ANY_TAG:  # _oldest's first case
            key: tuple[int, int, int] | None = (sel.ctx, sel.source, sel.tag)
            if key not in self._unexpected:
                return None
        else:
            key = self._oldest(sel)
        if key is None:
            return None
        item = self._pop(key)
        return item.source, item.tag, item.msg

    def post_recv(self, sel: Selector, token: T) -> tuple[int, int, M] | None:
        """Match a receive: return ``(source, tag, msg)`` of the oldest
        matching unexpected message, or queue ``token`` and return None."""
        found = self.take(sel)
        if found is None:
            self._posted.append((sel, token))
        return found

    def post(self, sel: Selector, token: T) -> None:
        """Queue a receive that :meth:`take` has just found nothing for
        (with no arrival since): :meth:`post_recv` without looking again."""
        self._posted.append((sel, token))

    def cancel_recv(self, token: T) -> bool:
        """Withdraw a posted receive; False if it was already matched."""
        for i, (_, t) in enumerate(self._posted):
            if t is token:
                del self._posted[i]
                return True
        return False

    # -- probes -----------------------------------------------------------
    def peek(self, sel: Selector) -> tuple[int, int, M] | None:
        """``(source, tag, msg)`` of the message a receive with ``sel`` would
        take now, without removing it; None if there is none."""
        key = self._oldest(sel)
        if key is None:
            return None
        item = self._unexpected[key][0]
        return item.source, item.tag, item.msg

    def post_probe(self, sel: Selector, token: T) -> tuple[int, int, M] | None:
        """A blocking probe: like :meth:`peek`, but when nothing matches yet,
        ``token`` is queued and returned by a later :meth:`arrive`."""
        found = self.peek(sel)
        if found is None:
            self._probes.append((sel, token))
        return found

    def cancel_probe(self, token: T) -> bool:
        """Withdraw a blocking probe; False if it was already woken."""
        for i, (_, t) in enumerate(self._probes):
            if t is token:
                del self._probes[i]
                return True
        return False

    # -- inspection -------------------------------------------------------
    def scan(self, sel: Selector) -> list[tuple[int, int, M]]:
        """Every unexpected message ``sel`` matches, oldest first, without
        removing any."""
        found: list[tuple[int, int, _Arrived[M]]] = []
        for key in self._keys_by_ctx.get(sel.ctx, ()):
            for item in self._unexpected[key]:
                if sel.matches(sel.ctx, item.source, item.tag):
                    found.append((item.order, id(item), item))
        found.sort(key=lambda t: t[0])
        return [(a.source, a.tag, a.msg) for _, _, a in found]

    def withdraw_all(self, ctx: int) -> list[T]:
        """Remove every posted receive and probe of context ``ctx`` and
        return their tokens (so the caller can fail them)."""
        out = [t for sel, t in self._posted if sel.ctx == ctx]
        out += [t for sel, t in self._probes if sel.ctx == ctx]
        self._posted = [(sel, t) for sel, t in self._posted if sel.ctx != ctx]
        self._probes = [(sel, t) for sel, t in self._probes if sel.ctx != ctx]
        return out

    def waiters(self) -> Iterator[tuple[Selector, T]]:
        """Every posted receive and blocking probe (for failure handling)."""
        yield from self._posted
        yield from self._probes

    @property
    def unexpected_count(self) -> int:
        return sum(len(b) for b in self._unexpected.values())
