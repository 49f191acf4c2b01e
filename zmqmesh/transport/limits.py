"""How large a message may be, and the sender's check of it.

A rank accepts frames of up to ``max_frame`` bytes through ZeroMQ
(``ZMQ_MAXMSGSIZE``) and messages of up to ``max_frame`` bytes in all on a
same-host link (``wire/stream.py``'s ``max_message``). By default that is
this host's memory: a message that fits in memory travels. (It was 4 GiB,
which let a larger same-host message through the sender and lost it, and
every later one of the pair, on the receiver.)

The limit is not what keeps a peer from making a rank allocate memory it
was not sent: ZeroMQ (``malloc``, which maps large blocks) and the same-host
reader (``samehost._frame``) both page a frame's buffer in only as its
bytes arrive, so an announced size costs address space, not memory. A size
beyond any mapping fails the mapping, and the link or connection with it.

Shared memory has no limit of its own here: a frame that does not fit in
``/dev/shm`` (or over the pool's busy cap, ``shm.SHM_BUSY_MAX``) takes the
socket instead.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

__all__ = ["FAILURE_TIMEOUT", "MAX_FRAME", "check_size", "raise_open_files", "sizes_of"]


def _memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):  # no such names here: a bound no host reaches
        return 1 << 48


MAX_FRAME = _memory()
"""The default ``max_frame``: this host's memory, in bytes."""

# Seconds a peer may stay unreachable before it counts as failed (API.md:
# RankFailedError "within the failure timeout, default 5 s"). Here rather
# than in transport.py so that the job's settings (job/settings.py), which
# take their defaults from this module, load without ZeroMQ or NumPy.
FAILURE_TIMEOUT = 5.0


def raise_open_files() -> int:
    """Raise this process's soft limit on open descriptors to its hard limit
    (which a process may do by itself); returns the soft limit now, or -1
    where there is none to read.

    A job's descriptors grow with its size: on one host a rank holds one
    same-host link per peer it talks to besides ZeroMQ's (measured: about
    120 in a 128-rank all-to-all), and the launcher two pipes and a
    rendezvous connection per rank (about 400 for 128 ranks), so the usual
    soft limit of 1024 stopped a launcher at about 330 local ranks, while
    hard limits are commonly far higher.
    """
    try:
        import resource
    except ImportError:  # not POSIX
        return -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return soft
    # an infinite hard limit: ask for plenty (macOS refuses infinity itself)
    want = max(soft, 1 << 16) if hard == resource.RLIM_INFINITY else hard
    if soft >= want:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ValueError, OSError):
        return soft
    return want


def sizes_of(frames: Sequence[Any]) -> list[int]:
    """The byte size of each frame (a memoryview's ``nbytes``, else ``len``)."""
    return [f.nbytes if type(f) is memoryview else len(f) for f in frames]


def check_size(sizes: Sequence[int], limit: int, *, whole: bool) -> None:
    """Raise ``ValueError`` naming the limit and the size when frames of
    ``sizes`` (``sizes_of``) are over ``limit``: their sum with ``whole``
    (a same-host link), else the largest (ZeroMQ)."""
    if whole and sum(sizes) > limit:
        raise ValueError(
            f"a message of {sum(sizes)} bytes is over the largest message "
            f"a rank takes (max_frame, {limit} bytes)"
        )
    if not whole and sizes and max(sizes) > limit:
        raise ValueError(
            f"a message frame of {max(sizes)} bytes is over the largest frame "
            f"a rank takes (max_frame, {limit} bytes)"
        )
