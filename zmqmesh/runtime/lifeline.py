"""A local rank's lifeline to its launcher: no rank outlives ``zmqmesh launch``.

The launcher holds the write end of a pipe and hands the read end to each
rank it starts on its own host (``ZMQMESH_LIFELINE`` names the descriptor).
Nothing is ever written. When the launcher ends, normally after its ranks,
or killed by SIGKILL while they run, the kernel closes the write end and a
read returns end-of-file. A rank that sees that outlived its launcher:
nobody reads its output or stops it any more. It removes the job's ipc and
shared-memory directories, which the launcher would have removed, and kills
its process group (the rank and whatever it started).

Ranks started over ssh have their own lifeline, ssh's stdin
(``launcher/remote.py``).
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
from collections.abc import Mapping

__all__ = ["ENV", "watch"]

ENV = "ZMQMESH_LIFELINE"

_watched = False


def watch(env: Mapping[str, str]) -> None:
    """Start watching the lifeline that ``env`` names, once per process; do
    nothing when it names none (a rank not started by our launcher)."""
    global _watched
    text = env.get(ENV, "")
    if _watched or not text.isdigit():
        return
    fd = int(text)
    try:
        os.set_inheritable(fd, False)  # the rank's own children do not hold it
    except OSError:
        return  # not open here: the rank was not started with it
    _watched = True
    dirs = [d for d in (env.get("ZMQMESH_IPC_DIR"), env.get("ZMQMESH_SHM_DIR")) if d]
    threading.Thread(target=_wait, args=(fd, dirs), name="zmqmesh-lifeline", daemon=True).start()


def _wait(fd: int, dirs: list[str]) -> None:
    try:
        while os.read(fd, 64):
            pass
    except OSError:
        pass
    for directory in dirs:
        shutil.rmtree(directory, ignore_errors=True)
    if os.getpgrp() == os.getpid():  # our launcher makes each rank a group leader
        os.killpg(os.getpid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
