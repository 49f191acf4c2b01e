"""Hangs and deadlocks, seen from the launcher: what each rank waits in.

Theory of operation. The launcher asks every rank what it waits in (an
``Ask`` on the rendezvous socket; ``runtime/hang.py`` answers) and reads
the answers a moment later. A rank that does not answer is computing (its
event loop is busy) or gone: never blocked. Ranks are *deadlocked* when
each answered that it is blocked (every task of its event loop waits in a
zmqmesh call), each of those calls has waited at least the
``--hang-check`` time and waits on one of these ranks (a wait on any
source: on every live rank), and no message is on its way: for every
pair of them, what one sent the other has arrived (a receive that could
match a message already there would not be waiting). Then nothing can
ever wake any of them, whatever the other ranks do. :func:`verdict` decides, and draws the wait-for
graph with its cycle when there is one; :func:`dump` is the report of
``kill -USR1`` and of ``--timeout`` (``launcher/stack.py`` also leaves it
where ``zmqmesh stack PID`` reads it). Pure.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

__all__ = ["Wait", "dump", "verdict", "waits_of"]

Wait = tuple[str, int, float, str]  # call, world peer (-1: any), seconds, "file:line in f"


def waits_of(report: Mapping[str, Any]) -> list[Wait]:
    """The well-formed waits of one rank's report (others are skipped)."""
    out: list[Wait] = []
    for w in report.get("waits") or []:
        if isinstance(w, list | tuple) and len(w) == 4:
            call, peer, secs, where = w
            if isinstance(call, str) and type(peer) is int and isinstance(secs, int | float):
                out.append((call, peer, float(secs), str(where)))
    return out


def _one(rank: int, w: Wait) -> str:
    at = f" at {w[3]}" if w[3] else ""
    return f"rank {rank} {w[0]}{at}"


def _cycle(edges: Mapping[int, list[tuple[int, Wait]]]) -> list[tuple[int, Wait]] | None:
    """A cycle of the wait-for graph (rank -> [(rank it waits on, the
    wait)]) as ``[(waiting rank, its wait), ...]`` in order, or None."""
    for start in sorted(edges):
        path: list[tuple[int, Wait]] = []
        seen: dict[int, int] = {}
        node = start
        while edges.get(node) and node not in seen:
            seen[node] = len(path)
            target, w = edges[node][0]
            path.append((node, w))
            node = target
        if node in seen:
            return path[seen[node] :]
    return None


def verdict(
    answers: Mapping[int, Mapping[str, Any]], live: Collection[int], after: float
) -> list[str] | None:
    """The lines that report a deadlock among the ``live`` ranks, or None
    when the answers do not prove one (see the module docstring)."""
    alive = set(live)
    waits: dict[int, list[Wait]] = {}
    for r in alive:
        rep = answers.get(r)
        ws = waits_of(rep) if rep is not None else []
        if rep is not None and rep.get("blocked") is True and ws and min(w[2] for w in ws) >= after:
            waits[r] = ws
    # The stuck ranks: blocked ranks that wait only on stuck ranks (a wait on
    # any source, on every other live rank). Others may still move them.
    stuck = set(waits)
    while True:
        gone = {
            r
            for r in stuck
            if any(not (({w[1]} if w[1] >= 0 else alive - {r}) <= stuck) for w in waits[r])
        }
        if not gone:
            break
        stuck -= gone
    if not stuck:
        return None
    for i in stuck:
        sent = answers[i].get("sent") or []
        for j in stuck:
            arrived = answers[j].get("arrived") or []
            s = sent[j] if j < len(sent) else None
            a = arrived[i] if i < len(arrived) else None
            if i != j and (type(s) is not int or type(a) is not int or s != a):
                return None  # a message on its way (or a report that cannot tell)
    edges: dict[int, list[tuple[int, Wait]]] = {}
    for r in stuck:
        for w in waits[r]:
            targets = [w[1]] if w[1] >= 0 else sorted(stuck - {r})
            edges.setdefault(r, []).extend((t, w) for t in targets)
    who = "every rank" if stuck == alive else "ranks " + ", ".join(map(str, sorted(stuck)))
    lines = [
        f"zmqmesh: deadlock: {who} waited at least {after:g} s in zmqmesh for "
        "each other, and no message is on its way to any of them:"
    ]
    for r in sorted(stuck):
        for w in waits[r]:
            lines.append(f"zmqmesh:   {_one(r, w)} (for {w[2]:.1f} s)")
    cycle = _cycle(edges)
    if cycle:
        hops = " -> ".join(_one(r, w) for r, w in cycle)
        lines.append(f"zmqmesh: deadlock cycle: {hops} -> rank {cycle[0][0]}")
    return lines


def dump(answers: Mapping[int, Mapping[str, Any]], live: Collection[int]) -> list[str]:
    """What each live rank waits in, with its tasks' stacks when it sent them."""
    lines = ["zmqmesh: what each rank waits in:"]
    for r in sorted(live):
        rep = answers.get(r)
        if rep is None:
            lines.append(f"zmqmesh: rank {r}: no answer (computing outside zmqmesh, or busy)")
            continue
        ws = waits_of(rep)
        if not ws:
            lines.append(f"zmqmesh: rank {r}: not waiting in zmqmesh")
        for w in ws:
            lines.append(f"zmqmesh: {_one(r, w)} (for {w[2]:.1f} s)")
        for text in rep.get("stacks") or []:
            if isinstance(text, str):
                lines += [f"zmqmesh:   {ln}" for ln in text.rstrip("\n").splitlines()]
    return lines
