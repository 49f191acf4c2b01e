"""What a rank tells the launcher it is waiting in, for hang reports.

Theory of operation. Each blocking call registers the future it awaits
with the engine (``Engine.waiting``: the call in the user's terms, the
world rank it waits on, since when) and drops it when it wakes; the engine
also counts the messages it sent to and received from each rank. When the
launcher asks (an ``Ask`` notice on the rendezvous socket, answered on the
event loop, so only a rank that is waiting or idle answers at all),
:func:`report` describes this rank: every call it waits in with the user's
line, whether the rank is *blocked* (every task of its event loop waits in
a zmqmesh call: none is runnable, none sleeps or waits on anything else,
so nothing but a message can wake it), its message counts, and on request
its tasks' stacks (user frames only). The launcher's ``launcher/hang.py``
decides from all ranks' reports whether the job is deadlocked.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from typing import Any

from zmqmesh.runtime.engine import Engine, call_words
from zmqmesh.runtime.failure import internal, where

__all__ = ["report"]


def report(engine: Engine, *, stack: bool = False) -> dict[str, Any]:
    """This rank's state as a plain map (msgpack-ready):

    ``blocked`` (bool), ``waits`` (``[call, world peer or -1, seconds,
    "file:line in function"]`` per waiting call), ``sent`` / ``arrived``
    (message counts per world rank), and with ``stack`` ``stacks`` (the
    user frames of each task, formatted)."""
    now = time.monotonic()
    tasks = [t for t in asyncio.all_tasks() if not t.done()]
    waiting = {fut: rec for fut, rec in engine.waits.items() if not fut.done()}
    by_task: dict[int, str] = {}
    stacks: list[str] = []
    blocked = bool(tasks)
    for task in tasks:
        fut = getattr(task, "_fut_waiter", None)
        if fut is None or fut not in waiting:
            blocked = False
        frames = [f for f in _frames(task) if not internal(f.filename)]
        if fut is not None and fut in waiting and frames:
            by_task[id(fut)] = where(frames[-1])
        if stack:
            text = "".join(traceback.StackSummary.from_list(frames).format())
            stacks.append(f"{task.get_name()}:\n{text}" if text else f"{task.get_name()}: -\n")
    waits = [
        [call_words(call), peer, round(now - since, 3), by_task.get(id(fut), "")]
        for fut, (call, peer, since) in waiting.items()
    ]
    out: dict[str, Any] = {
        "blocked": blocked and bool(waits),
        "waits": waits,
        "sent": list(engine.sent_to),
        "arrived": list(engine.arrived_from),
    }
    if stack:
        out["stacks"] = stacks
    return out


def _frames(task: asyncio.Task[Any]) -> list[traceback.FrameSummary]:
    """The frames of ``task``'s chain of awaiting coroutines, outermost
    first (``get_stack`` gives only the outermost of a suspended task)."""
    out: list[traceback.FrameSummary] = []
    coro: Any = task.get_coro()
    while coro is not None and len(out) < 200:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            break
        code = frame.f_code
        out.append(traceback.FrameSummary(code.co_filename, frame.f_lineno, code.co_name))
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return out
