"""Process groups of ranks: signal them, reap them, tell when they are empty.

Each rank leads a session and so a process group; whatever it starts stays
in that group unless it leaves on purpose. A group is signalled as a whole,
which is how the launcher stops a rank together with its children.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

__all__ = ["become_subreaper", "group_alive", "how_it_ended", "reap_group", "signal_group"]

_PR_SET_CHILD_SUBREAPER = 36


def signal_group(pgid: int, signum: int) -> bool:
    """Send ``signum`` to process group ``pgid``; False when it has no live member."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # macOS says so for a group of zombies
    return True


def reap_group(pgid: int) -> None:
    """Reap the exited children of ours in group ``pgid``. Only for a group
    whose leader is already reaped: the leader's status belongs to Popen."""
    while True:
        try:
            pid, _ = os.waitpid(-pgid, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def group_alive(pgid: int) -> bool:
    """Whether group ``pgid`` has a member that is not a zombie of ours.
    Only for a group whose leader is already reaped."""
    reap_group(pgid)  # a zombie still counts as a member
    return signal_group(pgid, 0)


def become_subreaper() -> bool:
    """On Linux, adopt the ranks' orphaned descendants: where init does not
    reap (many containers), their zombies would otherwise keep the ranks'
    process groups from ever looking empty; and ranks that the fork server
    forks become this process's children. Whether it worked."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
        return int(prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def how_it_ended(returncode: int) -> str:
    """A process's exit status in words (as a failure notice says it)."""
    if returncode == 0:  # returned normally while others may still wait on it
        return "finished (exit 0)"
    if returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"
