"""The remote end of an ssh-launched rank: ``python -m zmqmesh.launcher.remote``.

Theory of operation. The launcher runs ``ssh HOST exec PYTHON -m
zmqmesh.launcher.remote`` and writes one JSON line to its stdin: the rank's
program, working directory and environment (including the job's keys, which
so never appear in a command line or a file); the program runs under this
Python, or as it is with ``"exec": true`` (a process ``Spawn`` asked for,
``children.py``). This process starts the rank
in a process group of its own, with ssh's stdout and stderr, and then keeps
reading stdin. Killing a local ``ssh`` does not signal remote processes;
what the remote side does see is its stdin closing. When that happens (the
launcher died, or the connection was lost) it stops the rank's whole group:
no rank outlives its launcher. A cut link closes nothing, so the launcher
also writes a newline every second, and a rank whose launcher has been
silent for the job description's ``quiet`` seconds is stopped too. It
exits with the rank's status (128 + N for a rank killed by signal N, which
it also names on stderr).

The launcher's address as seen from here comes from ``SSH_CONNECTION``: it
replaces the ``@launcher`` placeholder in the rendezvous address, and the
address ssh reached this host at is what this rank advertises to its peers.
A rank started as a SLURM step (``srun.py``) reads the same job description
from srun's stdin; the launcher's address is then ``SLURM_LAUNCH_NODE_IPADDR``
and the rank advertises the address its host routes towards it from.
With ``--bind-to core`` the job description's ``ZMQMESH_BIND`` says which
of this host's cores the rank takes (``placement.py``); this process pins
itself to it before it starts the rank, which so inherits it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from zmqmesh.job.settings import LAUNCHER_HOST
from zmqmesh.launcher.placement import bind_self

__all__ = ["main"]

_KILL_AFTER = 3.0


def _stop_group(pgid: int) -> None:
    """SIGTERM the group, SIGKILL what is left after a grace period."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + _KILL_AFTER
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _route_from(target: str) -> str | None:
    """The local address this host's routing table uses towards ``target``
    (no packet is sent: connecting a UDP socket only picks the route), or
    None when there is none or it is a loopback address."""
    try:
        info = socket.getaddrinfo(target, 9, type=socket.SOCK_DGRAM)
        family, kind, proto, _, sockaddr = info[0]
        with socket.socket(family, kind, proto) as probe:
            probe.connect(sockaddr)
            addr = str(probe.getsockname()[0])
        return None if ipaddress.ip_address(addr).is_loopback else addr
    except (OSError, ValueError, IndexError):
        return None


def _launcher_and_self(environ: dict[str, str]) -> tuple[str, str] | None:
    """The launcher's address as seen from here, and this host's address as
    the launcher reached it: from ssh's ``SSH_CONNECTION``, or under srun
    from ``SLURM_LAUNCH_NODE_IPADDR`` (the node srun ran on) and the route
    towards it (the node's name where that route is loopback)."""
    parts = environ.get("SSH_CONNECTION", "").split()
    if len(parts) >= 4:
        return parts[0], parts[2]
    client = environ.get("SLURM_LAUNCH_NODE_IPADDR")
    if client and "SLURM_STEP_ID" in environ:
        server = _route_from(client) or environ.get("SLURMD_NODENAME") or socket.gethostname()
        return client, server
    return None


def _environment(spec: dict[str, Any]) -> dict[str, str]:
    env = dict(os.environ)
    env.update({str(k): str(v) for k, v in spec.get("env", {}).items()})
    ends = _launcher_and_self(dict(os.environ))
    if ends is not None:
        client, server = ends
        env.setdefault("ZMQMESH_LAUNCHER_ADDR", client)
        env.setdefault("ZMQMESH_ADDR", server)
        if "ZMQMESH_RENDEZVOUS" in env:
            env["ZMQMESH_RENDEZVOUS"] = env["ZMQMESH_RENDEZVOUS"].replace(LAUNCHER_HOST, client)
    return env


def main() -> int:
    line = sys.stdin.buffer.readline()
    try:
        spec = json.loads(line)
        argv = [str(a) for a in spec["argv"]]
        cwd = str(spec["cwd"])
    except (ValueError, KeyError, TypeError):
        print("zmqmesh: remote: no valid job description on stdin", file=sys.stderr)
        return 2
    try:
        os.chdir(cwd)
    except OSError as exc:
        print(f"zmqmesh: remote: cannot enter {cwd}: {exc.strerror}", file=sys.stderr)
        return 2
    env = _environment(spec)
    keydir = None
    if isinstance(spec.get("keys"), dict):
        # the job's keys arrived on stdin; the rank reads them from a 0600 file
        keydir = tempfile.mkdtemp(prefix="zmqmesh-keys-")
        path = os.path.join(keydir, "job.key")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(spec["keys"], f)
        env["ZMQMESH_KEYFILE"] = path
    quiet = spec.get("quiet")
    try:
        command = argv if spec.get("exec") is True else [sys.executable, *argv]
        return _run(command, env, float(quiet) if isinstance(quiet, (int, float)) else None)
    finally:
        if keydir is not None:
            shutil.rmtree(keydir, ignore_errors=True)


def _run(command: list[str], env: dict[str, str], quiet: float | None) -> int:
    try:  # --bind-to core: this process is the rank's alone, the rank inherits its core
        bind_self(env)
    except (ValueError, OSError) as exc:
        print(f"zmqmesh: remote: cannot bind the rank to a core: {exc}", file=sys.stderr)
        return 2
    try:
        child = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        print(f"zmqmesh: remote: cannot start the rank: {exc}", file=sys.stderr)
        return 2

    def watch_stdin() -> None:
        fd = sys.stdin.fileno()
        while True:
            ready, _, _ = select.select([fd], [], [], quiet)
            if not ready:
                print(
                    f"zmqmesh: remote: no word from the launcher for {quiet:g} s "
                    "(connection lost); stopping the rank",
                    file=sys.stderr,
                    flush=True,
                )
                break
            if not os.read(fd, 65536):
                break  # the launcher or the connection is gone
        _stop_group(child.pid)

    threading.Thread(target=watch_stdin, name="zmqmesh-remote-stdin", daemon=True).start()
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, lambda s, _f: _stop_group(child.pid))
    code = child.wait()
    with contextlib.suppress(ProcessLookupError):  # what the rank left in its group
        os.killpg(child.pid, signal.SIGKILL)
    if code >= 0:
        return code
    # ssh carries only an exit status, where 128 + N is ambiguous: say it here.
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = str(-code)
    print(f"zmqmesh: remote: the rank was killed by signal {name}", file=sys.stderr, flush=True)
    return 128 - code


if __name__ == "__main__":
    sys.exit(main())
