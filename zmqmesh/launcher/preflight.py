"""Before a multi-host job starts: can every remote host be reached?

One ``ssh HOST true`` per remote host, all at once, each bounded in time.
A host that cannot be reached (no route, refused, authentication failed,
unknown name) stops the launch with one line naming where the host was
given and what ssh said, before any rank is started, so nothing is left
running anywhere.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence

from zmqmesh.job.hostlist import Host, HostfileError

__all__ = ["check_reachable"]

PREFLIGHT_TIMEOUT = 20.0


def check_reachable(ssh: Sequence[str], hosts: Sequence[Host]) -> float:
    """Raise :class:`HostfileError` for the first host ``ssh HOST true``
    cannot run on; else return the seconds the slowest of them took (the
    launcher paces its ssh sessions by it, see ``ssh.py``)."""
    procs: list[tuple[Host, subprocess.Popen[bytes]]] = []
    start = time.monotonic()
    slowest = 0.0
    try:
        for host in hosts:
            try:
                proc = subprocess.Popen(
                    [*ssh, host.name, "true"],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                )
            except OSError as exc:
                raise HostfileError(
                    f"{host.source}: cannot run {ssh[0]!r}: {exc.strerror}"
                ) from None
            procs.append((host, proc))
        for host, proc in procs:
            try:
                _, err = proc.communicate(timeout=PREFLIGHT_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise HostfileError(
                    f"{host.source}: {host.name} did not answer over ssh within "
                    f"{PREFLIGHT_TIMEOUT:g} s"
                ) from None
            if proc.returncode != 0:
                lines = [ln for ln in err.decode(errors="replace").splitlines() if ln.strip()]
                why = lines[-1].strip() if lines else f"ssh exited with status {proc.returncode}"
                raise HostfileError(f"{host.source}: cannot reach {host.name} over ssh: {why}")
            slowest = time.monotonic() - start  # in order: the last wait ends the slowest
        return slowest
    finally:
        for _, proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
