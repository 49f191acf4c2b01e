"""How the launcher reaches a rank's host: the ssh command line.

The remote end (``remote.py``) reads its job from stdin and stops the rank
when stdin closes, so the rank's environment never reaches a command line.
What the command adds to ``--ssh``:

- keepalives: a cut link sends no packet that says the connection is gone,
  so without them the job would wait for that ssh until the link came back.
  OpenSSH also applies them to the login itself, so their budget covers the
  slowest login the launcher's pre-flight check saw, three times over;
- waves: a stock sshd refuses some of the handshakes beyond ten at a time
  (``MaxStartups 10:30:100``), which many ranks on one host would make, so
  sessions to one host start ``WAVE`` at a time, a wave once the previous
  one has had time to log in (1.5 times that slowest login, ``WAVE_GAP``
  seconds at least).
"""

from __future__ import annotations

import math
import os
import shlex
from collections.abc import Mapping, Sequence

from zmqmesh.errors import LaunchError
from zmqmesh.job.settings import FAILURE_TIMEOUT, read_failure_timeout

__all__ = ["WAVE", "WAVE_GAP", "failure_timeout", "ssh_command", "ssh_keepalive"]

WAVE = 8
WAVE_GAP = 2.0
ALIVE_INTERVAL = 3  # seconds between keepalives
ALIVE_MIN = 15.0  # seconds of silence before ssh gives up, at least


def failure_timeout(env: Mapping[str, str]) -> float:
    """The failure timeout a rank with environment ``env`` uses, read as the
    rank reads it; a bad value gives the default here (the rank itself
    stops with the error)."""
    try:
        return read_failure_timeout(env)
    except LaunchError:
        return FAILURE_TIMEOUT


def ssh_keepalive(ssh: Sequence[str], timeout: float, login: float = 0.0) -> list[str]:
    """Options that end an OpenSSH client once its host has not answered
    for ``ALIVE_MIN`` seconds, three failure timeouts (``timeout``) or
    three logins (``login``), whichever is longest. They follow ``--ssh``'s
    own options, and ssh keeps the first value it is given, so a
    ``ServerAlive*`` option given there wins. None for a command that is not
    OpenSSH's client."""
    if os.path.basename(ssh[0]) != "ssh":
        return []
    budget = max(ALIVE_MIN, 3 * timeout, 3 * login)
    count = math.ceil(budget / ALIVE_INTERVAL)
    return ["-o", f"ServerAliveInterval={ALIVE_INTERVAL}", "-o", f"ServerAliveCountMax={count}"]


def ssh_command(
    ssh: Sequence[str], host: str, python: str, *, timeout: float, nth: int, login: float = 0.0
) -> list[str]:
    """The command that starts the remote end of a rank on ``host``, the
    ``nth`` (from 0) of the job's ranks there, with ``python``; ``login``
    is the slowest ssh login the pre-flight check saw (seconds)."""
    remote = f"exec {shlex.quote(python)} -m zmqmesh.launcher.remote"
    cmd = [*ssh, *ssh_keepalive(ssh, timeout, login), host, remote]
    wave = nth // WAVE
    if wave:
        gap = max(WAVE_GAP, 1.5 * login)
        cmd = ["/bin/sh", "-c", 'sleep "$0"; exec "$@"', f"{wave * gap:.3g}", *cmd]
    return cmd
