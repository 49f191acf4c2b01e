"""Where ranks run and which core each may use: ``mpirun``'s placement options.

Pure but for :func:`bind_self` and :func:`pinned`, which set this process's
CPU affinity, and :func:`sysfs_core`, which reads the CPU topology. The
launcher turns its hosts (a hostfile, ``--host``, an allocation) and
``-n``, ``--map-by``, ``-N/--npernode`` and ``--oversubscribe`` into one
host name per rank (:func:`place`); with ``--bind-to core`` each rank
gets a ``ZMQMESH_BIND`` value (:func:`bindings`) that the process
starting it on its host turns into a core
(:func:`cpus_for`), because only there is it known which CPUs the rank may
use and which of them are hardware threads of one core.

Placement, in two steps, as Open MPI does it:

1. How many ranks each host runs. Each host offers its slots, or with
   ``-N K`` exactly ``K`` (more than its slots only with
   ``--oversubscribe``). ``--map-by slot`` (the default) fills the first
   host's offer, then the next; ``--map-by node`` takes one rank from each
   host in turn. With ``--oversubscribe``, ranks beyond every offer go one
   to each host in turn, never past a host's ``max_slots``.
2. Which ranks: by slot, consecutive ranks share a host (``a a b b``); by
   node, ranks go round the hosts (``a b a b``), skipping full ones.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence

from zmqmesh.job.hostlist import Host, HostfileError

__all__ = [
    "BIND_CHOICES",
    "BIND_ENV",
    "MAP_CHOICES",
    "CoreOf",
    "bind_self",
    "bindings",
    "cores",
    "cpus_for",
    "pinned",
    "place",
    "sysfs_core",
]

CoreOf = Callable[[int], Hashable | None]
"""The core a CPU is a hardware thread of (any key), or ``None`` when unknown."""

MAP_CHOICES = ("slot", "node")
BIND_CHOICES = ("none", "core")
BIND_ENV = "ZMQMESH_BIND"
"""The variable that tells the process starting a rank to pin it to a
core: ``core:I/K`` (the rank is the ``I``-th of ``K`` bound ranks on its
host), ``core:I/K:share`` when ranks may share cores (``--oversubscribe``)."""


def place(
    hosts: Sequence[Host],
    n: int | None,
    *,
    map_by: str = "slot",
    npernode: int | None = None,
    oversubscribe: bool = False,
) -> list[str]:
    """The host name of each rank: entry ``r`` is where rank ``r`` runs.

    ``n=None`` runs one rank per offered slot (``K`` per host with
    ``npernode=K``). Raises :class:`~zmqmesh.job.hostlist.HostfileError`
    naming where the hosts came from when the ranks do not fit: more than
    the slots without ``oversubscribe``, more than ``npernode`` per host,
    or past every host's ``max_slots``; ``ValueError`` when ``hosts`` is
    empty, ``n < 1``, ``npernode < 1`` or ``map_by`` is unknown.
    """
    if not hosts:
        raise ValueError("place() needs at least one host")
    if map_by not in MAP_CHOICES:
        raise ValueError(f"map_by must be one of {MAP_CHOICES}, not {map_by!r}")
    if npernode is not None and npernode < 1:
        raise ValueError(f"npernode must be at least 1, not {npernode}")
    origin = hosts[0].source.rpartition(":")[0] or hosts[0].source
    offers = [_offer(h, npernode, oversubscribe, origin) for h in hosts]
    total = sum(offers)
    if n is None:
        n = total
    if n < 1:
        raise ValueError(f"the number of ranks must be at least 1, not {n}")
    if n <= total:
        counts = _fill(offers, n, by_node=map_by == "node")
    elif npernode is not None:
        raise HostfileError(
            f"{origin}: {n} ranks do not fit: -N {npernode} on {len(hosts)} "
            f"host{'s' if len(hosts) > 1 else ''} runs {total}"
        )
    elif not oversubscribe:
        raise HostfileError(
            f"{origin}: {n} ranks do not fit in the {total} slots of the hosts; "
            "give fewer ranks, more slots=, or --oversubscribe"
        )
    else:
        counts = _overfill(hosts, offers, n, origin)
    return _order(hosts, counts, by_node=map_by == "node")


def _offer(host: Host, npernode: int | None, oversubscribe: bool, origin: str) -> int:
    """How many ranks ``host`` takes before any oversubscription."""
    if npernode is None:
        return host.slots
    if npernode > host.slots and not oversubscribe:
        raise HostfileError(
            f"{origin}: -N {npernode} is more than the {host.slots} slots of {host.name} "
            f"({host.source}); give --oversubscribe to run them anyway"
        )
    if host.max_slots is not None and npernode > host.max_slots:
        raise HostfileError(
            f"{origin}: -N {npernode} is more than max_slots={host.max_slots} of {host.name} "
            f"({host.source})"
        )
    return npernode


def _fill(offers: Sequence[int], n: int, *, by_node: bool) -> list[int]:
    """``n`` ranks over hosts that offer ``offers``: in order, or one per
    host in turn."""
    counts = [0] * len(offers)
    if not by_node:
        left = n
        for i, offer in enumerate(offers):
            counts[i] = min(offer, left)
            left -= counts[i]
        return counts
    left = n
    while left:
        for i, offer in enumerate(offers):
            if left and counts[i] < offer:
                counts[i] += 1
                left -= 1
    return counts


def _overfill(hosts: Sequence[Host], offers: Sequence[int], n: int, origin: str) -> list[int]:
    """Every offer taken, the ranks beyond them one to each host in turn,
    up to each host's ``max_slots``."""
    counts = list(offers)
    bounds = [h.max_slots for h in hosts]
    most = sum(c if b is None else max(b, c) for b, c in zip(bounds, counts, strict=True))
    if all(b is not None for b in bounds) and n > most:
        raise HostfileError(
            f"{origin}: {n} ranks do not fit even with --oversubscribe: the hosts' "
            f"max_slots allow {most}"
        )
    left = n - sum(counts)
    while left:
        for i, bound in enumerate(bounds):
            if left and (bound is None or counts[i] < bound):
                counts[i] += 1
                left -= 1
    return counts


