"""Test hosts as Linux network namespaces, each with its own address and sshd.

Theory of operation. :func:`start_hosts` builds, for one test run:

* a *switch* namespace ``zmh<tag>-sw`` holding a bridge ``br0``;
* one namespace ``zmh<tag>-<i>`` per host, whose ``eth0`` is a veth into the
  bridge, with ``lo`` up and one address in a private /24;
* a veth ``zmh<tag>`` in the root namespace, also into the bridge, carrying
  ``head_ip``: the test process and the launcher it starts reach every host
  through it, and every host reaches the head and the other hosts;
* one ``sshd`` per host namespace, listening on that host's address only,
  with a host key, a client key and configuration in a fresh temporary
  directory, so the real ``ssh`` client reaches host ``zmh<i>`` through
  ``ssh -F <ssh_config> zmh<i>``.

The bridge lives in a namespace of its own rather than in the root namespace
because bridged frames in the root namespace pass through the root
namespace's iptables FORWARD chain when ``br_netfilter`` is loaded, and hosts
running Docker set that chain's policy to DROP: host-to-host traffic would
vanish there. In a fresh namespace the chain is empty.

Traffic stays on the /24: hosts have no route but the one to their subnet (no
default route, no NAT, nothing forwards), IPv6 is off on every interface made
here, and the subnet is chosen so it overlaps no address or route of the
root namespace.

Invariants:

* Every object made for a run is named with the run's ``tag`` (8 hex digits)
  and the run holds ``flock`` on ``STATE_DIR/<tag>.lock`` from before the
  first object exists until after the last is gone. An object whose tag's
  lock is not held belongs to a run that crashed: :func:`cleanup_stale`
  removes it. Concurrent runs never touch each other's objects.
* :meth:`Hosts.close` removes everything a run made, also after a partial
  start, and is idempotent: processes in the namespaces (sshd and anything
  started over ssh) are killed before the namespaces are deleted, because a
  namespace with a live process in it outlives ``ip netns del``.
* Waits are on events (sshd's "Server listening" line, process exit through
  pidfds) or bounded retries with a deadline; nothing sleeps for a guess.

Nothing here uses host names: all namespaces share the machine's host name
and file system; a host is told apart by its name in ``ssh_config``, its
address, or its network namespace (:meth:`Hosts.procs`).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from .nsutil import (
    _CMD_TIMEOUT,
    _KILL_GRACE,
    _START_DEADLINE,
    _TMP_PREFIX,
    HOST_IF,
    PREFIX,
    SSH_PORT,
    SSHD,
    STATE_DIR,
    NetnsError,
    Unsupported,
    _cmdline,
    _del_netns,
    _free_subnet,
    _ip,
    _ipv6_off,
    _kill_netns,
    _list_root_links,
    _lock_path,
    _netns_pids,
    _root_locked,
    _sshd_version,
    _try_lock,
    check_supported,
    cleanup_stale,
    wait_exit,
)

__all__ = [
    "PREFIX",
    "STATE_DIR",
    "Hosts",
    "NetnsError",
    "Unsupported",
    "cleanup_stale",
    "start_hosts",
    "wait_exit",
]


def _sshd_config(tmp: Path, host_dir: Path, ip: str, version: tuple[int, int]) -> str:
    lines = [
        f"ListenAddress {ip}:{SSH_PORT}",
        "AddressFamily inet",
        f"HostKey {host_dir / 'ssh_host_ed25519_key'}",
        f"PidFile {host_dir / 'sshd.pid'}",
        f"AuthorizedKeysFile {tmp / 'id_ed25519.pub'}",
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        f"UsePAM {'yes' if _root_locked() else 'no'}",
        # The key files live under /tmp, which is world-writable: StrictModes
        # would refuse them although the directory itself is root's, 0700.
        "StrictModes no",
        "UseDNS no",
        "PrintMotd no",
        "PrintLastLog no",
        "X11Forwarding no",
        # A launcher opens one session per rank, all at once.
        "MaxStartups 200",
        "MaxSessions 200",
        "LogLevel INFO",
    ]
    if version >= (9, 8):
        # Failure tests kill ssh clients mid-handshake; 9.8+ would then refuse
        # the head's address for a while.
        lines.append("PerSourcePenalties no")
    return "\n".join(lines) + "\n"


class _Sshd:
    """One ``sshd -D -e`` in a namespace; a thread copies its log to a file
    and flags the "Server listening" line (or the end of the log)."""

    def __init__(self, ns: str, config: Path, log: Path) -> None:
        self.log = log
        self.ready = threading.Event()
        self.listening = False
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, SSHD, "-f", str(config), "-D", "-e"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,  # a ^C to pytest is for pytest; teardown stops sshd
        )
        self._thread = threading.Thread(target=self._pump, name=f"sshd-log-{ns}", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        with self.proc.stderr, self.log.open("w") as out:
            for line in self.proc.stderr:
                out.write(line)
                out.flush()
                if "Server listening on" in line:
                    self.listening = True
                    self.ready.set()
        self.ready.set()

    def tail(self, n: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text().splitlines()[-n:])
        return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(_KILL_GRACE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(_KILL_GRACE)
        self._thread.join(_KILL_GRACE)


# -- the hosts -------------------------------------------------------------------


class Hosts:
    """Namespace hosts of one test run; see the module docstring.

    Attributes: ``names`` (ssh host names, ``zmh1``...), ``ips`` (name ->
    address), ``head_ip`` (the root namespace's address on the bridge),
    ``subnet``, ``ssh_config`` (path), ``ssh_cmd`` (``"ssh -F <ssh_config>"``,
    for the launcher's ``--ssh``), ``namespaces`` (name -> netns name),
    ``tmpdir``.
    """

    def __init__(self, tag: str, names: Sequence[str]) -> None:
        if not re.fullmatch(r"[0-9a-f]{8}", tag):
            raise ValueError(f"tag must be 8 hex digits, not {tag!r}")
        self.tag = tag
        self.names = list(names)
        self.namespaces = {n: f"{PREFIX}{tag}-{i}" for i, n in enumerate(self.names, 1)}
        self.switch_ns = f"{PREFIX}{tag}-sw"
        self.head_link = f"{PREFIX}{tag}"
        self.ips: dict[str, str] = {}
        self.head_ip = ""
        self.subnet: ipaddress.IPv4Network | None = None
        self.tmpdir = Path()
        self.ssh_config = Path()
        self.ssh_cmd = ""
        self._sshd: dict[str, _Sshd] = {}
        self._children: list[subprocess.Popen[str]] = []
        self._made: list[str] = []  # namespaces created, in order
        self._closed = False
        STATE_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        fd = _try_lock(_lock_path(tag))
        if fd is None:
            raise NetnsError(f"run tag {tag} is in use")
        self._lock_fd: int | None = fd

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<Hosts {self.tag} {state} head={self.head_ip} {self.ips}>"

    def __enter__(self) -> Hosts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- use --

    def run(
        self,
        host: str,
        cmd: str | Sequence[str],
        *,
        timeout: float = 30,
        check: bool = False,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` (a shell string, or an argv) in ``host``'s network
        namespace through ``ip netns exec``, from the test process (no ssh);
        return the completed process, output captured as text. Raises
        :class:`subprocess.CalledProcessError` on a non-zero status when
        ``check``, :class:`subprocess.TimeoutExpired` past ``timeout``."""
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        return subprocess.run(
            ["ip", "netns", "exec", self.namespaces[host], *argv],
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    def ssh(
        self, host: str, cmd: str, *, timeout: float = 30, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` on ``host`` through ``ssh_cmd``, like the launcher does;
        same return and errors as :meth:`run`."""
        return subprocess.run(
            [*shlex.split(self.ssh_cmd), host, cmd],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    def procs(self, host: str) -> dict[int, str]:
        """pid -> command line of every process in ``host``'s network
        namespace except its listening sshd: what ``ps`` cannot tell, since
        all hosts share one pid namespace. Exited (zombie) processes are not
        listed."""
        sshd = self._sshd.get(host)
        skip = sshd.proc.pid if sshd else None
        out = {}
        for pid in sorted(_netns_pids(self.namespaces[host])):
            if pid != skip and (cmd := _cmdline(pid)) is not None:
                out[pid] = cmd
        return out

    def wait_idle(self, host: str, timeout: float = 10.0) -> dict[int, str]:
        """Wait until :meth:`procs` of ``host`` is empty (an ssh session's
        processes exit a moment after its client), at most ``timeout``
        seconds; return what is left: ``{}`` once idle."""
        deadline = time.monotonic() + timeout
        while True:
            left = self.procs(host)
            now = time.monotonic()
            if not left or now >= deadline:
                return left
            wait_exit(left, deadline - now)

    def cut(self, host: str) -> None:
        """Take ``host``'s link down on its side, like pulling its cable: its
        connections stall (no reset), it reaches no one and no one reaches it."""
        _ip("link", "set", HOST_IF, "down", ns=self.namespaces[host])

    def restore(self, host: str) -> None:
        """Bring ``host``'s link back up; return once the kernel reports it up
        (bounded: :class:`NetnsError` after a few seconds)."""
        ns = self.namespaces[host]
        _ip("link", "set", HOST_IF, "up", ns=ns)
        deadline = time.monotonic() + 5
        while True:
            info = json.loads(_ip("-j", "link", "show", HOST_IF, ns=ns).stdout)
            if info and info[0].get("operstate") == "UP":
                return
            if time.monotonic() > deadline:
                raise NetnsError(f"{host}: {HOST_IF} not up after restore: {info}")
            time.sleep(0.01)  # bounded retry: veth carrier comes up asynchronously

    # -- life cycle --

    def _build(self) -> None:
        # First, as the probe: whether the kernel lets us make namespaces.
        self._make_netns(self.switch_ns)
        self.tmpdir = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{self.tag}-"))
        # Keys are made in the background while the network is built.
        keygens = [self._keygen(self.tmpdir / "id_ed25519", "zmqmesh-multihost")]
        for name in self.names:
            (self.tmpdir / name).mkdir()
            keygens.append(self._keygen(self.tmpdir / name / "ssh_host_ed25519_key", name))

        _ipv6_off(self.switch_ns)
        _ip("link", "add", "br0", "type", "bridge", ns=self.switch_ns)
        _ip("link", "set", "br0", "up", ns=self.switch_ns)

        # The subnet is free until our head link carries it: pick and claim
        # under one lock so concurrent runs pick different ones.
        with _exclusive(STATE_DIR / "subnet.lock"):
            self.subnet = _free_subnet()
            base = self.subnet.network_address
            self.head_ip = str(base + 1)
            self.ips = {n: str(base + 10 + i) for i, n in enumerate(self.names, 1)}
            _ip(
                "link", "add", self.head_link, "type", "veth",
                "peer", "name", "head", "netns", self.switch_ns,
            )  # fmt: skip
            Path(f"/proc/sys/net/ipv6/conf/{self.head_link}/disable_ipv6").write_text("1")
            _ip("addr", "add", f"{self.head_ip}/24", "dev", self.head_link)
            _ip("link", "set", self.head_link, "up")
        _ip("link", "set", "head", "master", "br0", "up", ns=self.switch_ns)

        for i, name in enumerate(self.names, 1):
            ns = self.namespaces[name]
            self._make_netns(ns)
            _ipv6_off(ns)
            _ip("link", "set", "lo", "up", ns=ns)
            port = f"p{i}"
            _ip(
                "link", "add", port, "type", "veth", "peer", "name", HOST_IF, "netns", ns,
                ns=self.switch_ns,
            )  # fmt: skip
            _ip("link", "set", port, "master", "br0", "up", ns=self.switch_ns)
            _ip("addr", "add", f"{self.ips[name]}/24", "dev", HOST_IF, ns=ns)
            _ip("link", "set", HOST_IF, "up", ns=ns)

        for proc, cmd in keygens:
            _, err = proc.communicate(timeout=_CMD_TIMEOUT)
            if proc.returncode != 0:
                raise NetnsError(f"{shlex.join(cmd)}: {err.strip()}")
        self._write_ssh_config()
        self._start_sshds()

    def _keygen(self, path: Path, comment: str) -> tuple[subprocess.Popen[str], list[str]]:
        cmd = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)]
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self._children.append(proc)  # reaped by close() if start fails before waiting
        return proc, cmd

    def _make_netns(self, ns: str) -> None:
        proc = _ip("netns", "add", ns, check=False)
        if proc.returncode != 0:
            if not self._made:
                raise Unsupported(f"`ip netns add` refused: {proc.stderr.strip()}")
            raise NetnsError(f"ip netns add {ns}: {proc.stderr.strip()}")
        self._made.append(ns)

    def _write_ssh_config(self) -> None:
        self.ssh_config = self.tmpdir / "ssh_config"
        entries = []
        for name in self.names:
            entries.append(
                f"Host {name}\n"
                f"    HostName {self.ips[name]}\n"
                f"    Port {SSH_PORT}\n"
                "    User root\n"
                f"    IdentityFile {self.tmpdir / 'id_ed25519'}\n"
                "    IdentitiesOnly yes\n"
                "    StrictHostKeyChecking no\n"
                "    UserKnownHostsFile /dev/null\n"
                "    GlobalKnownHostsFile /dev/null\n"
                "    LogLevel ERROR\n"
                "    BatchMode yes\n"
                "    ConnectTimeout 5\n"
            )
        fd = os.open(self.ssh_config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(entries))
        self.ssh_cmd = f"ssh -F {shlex.quote(str(self.ssh_config))}"

    def _start_sshds(self) -> None:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privsep chroot
        version = _sshd_version()
        for name in self.names:
            host_dir = self.tmpdir / name
            config = host_dir / "sshd_config"
            config.write_text(_sshd_config(self.tmpdir, host_dir, self.ips[name], version))
            self._sshd[name] = _Sshd(self.namespaces[name], config, host_dir / "sshd.log")
        deadline = time.monotonic() + _START_DEADLINE
        for name, sshd in self._sshd.items():
            sshd.ready.wait(max(0.0, deadline - time.monotonic()))
            if not sshd.listening:
                raise NetnsError(f"{name}: sshd did not start listening:\n{sshd.tail()}")
        # Listening is not yet answering a login (keys, config, privsep):
        # one `ssh host true` each, all at once, retried until the deadline.
        pending = list(self.names)
        while pending:
            procs = {n: self._ssh_true(n) for n in pending}
            failed = {}
            for n, proc in procs.items():
                try:
                    _, err = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    _, err = proc.communicate()
                if proc.returncode != 0:
                    failed[n] = err.strip()
            pending = list(failed)
            if pending and time.monotonic() > deadline:
                n = pending[0]
                raise NetnsError(
                    f"{n}: `{self.ssh_cmd} {n} true` fails: {failed[n]}\n"
                    f"sshd log:\n{self._sshd[n].tail()}"
                )
            if pending:
                time.sleep(0.05)  # bounded retry, see the deadline above

    def _release_lock(self) -> None:
        """Give up the run's ownership: after this, :func:`cleanup_stale`
        treats what is left of the run as a crashed run's."""
        if self._lock_fd is not None:
            _lock_path(self.tag).unlink(missing_ok=True)
            os.close(self._lock_fd)
            self._lock_fd = None

    def _del_head_link(self) -> None:
        if self.head_link in _list_root_links():
            _ip("link", "del", self.head_link)

    def _ssh_true(self, host: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*shlex.split(self.ssh_cmd), host, "true"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def close(self) -> None:
        """Kill every process in the namespaces, delete namespaces, links and
        the temporary directory, release the run's lock. Every step runs even
        if an earlier one fails; the first failure is raised at the end.
        Idempotent."""
        if self._closed:
            return
        self._closed = True
        errors: list[BaseException] = []

        def step(fn: Callable[..., object], *args: object) -> None:
            try:
                fn(*args)
            except Exception as exc:
                errors.append(exc)

        for child in self._children:
            step(_reap, child)
        for sshd in self._sshd.values():
            step(sshd.stop)
        for ns in reversed(self._made):
            step(_kill_netns, ns)
        for ns in reversed(self._made):
            step(_del_netns, ns)
        # Deleting the switch namespace deleted the head link's peer, and so
        # the head link; this is for a start that failed half way.
        step(self._del_head_link)
        if self.tmpdir != Path() and self.tmpdir.exists():
            step(shutil.rmtree, self.tmpdir)
        step(self._release_lock)
        if errors:
            raise NetnsError(f"teardown of {self.tag} failed: {errors[0]}") from errors[0]


def _reap(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=_KILL_GRACE)


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # held for a few `ip` commands at most
        yield
    finally:
        os.close(fd)


def start_hosts(n: int = 3) -> Hosts:
    """Build ``n`` hosts named ``zmh1``..``zmh<n>`` (1 <= n <= 200), after
    removing what crashed earlier runs left; return them, every host
    answering ``ssh -F ssh_config <name> true``. The caller must
    :meth:`Hosts.close` them (or use them as a context manager).

    Raises :class:`Unsupported` when this machine cannot build them at all
    (not root, tools missing, namespaces refused), :class:`NetnsError` when
    building fails otherwise; either way nothing is left behind."""
    if not 1 <= n <= 200:
        raise ValueError(f"n must be in 1..200, not {n}")
    check_supported()
    STATE_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    hosts = Hosts(secrets.token_hex(4), [f"{PREFIX}{i}" for i in range(1, n + 1)])
    try:
        cleanup_stale(exclude=[hosts.tag])
        hosts._build()
    except BaseException:
        with contextlib.suppress(Exception):
            hosts.close()
        raise
    return hosts
