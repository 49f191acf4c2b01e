"""Host lists, in every form a job is given its hosts. Pure: text in, names out.

SLURM's compressed lists (``SLURM_NODELIST`` and friends) name the hosts of
a job step: ``node[01-04,07],gpu1``. :func:`expand_hostlist` gives every
name, :func:`first_host` the first without expanding the rest.

A hostfile names one host a line, in any of the forms resource managers
and MPI launchers write::

    # hosts.txt
    node1 slots=4      # four ranks here (zmqmesh, Open MPI)
    node2              # one rank (a host without slots has one slot)
    node3 slots=2 max_slots=4   # Open MPI: at most 4 with --oversubscribe
    node4:8            # MPICH (Hydra): eight slots
    node5 4 all.q@node5 UNDEFINED   # Grid Engine's PE_HOSTFILE
    [fe80::1%eth0] slots=2

A host named again adds its slots to its first line's (PBS's
``PBS_NODEFILE`` and LSF's ``LSB_DJOB_HOSTFILE`` repeat a host once per
slot); hosts keep the order of their first lines. ``#`` starts a comment
(a whole line or the rest of one); blank lines are ignored. ``user@host``
is refused (put the user in ``~/.ssh/config``). A mistake is reported as
one line naming the file and line, ``hosts.txt:3: problem``, in a
:class:`HostfileError`, so the command line can print it as it is.
:func:`parse_hostfile_text` reads the text; the launcher reads the file.

``--host a,b:2,[::1]:4`` gives the same hosts on the command line, ``name``
or ``name:slots`` separated by commas (:func:`parse_host_list`); its errors
read ``--host: problem``.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from zmqmesh.errors import LaunchError

__all__ = [
    "HOST_LIST_SOURCE",
    "MAX_HOSTS",
    "MAX_SLOTS",
    "Host",
    "HostfileError",
    "IPAddress",
    "canonical",
    "expand_hostlist",
    "first_host",
    "ip_address",
    "parse_host_list",
    "parse_hostfile_text",
]

MAX_HOSTS = 1 << 20
"""The most host names :func:`expand_hostlist` returns (a guard against
``node[0-99999999999]`` eating the memory)."""

MAX_SLOTS = 4096
"""The most slots one host may have: more is surely a typo."""

HOST_LIST_SOURCE = "--host"

_DIGITS = re.compile(r"[0-9]+")

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address


def canonical(name: str) -> str:
    """The form host names are compared in: lower case, no brackets, no
    final dot."""
    key = name.strip().lower()
    if key.startswith("[") and key.endswith("]"):
        key = key[1:-1]
    return key.removesuffix(".")


def ip_address(text: str) -> IPAddress | None:
    """``text`` as an IP address, or None when it is not one."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


# -- SLURM host lists ---------------------------------------------------------

# A bracket group is a tuple of inclusive (low, high, width) ranges; a host
# pattern is a sequence of literal strings and groups.
_Range: TypeAlias = tuple[int, int, int]
_Group: TypeAlias = tuple[_Range, ...]
_Pattern: TypeAlias = tuple[str | _Group, ...]


def expand_hostlist(spec: str) -> list[str]:
    """The host names of a SLURM host list, in order, duplicates kept.

    ``"node[01-03,07],gpu1"`` is ``["node01", "node02", "node03", "node07",
    "gpu1"]``. Commas inside brackets separate ranges; commas outside
    separate hosts. A range ``lo-hi`` is inclusive and its numbers are
    zero-padded to the width of ``lo`` as written (as SLURM does:
    ``n[08-10]`` is n08 n09 n10, ``n[8-10]`` is n8 n9 n10). Several bracket
    groups in one name give every combination, the first group varying
    slowest: ``r[1-2]n[1-2]`` is r1n1 r1n2 r2n1 r2n2.

    Raises ``ValueError`` naming the problem for an empty list or host name,
    an unclosed ``[`` or stray ``]``, nested brackets, an empty or
    non-numeric range, a decreasing range (``n[3-1]``), whitespace, or more
    than :data:`MAX_HOSTS` names.
    """
    patterns = _parse_slurm(spec)
    total = sum(_count(p) for p in patterns)
    if total > MAX_HOSTS:
        raise ValueError(f"host list {spec!r} expands to {total} names, more than {MAX_HOSTS}")
    return [name for p in patterns for name in _expand(p)]


