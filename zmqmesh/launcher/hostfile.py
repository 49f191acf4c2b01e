"""Hosts for ``zmqmesh launch``: the hostfile, ``--host`` lists, rank placement.

A hostfile names one host a line::

    # hosts.txt
    node1 slots=4      # four ranks here
    node2              # one rank (a host without slots= has one slot)
    [fe80::1%eth0] slots=2

``#`` starts a comment (a whole line or the rest of one); blank lines are
ignored. Nothing else is accepted: not Open MPI's ``max_slots=``, not MPICH's
``host:N``, not ``user@host`` (put the user in ``~/.ssh/config``). A mistake
is reported as one line naming the file and line, ``hosts.txt:3: problem``,
in a :class:`HostfileError`, so the command line can print it as it is.

``--host a,b:2,[::1]:4`` gives the same hosts on the command line, ``name``
or ``name:slots`` separated by commas; its errors read ``--host: problem``.

:func:`assign` places ranks on slots in order: ranks ``0 .. slots-1`` on the
first host, the next ones on the second host, and so on.
:func:`is_local` tells the launcher which names are this machine (spawn the
rank directly) and which need ssh.

Parsing reads a file and nothing else; only :func:`is_local` asks the system
about this machine's own names, once, and never resolves other names.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeAlias

from zmqmesh.errors import LaunchError

__all__ = [
    "MAX_SLOTS",
    "Host",
    "HostfileError",
    "assign",
    "is_local",
    "parse_host_list",
    "parse_hostfile",
]

MAX_SLOTS = 4096
"""The most slots one host may have: more is surely a typo."""

HOST_LIST_SOURCE = "--host"

# A host name or IPv4 address as ssh takes it. The first character may not be
# '-' (ssh would read the name as an option) nor '.'.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_MAX_NAME = 253
_DIGITS = re.compile(r"[0-9]+")
_NAME_RULE = (
    "a host name is letters, digits, '-', '.' and '_', and does not start with '-' or '.'; "
    "an IPv6 address goes in brackets"
)


class HostfileError(LaunchError):
    """A hostfile or ``--host`` list cannot be used.

    The message is a single line, ``FILE:LINE: problem`` (``FILE: problem``
    for the file as a whole, ``--host: problem`` for the command line).
    """


@dataclass(frozen=True, slots=True)
class Host:
    """One host of a job.

    ``name`` is what ssh is given: a host name as written, or an IP address
    (IPv6 without its brackets, in canonical form). ``slots`` is how many
    ranks it may run (at least 1). ``source`` says where it was given,
    ``"hosts.txt:3"`` or ``"--host"``, for error messages.
    """

    name: str
    slots: int
    source: str


def parse_hostfile(path: str | os.PathLike[str]) -> list[Host]:
    """The hosts of the hostfile at ``path``, in file order.

    Raises :class:`HostfileError` when the file cannot be read or is not
    UTF-8 text, names no host, or has a line that is not ``host`` or
    ``host slots=N`` (with ``1 <= N <= 4096``), an invalid host name, or a
    host already named on an earlier line.
    """
    where = os.fspath(path)
    try:
        with open(where, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise HostfileError(f"{where}: cannot read the hostfile: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise HostfileError(f"{where}: not a text file (it is not UTF-8)") from None
    hosts: list[Host] = []
    seen: dict[str, Host] = {}
    # split("\n"), not splitlines(): the line numbers must be what editors show
    for number, raw in enumerate(text.split("\n"), start=1):
        source = f"{where}:{number}"
        words = raw.partition("#")[0].split()
        if not words:
            continue
        host = _parse_line(words, source)
        _check_new(host, seen, source)
        hosts.append(host)
    if not hosts:
        raise HostfileError(f"{where}: no hosts in the hostfile (only blank lines and comments)")
    return hosts


def parse_host_list(spec: str) -> list[Host]:
    """The hosts of a ``--host`` value such as ``"a,b:2,[::1]:4"``, in order.

    Each comma-separated item is ``name`` (one slot) or ``name:N`` (N slots);
    whitespace around items is ignored. Raises :class:`HostfileError`
    (``--host: problem``) for an empty list or item, bad slots, an invalid
    name, or a host given twice.
    """
    source = HOST_LIST_SOURCE
    if not spec.strip():
        raise HostfileError(f"{source}: no hosts given")
    hosts: list[Host] = []
    seen: dict[str, Host] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            raise HostfileError(f"{source}: empty item in {spec!r}")
        name, slots_text = _split_item(item, source)
        slots = 1 if slots_text is None else _slots(slots_text, source, item)
        host = Host(_host_name(name, source), slots, source)
        _check_new(host, seen, source)
        hosts.append(host)
    return hosts


def assign(hosts: list[Host], n: int | None) -> list[str]:
    """The host name of each rank: entry ``r`` is where rank ``r`` runs.

    Slots are filled in order: the first host's slots take ranks ``0, 1,
    ...``, then the second host's, and so on. ``n=None`` uses every slot.
    Raises :class:`HostfileError` when ``n`` is more than the hosts' slots in
    all (there is no oversubscription), ``ValueError`` when ``hosts`` is
    empty or ``n < 1``.
    """
    if not hosts:
        raise ValueError("assign() needs at least one host")
    total = sum(h.slots for h in hosts)
    if n is None:
        n = total
    if n < 1:
        raise ValueError(f"the number of ranks must be at least 1, not {n}")
    if n > total:
        origin = hosts[0].source.rpartition(":")[0] or hosts[0].source
        raise HostfileError(
            f"{origin}: {n} ranks do not fit in the {total} slots of the hosts; "
            "give fewer ranks or more slots= (ranks never share a slot)"
        )
    placement = [h.name for h in hosts for _ in range(h.slots)]
    return placement[:n]


def is_local(name: str) -> bool:
    """Whether ``name`` is this machine, so a rank there needs no ssh.

    True for ``localhost`` (and the usual aliases ``localhost.localdomain``,
    ``ip6-localhost``, ``ip6-loopback``), any loopback address
    (``127.x.y.z``, ``::1``, with or without brackets), this machine's host
    name (``socket.gethostname()``), its short form (up to the first dot), its
    fully qualified name (``socket.getfqdn()``), and the names and addresses
    that this host name resolves to. Letter case and a trailing dot do not
    matter.

    Only this machine's own name is ever looked up (once per process, and
    only when the cheap checks above fail); ``name`` itself is never resolved,
    so another name of this machine that only DNS knows counts as remote
    (ranks then start over ssh, which still works).
    """
    key = _canonical(name)
    if not key:
        return False
    if key in _LOOPBACK_NAMES:
        return True
    address = _ip_address(key)
    if address is not None:
        return _is_loopback(address) or str(address) in _own_resolved()
    return key in _own_names() or key in _own_resolved()


# -- parsing helpers ----------------------------------------------------------


def _parse_line(words: list[str], source: str) -> Host:
    first, *settings = words
    if "@" in first or (first.startswith("[") and first.endswith("]")) or ":" not in first:
        name = _host_name(first, source)
    else:
        # "node:4" (MPICH style) or "[::1]:4" or a bare IPv6 address
        base, _, slots_text = first.rpartition(":")
        bracketed = base.startswith("[") and base.endswith("]")
        plain = ":" not in base and "[" not in base
        if _DIGITS.fullmatch(slots_text) and (bracketed or plain):
            raise HostfileError(
                f"{source}: write {base} slots={slots_text}, not {first!r} "
                "(the hostfile takes 'host [slots=N]')"
            )
        name = _host_name(first, source)
    slots: int | None = None
    for word in settings:
        key, eq, value = word.partition("=")
        if not eq:
            if word == "slots":
                raise HostfileError(f"{source}: write slots=N (no spaces around '=')")
            raise HostfileError(
                f"{source}: unexpected {word!r} after the host name "
                "(one host a line: 'host [slots=N]')"
            )
        if key == "slots":
            if slots is not None:
                raise HostfileError(f"{source}: slots= given twice")
            slots = _slots(value, source)
        elif key == "max_slots":
            raise HostfileError(f"{source}: max_slots= is not supported (only slots=N is)")
        else:
            raise HostfileError(f"{source}: unknown setting {key!r} (only slots=N is supported)")
    return Host(name, 1 if slots is None else slots, source)


def _split_item(item: str, source: str) -> tuple[str, str | None]:
    """``name[:slots]`` of a --host item, the IPv6 brackets kept on name."""
    if item.startswith("["):
        close = item.find("]")
        if close < 0:
            raise HostfileError(f"{source}: missing ']' in {item!r}")
        rest = item[close + 1 :]
        if not rest:
            return item, None
        if not rest.startswith(":"):
            raise HostfileError(f"{source}: unexpected {rest!r} after {item[: close + 1]!r}")
        return item[: close + 1], rest[1:]
    if item.count(":") > 1:
        if _ip_address(item) is not None:
            raise HostfileError(
                f"{source}: write the IPv6 address in brackets, [{item}] or [{item}]:slots"
            )
        raise HostfileError(f"{source}: {item!r} is not name or name:slots")
    name, colon, slots_text = item.partition(":")
    return name, (slots_text if colon else None)


def _slots(text: str, source: str, item: str = "") -> int:
    where = f" (in {item!r})" if item else ""
    if not _DIGITS.fullmatch(text) or int(text) == 0:
        raise HostfileError(f"{source}: slots must be a positive integer, got {text!r}{where}")
    slots = int(text)
    if slots > MAX_SLOTS:
        raise HostfileError(f"{source}: slots must be at most {MAX_SLOTS}, got {slots}{where}")
    return slots


def _host_name(word: str, source: str) -> str:
    """The host name of ``word`` (brackets removed from IPv6), validated."""
    if "@" in word:
        user, _, host = word.rpartition("@")
        host = host if host.startswith("[") else host.partition(":")[0]
        raise HostfileError(
            f"{source}: {word!r}: user@host is not supported; name the user in "
            f"~/.ssh/config (Host {host or 'NAME'} / User {user or 'USER'})"
        )
    if word.startswith("["):
        if not word.endswith("]"):
            raise HostfileError(f"{source}: missing ']' in {word!r}")
        try:
            return str(ipaddress.IPv6Address(word[1:-1]))
        except ValueError:
            raise HostfileError(
                f"{source}: {word!r} is not an IPv6 address (brackets are for IPv6 only)"
            ) from None
    if ":" in word:
        if word.count(":") > 1 and _ip_address(word) is not None:
            raise HostfileError(
                f"{source}: write the IPv6 address in brackets, [{word}], not {word!r}"
            )
        raise HostfileError(f"{source}: invalid host name {word!r}: {_NAME_RULE}")
    if not _NAME.fullmatch(word) or len(word) > _MAX_NAME:
        raise HostfileError(f"{source}: invalid host name {word!r}: {_NAME_RULE}")
    return word


def _check_new(host: Host, seen: dict[str, Host], source: str) -> None:
    key = _canonical(host.name)
    earlier = seen.get(key)
    if earlier is not None:
        if earlier.source == source:  # both on the command line
            raise HostfileError(f"{source}: host {host.name!r} is given twice")
        raise HostfileError(
            f"{source}: host {host.name!r} is already given at {earlier.source} "
            "(give it once, with slots=N)"
        )
    seen[key] = host


# -- is_local helpers ---------------------------------------------------------

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})

_IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address


def _canonical(name: str) -> str:
    """The form names are compared in: lower case, no brackets, no final dot."""
    key = name.strip().lower()
    if key.startswith("[") and key.endswith("]"):
        key = key[1:-1]
    return key.removesuffix(".")


def _ip_address(text: str) -> _IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _is_loopback(address: _IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _names_and_short_forms(names: Iterable[str]) -> frozenset[str]:
    keys = {_canonical(n) for n in names if n}
    keys |= {k.split(".")[0] for k in keys if _ip_address(k) is None}
    return frozenset(k for k in keys if k)


@functools.lru_cache(maxsize=1)
def _own_names() -> frozenset[str]:
    """This machine's host name and its short form: no lookup at all."""
    return _names_and_short_forms([socket.gethostname()])


@functools.lru_cache(maxsize=1)
def _own_resolved() -> frozenset[str]:
    """What this machine's own name resolves to: its fully qualified name,
    aliases and addresses (canonical text). Looked up once per process."""
    hostname = socket.gethostname()
    names = [socket.getfqdn(hostname)]  # falls back to its argument, never raises
    addresses: list[str] = []
    try:
        canonical, aliases, addresses = socket.gethostbyname_ex(hostname)
        names += [canonical, *aliases]
    except OSError:
        pass
    keys = set(_names_and_short_forms(names))
    for text in addresses:
        address = _ip_address(text)
        if address is not None:
            keys.add(str(address))
    return frozenset(keys)