def _order(hosts: Sequence[Host], counts: Sequence[int], *, by_node: bool) -> list[str]:
    if not by_node:
        return [h.name for h, c in zip(hosts, counts, strict=True) for _ in range(c)]
    names: list[str] = []
    left = list(counts)
    while any(left):
        for i, h in enumerate(hosts):
            if left[i]:
                names.append(h.name)
                left[i] -= 1
    return names


def bindings(where: Sequence[str | None], *, share: bool) -> list[str]:
    """The ``ZMQMESH_BIND`` value of each rank, given where each runs
    (``None``: this machine): its index among the ranks of its host and
    their number, ``core:I/K``, with ``:share`` when ranks may share
    cores."""
    index: dict[str | None, int] = {}
    mine: list[int] = []
    for host in where:
        mine.append(index.get(host, 0))
        index[host] = mine[-1] + 1
    tail = ":share" if share else ""
    return [f"core:{i}/{index[h]}{tail}" for i, h in zip(mine, where, strict=True)]


def cores(available: Iterable[int], core_of: CoreOf) -> list[tuple[int, ...]]:
    """The ``available`` CPUs grouped by the core they are a hardware thread
    of (``core_of(cpu)``: a key per core, ``None`` when unknown, the CPU
    then a core of its own), each group in order, the groups in the order
    of their first CPU."""
    groups: dict[tuple[str, Hashable], list[int]] = {}
    for cpu in sorted(set(available)):
        key = core_of(cpu)
        groups.setdefault(("cpu", cpu) if key is None else ("core", key), []).append(cpu)
    return sorted((tuple(g) for g in groups.values()), key=lambda g: g[0])


def cpus_for(value: str, available: Iterable[int], core_of: CoreOf) -> tuple[int, ...]:
    """The CPUs a rank with ``ZMQMESH_BIND=value`` runs on, among the
    ``available`` ones (this process's affinity): the hardware threads of
    the ``I``-th core (:func:`cores`), round again when cores may be
    shared. Raises ``ValueError`` with a message for the user when
    ``value`` is malformed or the ``K`` ranks do not each get a core of
    their own and may not share."""
    kind, _, rest = value.partition(":")
    spec, _, tail = rest.partition(":")
    i_text, _, k_text = spec.partition("/")
    if kind != "core" or tail not in ("", "share") or not (i_text.isdigit() and k_text.isdigit()):
        raise ValueError(f"{BIND_ENV}={value!r} is not core:I/K[:share]")
    i, k = int(i_text), int(k_text)
    if not i < k:
        raise ValueError(f"{BIND_ENV}={value!r}: rank {i} of {k}")
    groups = cores(available, core_of)
    if not groups:
        raise ValueError("no CPU is available to this process")
    if k > len(groups) and tail != "share":
        shown = " ".join(",".join(str(c) for c in g) for g in groups)
        raise ValueError(
            f"--bind-to core: {k} ranks on this host but {len(groups)} cores available to "
            f"them (CPUs {shown}); give --oversubscribe to let ranks share cores, "
            "or --bind-to none"
        )
    return groups[i % len(groups)]


def sysfs_core(cpu: int) -> tuple[int, int] | None:
    """CPU ``cpu``'s core as Linux describes it (package and core id, from
    ``/sys/devices/system/cpu/cpuN/topology``), or ``None`` when unknown."""
    where = f"/sys/devices/system/cpu/cpu{cpu}/topology"
    try:
        with open(f"{where}/physical_package_id") as f:
            package = int(f.read())
        with open(f"{where}/core_id") as f:
            core = int(f.read())
    except (OSError, ValueError):
        return None
    return package, core


def bind_self(env: Mapping[str, str], core_of: CoreOf = sysfs_core) -> tuple[int, ...] | None:
    """Pin the calling thread, and so what it starts from now on, to the
    core ``env``'s ``ZMQMESH_BIND`` picks (all of its hardware threads that
    this process may use); those CPUs, or ``None`` without the variable.
    Raises ``ValueError`` as :func:`cpus_for` does."""
    value = env.get(BIND_ENV)
    if not value:
        return None
    cpus = cpus_for(value, os.sched_getaffinity(0), core_of)
    os.sched_setaffinity(0, cpus)
    return cpus


@contextlib.contextmanager
def pinned(env: Mapping[str, str]) -> Iterator[None]:
    """Run the block with the calling thread pinned as :func:`bind_self`
    pins it, then restore its affinity. A process forked in the block (a
    rank) keeps the pinning from its first instruction on, before it can
    start threads of its own; the launcher's other threads are not
    affected (Linux sets the affinity of one thread)."""
    before = os.sched_getaffinity(0)
    try:
        bind_self(env)
        yield
    finally:
        os.sched_setaffinity(0, before)
