"""What a rank prints when its program ends with an exception.

Theory of operation. When one rank of a job raises, every other rank soon
fails too (its waits on that rank raise :class:`~zmqmesh.RankFailedError`),
and Python's default report was one ~20-frame traceback per rank, mostly
asyncio's, uvloop's and zmqmesh's own frames, with nothing saying which
rank started it. ``install`` replaces ``sys.excepthook`` in a rank so that:

- a rank whose program raised prints its traceback once, with each run of
  zmqmesh/asyncio/uvloop frames folded into one line (all of them with
  ``ZMQMESH_TRACEBACK=full``), then one line naming the cause::

      zmqmesh: rank 1 (nodeA) raised ValueError: boom at prog.py:12 in main

  which the launcher watches for (``job/cause.py``) to name the job's first
  failure in its last line, and to tell the other ranks what happened;
- a rank that stopped only because another rank failed prints one line,
  ``rank 3: stopped, rank 1 failed: ...``, not a traceback.

Pure but for ``install`` and the hook itself (which write to stderr).
"""

from __future__ import annotations

import asyncio
import os
import sys
import traceback
from types import TracebackType

from zmqmesh.errors import RankFailedError
from zmqmesh.job.cause import CAUSE

__all__ = [
    "call_site",
    "cause_line",
    "folded",
    "install",
    "internal",
    "stopped_line",
    "user_frame",
    "where",
]

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_INTERNAL = (_PACKAGE, os.path.dirname(asyncio.__file__) + os.sep, "uvloop")


def internal(filename: str) -> bool:
    """Whether ``filename`` is zmqmesh's, asyncio's or uvloop's."""
    return filename.startswith(_INTERNAL) or f"{os.sep}uvloop{os.sep}" in filename


def user_frame(exc: BaseException) -> traceback.FrameSummary | None:
    """The innermost frame of ``exc``'s traceback outside zmqmesh, asyncio
    and uvloop (where the user's code raised or called zmqmesh), or None."""
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if not internal(frame.filename):
            return frame
    return None


def where(frame: traceback.FrameSummary) -> str:
    """``file:line in function``, the file relative to the working directory."""
    path = frame.filename
    rel = os.path.relpath(path) if os.path.isabs(path) else path
    shown = path if rel.startswith("..") else rel
    return f"{shown}:{frame.lineno} in {frame.name}"


def call_site() -> str:
    """``file:line in function`` of the innermost caller outside zmqmesh,
    asyncio and uvloop (a coroutine's caller is the coroutine awaiting
    it), or ``""``."""
    frame = sys._getframe(1)
    while frame is not None and internal(frame.f_code.co_filename):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return ""
    key = (frame.f_code, frame.f_lineno)  # every collective asks: formatted once a line
    text = _sites.get(key)
    if text is None:
        if len(_sites) >= 1024:
            _sites.clear()
        code = frame.f_code
        summary = traceback.FrameSummary(code.co_filename, frame.f_lineno, code.co_name)
        text = _sites[key] = where(summary)
    return text


_sites: dict[tuple[object, int], str] = {}


def cause_line(rank: int, host: str, exc: BaseException) -> str:
    """``zmqmesh: rank 1 (host) raised ValueError: boom at prog.py:12 in main``."""
    text = f"{type(exc).__qualname__}: {exc}" if str(exc) else type(exc).__qualname__
    text = text.splitlines()[0] if text else text
    frame = user_frame(exc)
    at = f" at {where(frame)}" if frame is not None else ""
    return f"{CAUSE}{rank} ({host}) raised {text}{at}"


def folded(exc: BaseException, *, full: bool = False) -> str:
    """``exc``'s traceback as Python prints it, each run of zmqmesh, asyncio
    and uvloop frames folded into one line (none with ``full``)."""
    te = traceback.TracebackException.from_exception(exc)
    if full:
        return "".join(te.format())
    out: list[str] = []
    _emit(te, out, set())
    return "".join(out)


def _emit(te: traceback.TracebackException, out: list[str], seen: set[int]) -> None:
    seen.add(id(te))
    if te.__cause__ is not None and id(te.__cause__) not in seen:
        _emit(te.__cause__, out, seen)
        out.append("\nThe above exception was the direct cause of the following exception:\n\n")
    elif (
        te.__context__ is not None
        and not te.__suppress_context__
        and id(te.__context__) not in seen
    ):
        _emit(te.__context__, out, seen)
        out.append("\nDuring handling of the above exception, another exception occurred:\n\n")
    if te.stack:
        out.append("Traceback (most recent call last):\n")
        run = 0
        for frame in [*te.stack, None]:
            if frame is not None and internal(frame.filename):
                run += 1
                continue
            if run:
                out.append(f"  ... {run} frame{'s' * (run > 1)} of zmqmesh, asyncio, uvloop\n")
                run = 0
            if frame is not None:
                out.extend(traceback.StackSummary.from_list([frame]).format())
    out.extend(te.format_exception_only())


def stopped_line(rank: int, exc: RankFailedError) -> str:
    """``rank 3: stopped in recv at prog.py:9 in main, rank 1 failed: ...``:
    where it waited (the zmqmesh call and the user's line) and why."""
    frames = traceback.extract_tb(exc.__traceback__)
    for i in range(len(frames) - 1, -1, -1):
        if not internal(frames[i].filename):
            call = frames[i + 1].name if i + 1 < len(frames) else ""
            inside = f" in {call}" if call and not call.startswith("_") else ""
            return f"rank {rank}: stopped{inside} at {where(frames[i])}, {exc}"
    return f"rank {rank}: stopped, {exc}"


def install(rank: int, host: str) -> None:
    """Make this process's uncaught exceptions print as the module says
    (once per process; a later call only updates the rank and host)."""
    global _installed, _me
    _me = (rank, host)
    if _installed:
        return
    _installed = True
    previous = sys.excepthook
    full = os.environ.get("ZMQMESH_TRACEBACK", "") == "full"

    def zmqmesh_excepthook(
        etype: type[BaseException], value: BaseException, tb: TracebackType | None
    ) -> None:
        if not isinstance(value, Exception):  # KeyboardInterrupt and the like
            previous(etype, value, tb)
            return
        try:
            me, where = _me
            if isinstance(value, RankFailedError) and not full:
                text = stopped_line(me, value) + "\n"
            else:
                text = folded(value, full=full) + cause_line(me, where, value) + "\n"
            sys.stderr.write(text)
            sys.stderr.flush()
        except Exception:  # never hide the error behind one of ours
            previous(etype, value, tb)

    sys.excepthook = zmqmesh_excepthook


_me: tuple[int, str] = (0, "")  # this rank and its host, for the hook
_installed = False
