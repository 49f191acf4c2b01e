"""Hosts for ``zmqmesh launch``: reading the hostfile, rank placement, and
which names are this machine.

The formats (every hostfile syntax, ``--host`` lists) are
parsed in :mod:`zmqmesh.job.hostlist`; this module adds what only the
launcher does. :func:`parse_hostfile` reads a hostfile from disk.
:func:`assign` places ranks on slots in order: ranks ``0 .. slots-1`` on the
first host, the next ones on the second host, and so on (``placement.py``
has the other orders). :func:`is_local`
tells the launcher which names are this machine (spawn the rank directly)
and which need ssh.

Only :func:`is_local` asks the system about this machine's own names, once,
and never resolves other names.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import socket
from collections.abc import Iterable

from zmqmesh.job.hostlist import (
    Host,
    HostfileError,
    IPAddress,
    canonical,
    ip_address,
    parse_hostfile_text,
)
from zmqmesh.launcher.placement import place

__all__ = ["assign", "is_local", "parse_hostfile"]


def parse_hostfile(path: str | os.PathLike[str]) -> list[Host]:
    """The hosts of the hostfile at ``path``, in file order; each host's
    ``source`` is ``"<path as given>:<line>"``.

    Raises :class:`~zmqmesh.job.hostlist.HostfileError` when the file cannot
    be read or is not UTF-8 text, and for every mistake
    :func:`~zmqmesh.job.hostlist.parse_hostfile_text` reports.
    """
    where = os.fspath(path)
    try:
        with open(where, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise HostfileError(f"{where}: cannot read the hostfile: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise HostfileError(f"{where}: not a text file (it is not UTF-8)") from None
    return parse_hostfile_text(text, where)


def assign(hosts: list[Host], n: int | None) -> list[str]:
    """The host name of each rank: entry ``r`` is where rank ``r`` runs.

    Slots are filled in order: the first host's slots take ranks ``0, 1,
    ...``, then the second host's, and so on. ``n=None`` uses every slot.
    Raises :class:`~zmqmesh.job.hostlist.HostfileError` when ``n`` is more
    than the hosts' slots in all, ``ValueError`` when ``hosts`` is empty or
    ``n < 1``. :func:`zmqmesh.launcher.placement.place` takes the other
    placement options.
    """
    return place(hosts, n)


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
    key = canonical(name)
    if not key:
        return False
    if key in _LOOPBACK_NAMES:
        return True
    address = ip_address(key)
    if address is not None:
        return _is_loopback(address) or str(address) in _own_resolved()
    return key in _own_names() or key in _own_resolved()


_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def _is_loopback(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _names_and_short_forms(names: Iterable[str]) -> frozenset[str]:
    keys = {canonical(n) for n in names if n}
    keys |= {k.split(".")[0] for k in keys if ip_address(k) is None}
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
        canonical_name, aliases, addresses = socket.gethostbyname_ex(hostname)
        names += [canonical_name, *aliases]
    except OSError:
        pass
    keys = set(_names_and_short_forms(names))
    for text in addresses:
        address = ip_address(text)
        if address is not None:
            keys.add(str(address))
    return frozenset(keys)
