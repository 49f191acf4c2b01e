"""System helpers for the namespace hosts of ``netns.py``: commands, process
teardown, run locks and the choice of a free subnet."""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

PREFIX = "zmh"
STATE_DIR = Path("/run/zmqmesh-multihost")
SSHD = "/usr/sbin/sshd"
HOST_IF = "eth0"
# Candidate subnets 10.213.X.0/24, first X first; a run takes the first that
# overlaps nothing in the root namespace (another run's subnet included).
SUBNET_PREFIX = "10.213"
SUBNET_THIRD_OCTETS = range(7, 255)
SSH_PORT = 22

_TAG_RE = re.compile(rf"^{PREFIX}([0-9a-f]{{8}})(?:$|-)")
_TMP_PREFIX = "zmqmesh-multihost-"
_CMD_TIMEOUT = 15.0  # one `ip`, `ssh-keygen` or `ssh ... true`; each is quick
_START_DEADLINE = 20.0  # every sshd listening and answering ssh
_KILL_GRACE = 3.0  # SIGTERM to SIGKILL


class Unsupported(RuntimeError):
    """This machine cannot host namespace test hosts: not root, a tool is
    missing, or the kernel refuses network namespaces."""


class NetnsError(RuntimeError):
    """Building, using or tearing down the namespace hosts failed."""


# -- commands -------------------------------------------------------------------


