"""How the launcher reaches a rank's host: the ssh command line.

The remote end (``remote.py``) reads its job from stdin and stops the rank
when stdin closes, so the rank's environment never reaches a command line.
What the command adds to ``--ssh``:

- keepalives: a cut link sends no packet that says the connection is gone,
  so without them the job would wait for that ssh until the link came back;
- waves: a stock sshd refuses some of the handshakes beyond ten at a time
  (``MaxStartups 10:30:100``), which many ranks on one host would make, so
  sessions to one host start ``WAVE`` at a time, ``WAVE_GAP`` seconds apart.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence

__all__ = ["WAVE", "WAVE_GAP", "failure_timeout", "ssh_command", "ssh_keepalive"]

WAVE = 8
WAVE_GAP = 2.0


def failure_timeout(env: Mapping[str, str]) -> float:
    """The failure timeout a rank with environment ``env`` uses (the runtime
    checks the value; a bad one gives the default here)."""
    try:
        return float(env.get("ZMQMESH_FAILURE_TIMEOUT") or 5.0)
    except ValueError:
        return 5.0


def ssh_keepalive(ssh: Sequence[str], timeout: float) -> list[str]:
    """Options that end an OpenSSH client about ``timeout`` seconds after its
    host stops answering. They follow ``--ssh``'s own options, and ssh keeps
    the first value it is given, so a ``ServerAlive*`` option given there
    wins. None for a command that is not OpenSSH's client."""
    if os.path.basename(ssh[0]) != "ssh":
        return []
    return ["-o", "ServerAliveInterval=1", "-o", f"ServerAliveCountMax={max(2, round(timeout))}"]


def ssh_command(
    ssh: Sequence[str], host: str, python: str, *, timeout: float, nth: int
) -> list[str]:
    """The command that starts the remote end of a rank on ``host``, the
    ``nth`` (from 0) of the job's ranks there, with ``python``."""
    remote = f"exec {shlex.quote(python)} -m zmqmesh.launcher.remote"
    cmd = [*ssh, *ssh_keepalive(ssh, timeout), host, remote]
    wave = nth // WAVE
    if wave:
        cmd = ["/bin/sh", "-c", 'sleep "$0"; exec "$@"', f"{wave * WAVE_GAP:g}", *cmd]
    return cmd
