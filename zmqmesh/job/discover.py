"""Finding rank 0's rendezvous in an MPI launcher's job that names none.

Theory of operation. ``mpirun`` and ``mpiexec`` tell a rank its rank and
the size, not where rank 0 is. When every rank runs on one host
(``foreign.discovery`` decides, from the environment), rank 0 picks a free
port, serves the rendezvous there on loopback and publishes
``127.0.0.1:<port>`` where the others can read it:

- Hydra (MPICH, Intel MPI): in the job's PMI key-value space, over the
  PMI-1 socket Hydra hands every rank (``PMI_FD``): rank 0 puts the
  address, every rank enters PMI's barrier, the others get it. The key
  space's name is the job id. PMI is finalized at once: zmqmesh needs it
  for nothing else.
- Open MPI: in a file of the job's session directory, named after the job
  id that mpirun gives every rank; rank 0 writes it whole (a rename), the
  others wait for it, and rank 0 removes it once every rank has checked in.

:func:`rendezvous_env` does this and returns what a user would otherwise
have set, ``ZMQMESH_RENDEZVOUS`` and ``ZMQMESH_JOB``, for
``settings.JobSettings.from_environ`` to read as usual. It blocks (socket
reads, waiting for the file): the runtime calls it in a thread.

The PMI-1 wire format is one line per message, ``cmd=NAME key=value ...``;
:func:`pmi_encode` and :func:`pmi_decode` are pure.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import time
from collections.abc import Callable

from zmqmesh.errors import LaunchError
from zmqmesh.job.foreign import Discovery

__all__ = [
    "KEY",
    "PmiClient",
    "free_port",
    "pmi_decode",
    "pmi_encode",
    "remove_published",
    "rendezvous_env",
]

KEY = "zmqmesh-rendezvous"
"""The PMI key under which rank 0 publishes its rendezvous address."""

_LINE_MAX = 4096
_POLL_MAX = 0.2


def pmi_encode(cmd: str, **fields: str) -> bytes:
    """One PMI-1 request line: ``cmd=NAME k=v ...\\n``. Raises ``ValueError``
    for a value with a space, ``=`` or a newline, which the format cannot
    carry."""
    parts = [f"cmd={cmd}"]
    for k, v in fields.items():
        if any(c in v for c in " =\n") or any(c in k for c in " =\n"):
            raise ValueError(f"PMI cannot carry {k}={v!r}")
        parts.append(f"{k}={v}")
    return (" ".join(parts) + "\n").encode()


def pmi_decode(line: bytes) -> dict[str, str]:
    """A PMI-1 reply line as a dict (``cmd`` included). Words without ``=``
    are ignored; Hydra's ``msg=`` values are single words too."""
    out: dict[str, str] = {}
    for word in line.decode("utf-8", "replace").split():
        k, sep, v = word.partition("=")
        if sep:
            out.setdefault(k, v)
    return out


class PmiClient:
    """A PMI-1 client over the socket ``fd`` that Hydra handed this
    process. Each call sends one request and waits for its reply, at most
    ``timeout`` seconds (``None``: no limit).

    Raises :class:`zmqmesh.LaunchError` when the server closes the socket,
    does not answer in time, answers with ``rc`` other than 0, or with
    another command than expected.
    """

    def __init__(self, fd: int, timeout: float | None = None) -> None:
        self.fd = fd
        self.timeout = timeout
        self._buffer = b""

    def _call(self, expect: str, cmd: str, **fields: str) -> dict[str, str]:
        data = pmi_encode(cmd, **fields)
        try:
            while data:
                data = data[os.write(self.fd, data) :]
            reply = pmi_decode(self._line())
        except OSError as exc:
            raise LaunchError(f"PMI_FD={self.fd}: {cmd}: {exc.strerror}") from None
        if reply.get("cmd") != expect or reply.get("rc", "0") != "0":
            raise LaunchError(f"PMI_FD={self.fd}: {cmd} was answered {reply}")
        return reply

    def _line(self) -> bytes:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while b"\n" not in self._buffer:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                # a rank that never calls init() keeps the others in PMI's barrier
                raise LaunchError(
                    f"PMI_FD={self.fd}: no answer from the PMI server within {self.timeout:g} s "
                    "(does every rank call zmqmesh.init()?)"
                )
            chunk = os.read(self.fd, _LINE_MAX)
            if not chunk:
                raise LaunchError(f"PMI_FD={self.fd}: the PMI server closed the connection")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def init(self) -> None:
        self._call("response_to_init", "init", pmi_version="1", pmi_subversion="1")

    def kvsname(self) -> str:
        return self._call("my_kvsname", "get_my_kvsname").get("kvsname", "")

    def put(self, kvsname: str, key: str, value: str) -> None:
        self._call("put_result", "put", kvsname=kvsname, key=key, value=value)

    def barrier(self) -> None:
        self._call("barrier_out", "barrier_in")

    def get(self, kvsname: str, key: str) -> str:
        reply = self._call("get_result", "get", kvsname=kvsname, key=key)
        if "value" not in reply:
            raise LaunchError(f"PMI_FD={self.fd}: no value for {key}")
        return reply["value"]

    def finalize(self) -> None:
        self._call("finalize_ack", "finalize")


def free_port() -> int:
    """A tcp port that is free on every interface now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


def rendezvous_env(
    plan: Discovery,
    *,
    timeout: float,
    port: Callable[[], int] = free_port,
) -> dict[str, str]:
    """Find (rank 0: choose and publish) the rendezvous of ``plan``'s job;
    the variables that name it, ``ZMQMESH_RENDEZVOUS`` and ``ZMQMESH_JOB``.
    ``timeout``: how long a rank waits for rank 0's file, or for each answer
    of the PMI server (its barrier waits for every rank).

    Raises :class:`zmqmesh.LaunchError` when PMI fails or does not answer
    within ``timeout``, or the file does not appear within ``timeout`` or
    cannot be written or read.
    """
    mine = f"127.0.0.1:{port()}" if plan.rank == 0 else ""
    if plan.pmi_fd is not None:
        pmi = PmiClient(plan.pmi_fd, timeout)
        pmi.init()
        kvs = pmi.kvsname()
        if plan.rank == 0:
            pmi.put(kvs, KEY, mine)
        pmi.barrier()
        address = mine or pmi.get(kvs, KEY)
        pmi.finalize()
        job = f"mpi-pmi-{kvs}"
    else:
        assert plan.path is not None
        address = _publish(plan.path, mine) if mine else _wait_for(plan.path, timeout)
        job = plan.job
    return {"ZMQMESH_RENDEZVOUS": address, "ZMQMESH_JOB": job}


def remove_published(plan: Discovery) -> None:
    """Rank 0, once every rank has checked in: remove the file it published."""
    if plan.rank == 0 and plan.path is not None:
        with contextlib.suppress(OSError):
            os.unlink(plan.path)


def _publish(path: str, address: str) -> str:
    part = f"{path}.{os.getpid()}"
    try:
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(address + "\n")
        os.replace(part, path)
    except OSError as exc:
        raise LaunchError(f"cannot publish the rendezvous in {path}: {exc.strerror}") from None
    return address


def _wait_for(path: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            with open(path) as f:
                text = f.read().strip()
            if text:
                return text
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise LaunchError(f"cannot read the rendezvous from {path}: {exc.strerror}") from None
        if time.monotonic() >= deadline:
            raise LaunchError(
                f"rank 0 did not publish its rendezvous in {path} within {timeout:g} s"
            )
        # rank 0 writes the file once; nothing signals it but its appearance
        time.sleep(delay)
        delay = min(_POLL_MAX, delay * 2)