def first_host(spec: str) -> str:
    """The first host name of a SLURM host list, found without expanding
    the list. Raises ``ValueError`` as :func:`expand_hostlist` does for a
    malformed list (but not for a long one)."""
    pattern = _parse_slurm(spec)[0]
    return "".join(p if isinstance(p, str) else str(p[0][0]).zfill(p[0][2]) for p in pattern)


def _parse_slurm(spec: str) -> list[_Pattern]:
    text = spec.strip()
    if not text:
        raise ValueError("empty host list")
    patterns: list[_Pattern] = []
    parts: list[str | _Group] = []
    literal = ""
    i = 0
    while i < len(text):
        c = text[i]
        if c == "[":
            close = text.find("]", i + 1)
            nested = text.find("[", i + 1)
            if close < 0:
                raise ValueError(f"unclosed '[' in host list {spec!r}")
            if 0 <= nested < close:
                raise ValueError(f"nested '[' in host list {spec!r}")
            if literal:
                parts.append(literal)
                literal = ""
            parts.append(_parse_group(text[i + 1 : close], spec))
            i = close + 1
            continue
        if c == "]":
            raise ValueError(f"']' without '[' in host list {spec!r}")
        if c == ",":
            if not parts and not literal:
                raise ValueError(f"empty host name in host list {spec!r}")
            patterns.append((*parts, literal) if literal else tuple(parts))
            parts, literal = [], ""
        elif c.isspace():
            raise ValueError(f"whitespace in host list {spec!r}")
        else:
            literal += c
        i += 1
    if not parts and not literal:
        raise ValueError(f"empty host name at the end of host list {spec!r}")
    patterns.append((*parts, literal) if literal else tuple(parts))
    return patterns


def _parse_group(body: str, spec: str) -> _Group:
    if not body:
        raise ValueError(f"empty brackets '[]' in host list {spec!r}")
    ranges: list[_Range] = []
    for item in body.split(","):
        lo_text, dash, hi_text = item.partition("-")
        if not _DIGITS.fullmatch(lo_text) or (dash and not _DIGITS.fullmatch(hi_text)):
            what = "empty range" if not item else f"range {item!r} is not N or N-M"
            raise ValueError(f"{what} in [{body}] of host list {spec!r}")
        lo = int(lo_text)
        hi = int(hi_text) if dash else lo
        if hi < lo:
            raise ValueError(f"decreasing range {item!r} in [{body}] of host list {spec!r}")
        ranges.append((lo, hi, len(lo_text)))
    return tuple(ranges)


def _count(pattern: _Pattern) -> int:
    n = 1
    for part in pattern:
        if not isinstance(part, str):
            n *= sum(hi - lo + 1 for lo, hi, _ in part)
    return n


def _numbers(group: _Group) -> Iterator[str]:
    for lo, hi, width in group:
        for value in range(lo, hi + 1):
            yield str(value).zfill(width)


def _expand(pattern: _Pattern) -> Iterator[str]:
    choices: list[Sequence[str]] = []
    for part in pattern:
        if isinstance(part, str):
            choices.append((part,))
        else:
            choices.append(tuple(_numbers(part)))
    for combination in itertools.product(*choices):
        yield "".join(combination)


# -- hostfiles and --host lists -------------------------------------------------

