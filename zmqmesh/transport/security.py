"""CURVE security for jobs that span hosts.

Threat model (also in the README). Ranks on one host talk over ipc sockets in
a 0700 directory: only the job's user can connect. Between hosts, every
socket of the job (each rank's ROUTER, its DEALERs, the rendezvous) uses
ZeroMQ's CURVE: traffic is encrypted and authenticated with one key pair
made per job by the launcher and handed to the ranks privately (through
ssh's stdin to remote ranks, a 0600 file to local ones; never a command line
or a file others can read). A ZAP handler on every rank and on the
rendezvous admits only clients presenting the job's public key, which
proves they hold its secret key; anyone else is refused at the handshake,
logged as an AuthenticationError, and never reaches the job. ``--insecure``
turns CURVE off, for benchmarks on trusted networks only.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Any

import zmq
import zmq.auth.thread

from zmqmesh.errors import AuthenticationError, LaunchError

__all__ = ["Guard", "JobKeys", "load_keys", "new_keys", "write_keyfile"]

log = logging.getLogger("zmqmesh.security")


@dataclass(frozen=True, slots=True)
class JobKeys:
    """The job's CURVE key pair, Z85-encoded."""

    public: str
    secret: str

    def server(self, sock: zmq.Socket[Any]) -> None:
        """Make ``sock`` (a ROUTER) a CURVE server with the job's keys."""
        sock.curve_secretkey = self.secret.encode()
        sock.curve_publickey = self.public.encode()
        sock.curve_server = True

    def client(self, sock: zmq.Socket[Any]) -> None:
        """Make ``sock`` (a DEALER) a CURVE client of a job server."""
        sock.curve_secretkey = self.secret.encode()
        sock.curve_publickey = self.public.encode()
        sock.curve_serverkey = self.public.encode()


def new_keys() -> JobKeys:
    public, secret = zmq.curve_keypair()
    return JobKeys(public.decode(), secret.decode())


def write_keyfile(keys: JobKeys, directory: str) -> str:
    """Write ``keys`` to a new 0600 file in ``directory``; returns its path."""
    path = os.path.join(directory, "job.key")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"public": keys.public, "secret": keys.secret}, f)
    return path


def load_keys(path: str) -> JobKeys:
    """Read a key file; refuses one that others can read."""
    try:
        st = os.stat(path)
        if st.st_mode & 0o077:
            raise LaunchError(f"{path}: key file must not be readable by others (chmod 600)")
        with open(path) as f:
            data = json.load(f)
        return JobKeys(str(data["public"]), str(data["secret"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LaunchError(f"{path}: not a usable zmqmesh key file: {exc}") from None


class _OnlyTheJob:
    def __init__(self, public: str) -> None:
        self.public = public.encode()

    def callback(self, domain: str, key: bytes) -> bool:
        if key == self.public:
            return True
        err = AuthenticationError(f"refused a connection with an unknown key {key.decode()!r}")
        log.warning("%s: %s", type(err).__name__, err)
        return False


class Guard:
    """A ZAP handler on ``zctx`` admitting only the job's key (one per
    context; ``close()`` is idempotent)."""

    def __init__(self, zctx: zmq.Context[Any], keys: JobKeys) -> None:
        self._auth = zmq.auth.thread.ThreadAuthenticator(zctx, log=log)
        self._auth.start()
        self._auth.configure_curve_callback("*", _OnlyTheJob(keys.public))

    def close(self) -> None:
        if self._auth.is_alive():
            self._auth.stop()
