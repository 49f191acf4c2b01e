"""A local rank's lifeline to its launcher: no rank outlives ``zmqmesh launch``.

The launcher holds the write end of a pipe and hands the read end to each
rank it starts on its own host (``ZMQMESH_LIFELINE`` names the descriptor
and the launcher's pid; see :func:`watch`).
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
import stat
import threading
from collections.abc import MutableMapping

from zmqmesh.job.settings import VARIABLES

__all__ = ["ENV", "value", "watch"]

ENV = "ZMQMESH_LIFELINE"

_watched = False


def value(fd: int) -> str:
    """What the launcher puts in ``ZMQMESH_LIFELINE`` for its ranks."""
    return f"{fd}:{os.getpid()}"


def watch(env: MutableMapping[str, str], *, fd: int | None = None) -> bool:
    """Start watching the lifeline that ``env`` names, once per process; do
    nothing when it names none (a rank not started by our launcher).
    Whether this call started watching.

    The variable names the descriptor and the launcher's pid. It is taken
    out of ``env`` (the process's environment), and a process whose parent
    is not that launcher ignores it: the rank's own children, which inherit
    the variable but not the descriptor, must not read whatever file has
    that number in them. ``fd`` is the descriptor of a rank that the
    launcher's fork server forked: it got it under a number of its own, and
    the launcher adopts it only once the fork in between has exited.
    """
    global _watched
    fd_text, _, pid_text = env.pop(ENV, "").partition(":")
    if _watched or not fd_text.isdigit():
        return False
    if fd is None:
        if pid_text != str(os.getppid()):
            return False
        fd = int(fd_text)
    try:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return False
        os.set_inheritable(fd, False)  # the rank's own children do not hold it
    except OSError:
        return False  # not open here: the rank was not started with it
    _watched = True
    # Read here, not through JobSettings.from_environ: this runs at import,
    # where a mistake in another variable must not stop the process.
    dirs = [d for d in (env.get(VARIABLES["ipc_dir"]), env.get(VARIABLES["shm_dir"])) if d]
    threading.Thread(target=_wait, args=(fd, dirs), name="zmqmesh-lifeline", daemon=True).start()
    return True


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