# A host name or IPv4 address as ssh takes it. The first character may not be
# '-' (ssh would read the name as an option) nor '.'.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_MAX_NAME = 253
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
    ``"hosts.txt:3"`` or ``"--host"``, for error messages. ``max_slots``
    (Open MPI's ``max_slots=``) bounds its ranks even with
    ``--oversubscribe``; ``None``: no bound.
    """

    name: str
    slots: int
    source: str
    max_slots: int | None = None


def parse_hostfile_text(text: str, where: str) -> list[Host]:
    """The hosts of hostfile text read from ``where`` (a path, for sources
    and messages), in the order they are first named.

    A line is ``host``, ``host slots=N [max_slots=M]``, ``host:N`` or
    ``host N [queue [processors]]``, with ``1 <= N <= M <= 4096``. A host
    named on several lines has the sum of their slots (at most 4096) and
    the ``source`` of its first line.

    Raises :class:`HostfileError` when the text names no host, or has a
    line in none of these forms, an invalid host name, or slots out of
    range.
    """
    hosts: dict[str, Host] = {}
    # split("\n"), not splitlines(): the line numbers must be what editors show
    for number, raw in enumerate(text.split("\n"), start=1):
        source = f"{where}:{number}"
        words = raw.partition("#")[0].split()
        if not words:
            continue
        host = _parse_line(words, source)
        key = canonical(host.name)
        earlier = hosts.get(key)
        hosts[key] = host if earlier is None else _merge(earlier, host, source)
    if not hosts:
        raise HostfileError(f"{where}: no hosts in the hostfile (only blank lines and comments)")
    return list(hosts.values())


def _merge(earlier: Host, later: Host, source: str) -> Host:
    """``earlier`` with the slots of ``later``, a line naming it again."""
    slots = earlier.slots + later.slots
    if slots > MAX_SLOTS:
        raise HostfileError(
            f"{source}: host {earlier.name!r} has {slots} slots in all, more than {MAX_SLOTS}"
        )
    bounds = [m for m in (earlier.max_slots, later.max_slots) if m is not None]
    most = max(bounds) if bounds else None
    if most is not None and most < slots:
        raise HostfileError(
            f"{source}: host {earlier.name!r} has {slots} slots in all, more than its "
            f"max_slots={most}"
        )
    return Host(earlier.name, slots, earlier.source, most)


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
            if settings:
                raise HostfileError(
                    f"{source}: unexpected {settings[0]!r} after {first!r} "
                    "(MPICH's form is 'host:N' alone)"
                )
            return Host(_host_name(base, source), _slots(slots_text, source), source)
        name = _host_name(first, source)
    if settings and _DIGITS.fullmatch(settings[0]):
        # Grid Engine's PE_HOSTFILE: host, slots, queue, processor range
        if len(settings) > 3:
            raise HostfileError(
                f"{source}: unexpected {settings[3]!r} (Grid Engine's form is "
                "'host N queue processors')"
            )
        return Host(name, _slots(settings[0], source), source)
    slots: int | None = None
    most: int | None = None
    for word in settings:
        key, eq, value = word.partition("=")
        if not eq:
            if word in ("slots", "max_slots"):
                raise HostfileError(f"{source}: write {word}=N (no spaces around '=')")
            raise HostfileError(
                f"{source}: unexpected {word!r} after the host name "
                "(one host a line: 'host [slots=N] [max_slots=M]', 'host:N' or 'host N')"
            )
        if key == "slots":
            if slots is not None:
                raise HostfileError(f"{source}: slots= given twice")
            slots = _slots(value, source)
        elif key in ("max_slots", "max-slots"):
            if most is not None:
                raise HostfileError(f"{source}: max_slots= given twice")
            most = _slots(value, source, key="max_slots")
        else:
            raise HostfileError(
                f"{source}: unknown setting {key!r} (only slots=N and max_slots=M are supported)"
            )
    if slots is None:
        slots = 1
    if most is not None and most < slots:
        raise HostfileError(f"{source}: max_slots={most} is less than slots={slots}")
    return Host(name, slots, source, most)


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
        if ip_address(item) is not None:
            raise HostfileError(
                f"{source}: write the IPv6 address in brackets, [{item}] or [{item}]:slots"
            )
        raise HostfileError(f"{source}: {item!r} is not name or name:slots")
    name, colon, slots_text = item.partition(":")
    return name, (slots_text if colon else None)


def _slots(text: str, source: str, item: str = "", key: str = "slots") -> int:
    where = f" (in {item!r})" if item else ""
    if not _DIGITS.fullmatch(text) or int(text) == 0:
        raise HostfileError(f"{source}: {key} must be a positive integer, got {text!r}{where}")
    slots = int(text)
    if slots > MAX_SLOTS:
        raise HostfileError(f"{source}: {key} must be at most {MAX_SLOTS}, got {slots}{where}")
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
        if word.count(":") > 1 and ip_address(word) is not None:
            raise HostfileError(
                f"{source}: write the IPv6 address in brackets, [{word}], not {word!r}"
            )
        raise HostfileError(f"{source}: invalid host name {word!r}: {_NAME_RULE}")
    if not _NAME.fullmatch(word) or len(word) > _MAX_NAME:
        raise HostfileError(f"{source}: invalid host name {word!r}: {_NAME_RULE}")
    return word


def _check_new(host: Host, seen: dict[str, Host], source: str) -> None:
    key = canonical(host.name)
    earlier = seen.get(key)
    if earlier is not None:
        if earlier.source == source:  # both on the command line
            raise HostfileError(f"{source}: host {host.name!r} is given twice")
        raise HostfileError(
            f"{source}: host {host.name!r} is already given at {earlier.source} "
            "(give it once, with slots=N)"
        )
    seen[key] = host