def _run(
    argv: Sequence[str], *, timeout: float = _CMD_TIMEOUT, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to completion with output captured; a failure (when
    ``check``) or a hang past ``timeout`` raises :class:`NetnsError`."""
    try:
        proc = subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise NetnsError(f"{shlex.join(argv)}: no answer within {timeout:g} s") from None
    if check and proc.returncode != 0:
        raise NetnsError(
            f"{shlex.join(argv)}: exit status {proc.returncode}: {proc.stderr.strip()}"
        )
    return proc


def _ip(*args: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    return _run(["ip", *(["-n", ns] if ns else []), *args], check=check)


def _ipv6_off(ns: str) -> None:
    """IPv6 off in ``ns``: no link-local addresses, so nothing is sent but
    from the subnet's IPv4 addresses."""
    _run(
        [
            "ip", "netns", "exec", ns, "sh", "-ec",
            "if [ -d /proc/sys/net/ipv6 ]; then"
            " echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6;"
            " echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; fi",
        ]
    )  # fmt: skip


def check_supported() -> None:
    """Raise :class:`Unsupported` unless this process can build hosts
    (whether the kernel allows namespaces is only known by trying)."""
    if os.geteuid() != 0:
        raise Unsupported("needs root (network namespaces, veths and sshd)")
    missing = [t for t in ("ip", "ssh", "ssh-keygen") if shutil.which(t) is None]
    if not os.access(SSHD, os.X_OK):
        missing.append(SSHD)
    if missing:
        raise Unsupported(
            f"missing {', '.join(missing)}; run tests/multihost/install.sh "
            "(iproute2, openssh-server, openssh-client)"
        )


# -- processes -------------------------------------------------------------------


def _netns_pids(ns: str) -> set[int]:
    """Processes whose network namespace is ``ns`` (none if it is gone)."""
    proc = _run(["ip", "netns", "pids", ns], check=False)
    return {int(w) for w in proc.stdout.split() if w.isdigit()}


def wait_exit(pids: Iterable[int], timeout: float) -> set[int]:
    """Wait until every process in ``pids`` has exited (zombies count as
    exited), at most ``timeout`` seconds, on pidfds (no polling); return
    those still running."""
    fds: dict[int, int] = {}
    try:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                fds[os.pidfd_open(pid)] = pid
        poller = select.poll()
        for fd in fds:
            poller.register(fd, select.POLLIN)
        alive = dict(fds)
        deadline = time.monotonic() + timeout
        while alive:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for fd, _ in poller.poll(left * 1000):
                poller.unregister(fd)
                alive.pop(fd, None)
        return set(alive.values())
    finally:
        for fd in fds:
            os.close(fd)


def _signal_all(pids: set[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _kill_netns(ns: str) -> None:
    """Kill every process in ``ns``: SIGTERM, then SIGKILL what is left after
    a grace period; again while new ones appear (a dying shell's children)."""
    pids = _netns_pids(ns)
    if pids:
        _signal_all(pids, signal.SIGTERM)
        wait_exit(pids, _KILL_GRACE)
    for _ in range(10):
        pids = _netns_pids(ns)
        if not pids:
            return
        _signal_all(pids, signal.SIGKILL)
        wait_exit(pids, _KILL_GRACE)
    raise NetnsError(f"processes survive SIGKILL in namespace {ns}: {sorted(_netns_pids(ns))}")


def _del_netns(ns: str) -> None:
    proc = _ip("netns", "del", ns, check=False)
    if proc.returncode != 0 and ns in _list_netns():
        raise NetnsError(f"ip netns del {ns}: {proc.stderr.strip()}")


def _cmdline(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return " ".join(a.decode(errors="replace") for a in raw.split(b"\0") if a)


# -- run ownership and stale objects ---------------------------------------------


def _lock_path(tag: str) -> Path:
    return STATE_DIR / f"{tag}.lock"


def _try_lock(path: Path) -> int | None:
    """An fd holding an exclusive flock on ``path``, or None if another
    process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _list_netns() -> list[str]:
    out = _run(["ip", "-j", "netns", "list"], check=False).stdout.strip()
    return [e["name"] for e in json.loads(out)] if out else []


def _list_root_links() -> list[str]:
    out = _run(["ip", "-j", "link", "show"]).stdout.strip()
    return [e["ifname"] for e in json.loads(out)] if out else []


def cleanup_stale(*, exclude: Sequence[str] = ()) -> list[str]:
    """Remove every namespace, root-namespace link, temporary directory and
    lock file of a run whose lock nobody holds (it crashed); return the tags
    of the runs cleaned up. Tags in ``exclude`` and live runs are left alone."""
    namespaces = _list_netns()
    links = _list_root_links()
    tmp = Path(tempfile.gettempdir())
    tmpdirs = list(tmp.glob(f"{_TMP_PREFIX}*"))
    tags: set[str] = set()
    for name in [*namespaces, *links]:
        if m := _TAG_RE.match(name):
            tags.add(m.group(1))
    for d in tmpdirs:
        tags.add(d.name.removeprefix(_TMP_PREFIX)[:8])
    if STATE_DIR.is_dir():
        tags |= {p.stem for p in STATE_DIR.glob("*.lock")}
    cleaned = []
    for tag in sorted(tags - set(exclude)):
        if not re.fullmatch(r"[0-9a-f]{8}", tag):
            continue
        STATE_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        fd = _try_lock(_lock_path(tag))
        if fd is None:
            continue  # a live run
        try:
            mine = [n for n in namespaces if n.startswith(f"{PREFIX}{tag}-")]
            for ns in mine:
                _kill_netns(ns)
            for ns in mine:
                _del_netns(ns)
            for link in links:
                if link == f"{PREFIX}{tag}":
                    _ip("link", "del", link, check=False)
            for d in tmpdirs:
                if d.name.startswith(f"{_TMP_PREFIX}{tag}"):
                    shutil.rmtree(d, ignore_errors=True)
            _lock_path(tag).unlink(missing_ok=True)
        finally:
            os.close(fd)
        cleaned.append(tag)
    return cleaned


# -- addresses -------------------------------------------------------------------


def _used_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 address and route of the root namespace, as networks."""
    used = []
    for entry in json.loads(_run(["ip", "-4", "-j", "addr", "show"]).stdout or "[]"):
        for a in entry.get("addr_info", []):
            used.append(ipaddress.ip_network(f"{a['local']}/{a['prefixlen']}", strict=False))
    for route in json.loads(_run(["ip", "-4", "-j", "route", "show"]).stdout or "[]"):
        dst = route.get("dst", "default")
        if dst != "default":
            used.append(ipaddress.ip_network(dst, strict=False))
    return [n for n in used if isinstance(n, ipaddress.IPv4Network)]


def _free_subnet() -> ipaddress.IPv4Network:
    used = _used_networks()
    for x in SUBNET_THIRD_OCTETS:
        net = ipaddress.IPv4Network(f"{SUBNET_PREFIX}.{x}.0/24")
        if not any(net.overlaps(u) for u in used):
            return net
    raise NetnsError(f"no free subnet {SUBNET_PREFIX}.X.0/24 in the root namespace")


# -- sshd ------------------------------------------------------------------------


def _sshd_version() -> tuple[int, int]:
    out = _run([SSHD, "-V"], check=False)
    m = re.search(r"OpenSSH_(\d+)\.(\d+)", out.stdout + out.stderr)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def _root_locked() -> bool:
    """Whether root's password field marks the account locked ("!..."):
    sshd then refuses even key logins for root unless PAM decides."""
    with contextlib.suppress(OSError):
        for line in Path("/etc/shadow").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == "root" and len(fields) > 1:
                return fields[1].startswith("!")
    return False
