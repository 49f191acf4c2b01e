"""``zmqmesh stack PID``: what each rank of a running job waits in, asked
from outside the job.

The launcher prints that report on its stderr when it gets SIGUSR1
(``launcher/hang.py`` makes it); it also leaves it in :func:`stack_file`, a
file of its own process id in a 0700 directory of this user under the
temp directory, removed when the job ends. ``zmqmesh stack PID`` signals
the launcher and prints the file once it has been rewritten.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import time

__all__ = ["remove_stack", "stack_command", "stack_file", "write_stack"]


def stack_file(pid: int) -> str:
    """Where the launcher of process id ``pid`` leaves its last report of
    what each rank waits in, for ``zmqmesh stack``: in a directory of this
    user's own (0700) under the temp directory."""
    return os.path.join(tempfile.gettempdir(), f"zmqmesh-stack-{os.getuid()}", f"{pid}.txt")


def write_stack(lines: list[str]) -> None:
    """Leave ``lines`` in :func:`stack_file` of this process (whole, or not at all)."""
    path = stack_file(os.getpid())
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        st = os.stat(folder, follow_symlinks=False)
        if st.st_uid != os.getuid() or st.st_mode & 0o077:
            return  # not ours alone: say nothing there
        tmp = f"{path}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, path)
    except OSError:
        pass


def remove_stack() -> None:
    """The job is over: its report goes too."""
    with contextlib.suppress(OSError):
        os.unlink(stack_file(os.getpid()))


def stack_command(words: list[str], wait: float = 5.0) -> int:
    """``zmqmesh stack PID``: signal the launcher PID (SIGUSR1) and print
    the report it leaves in :func:`stack_file`; the exit status."""
    if len(words) != 1 or not words[0].isdigit():
        print("usage: zmqmesh stack LAUNCHER_PID", file=sys.stderr)
        return 2
    pid = int(words[0])
    path = stack_file(pid)
    before = os.stat(path).st_mtime_ns if os.path.exists(path) else -1
    try:
        os.kill(pid, signal.SIGUSR1)
    except ProcessLookupError:
        print(f"zmqmesh: error: no process {pid}", file=sys.stderr)
        return 1
    except PermissionError:
        print(f"zmqmesh: error: process {pid} is not yours", file=sys.stderr)
        return 1
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if os.path.exists(path) and os.stat(path).st_mtime_ns != before:
            with open(path) as f:
                sys.stdout.write(f.read())
            return 0
        time.sleep(0.05)  # a command line's wait for another process's file
    print(f"zmqmesh: error: no report from {pid} within {wait:g} s (is it a zmqmesh launcher?)",
          file=sys.stderr)  # fmt: skip
    return 1
