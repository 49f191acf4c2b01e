"""``--report`` and ``--trace``: what each rank did, from its profile record.

Pure functions over the records the ranks write at ``finalize`` (see
``runtime/profile.py``): :func:`report` renders the end-of-job table and
:func:`chrome_trace` the Chrome/Perfetto trace (one track per rank, one
span per blocking point-to-point or collective call); :func:`write_profile`
writes both where the job asked, at its end.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zmqmesh.launcher.jobspec import JobSpec
    from zmqmesh.launcher.output import Sink

__all__ = ["chrome_trace", "human_size", "load", "report", "write_profile"]

_P2P = frozenset({"send", "recv", "sendrecv", "probe"})


def load(directory: str, size: int) -> list[dict[str, Any] | None]:
    """The record of each rank (None where a rank wrote none: it died, ran
    on another host, or never called ``finalize``)."""
    records: list[dict[str, Any] | None] = []
    for rank in range(size):
        try:
            with open(os.path.join(directory, f"rank-{rank}.json")) as f:
                records.append(json.load(f))
        except (OSError, ValueError):
            records.append(None)
    return records


def human_size(n: float) -> str:
    """``n`` bytes in B, KiB, MiB, GiB or TiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def report(records: Sequence[dict[str, Any] | None]) -> str:
    """The end-of-job report: per rank, messages and bytes, time waiting in
    zmqmesh calls against computing, peak RSS; then per peer, per call, and
    the load imbalance."""
    lines = ["zmqmesh report", ""]
    head = (
        "rank  sent msgs  sent bytes  recv msgs  recv bytes   wall s   wait s  compute s  peak RSS"
    )
    lines += [head, "-" * len(head)]
    computes = []
    for rank, rec in enumerate(records):
        if rec is None:
            lines.append(
                f"{rank:>4}  (no record: the rank died, ran on another host or did not finalize)"
            )
            continue
        peers = rec["peers"].values()
        sent = sum(p[0] for p in peers), sum(p[1] for p in peers)
        recv = sum(p[2] for p in peers), sum(p[3] for p in peers)
        compute = max(0.0, rec["wall"] - rec["waiting"])
        computes.append(compute)
        lines.append(
            f"{rank:>4}  {sent[0]:>9}  {human_size(sent[1]):>10}"
            f"  {recv[0]:>9}  {human_size(recv[1]):>10}"
            f"  {rec['wall']:>7.3f}  {rec['waiting']:>7.3f}  {compute:>9.3f}"
            f"  {human_size(rec['peak_rss']):>8}"
        )
    lines += ["", "messages per peer (sent msgs/bytes -> peer, received msgs/bytes <- peer):"]
    for rank, rec in enumerate(records):
        if rec is None or not rec["peers"]:
            continue
        cells = [
            f"{peer}: {v[0]}/{human_size(v[1])} -> {v[2]}/{human_size(v[3])} <-"
            for peer, v in sorted(rec["peers"].items(), key=lambda kv: int(kv[0]))
        ]
        lines.append(f"  rank {rank}: " + "; ".join(cells))
    lines += ["", "time in calls (calls, seconds):"]
    for rank, rec in enumerate(records):
        if rec is None or not rec["calls"]:
            continue
        cells = [f"{name} {int(c)} {t:.4f}" for name, (c, t) in sorted(rec["calls"].items())]
        lines.append(f"  rank {rank}: " + ", ".join(cells))
    if computes:
        mean = sum(computes) / len(computes)
        imbalance = max(computes) / mean if mean > 0 else 1.0
        lines += [
            "",
            f"load imbalance (max / mean compute time): {imbalance:.2f}"
            + ("" if mean > 0 else " (no compute time measured)"),
        ]
    return "\n".join(lines) + "\n"


def chrome_trace(records: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
    """A Chrome trace-event document (opens in ui.perfetto.dev): one thread
    track per rank, an "X" span per call, times in microseconds from the
    earliest rank's start."""
    present = [r for r in records if r is not None]
    t0 = min((r["start"] for r in present), default=0.0)
    events: list[dict[str, Any]] = [
        {"name": "process_name", "ph": "M", "pid": 0, "args": {"name": "zmqmesh job"}}
    ]
    for rank, rec in enumerate(records):
        events.append(
            {
                "name": "thread_name",
                "ph": "M",
                "pid": 0,
                "tid": rank,
                "args": {"name": f"rank {rank}"},
            }
        )
        if rec is None:
            continue
        offset = (rec["start"] - t0) * 1e6
        for name, start, took in rec["spans"]:
            events.append(
                {
                    "name": name,
                    "cat": "collective"
                    if name not in {"send", "recv", "sendrecv", "probe"}
                    else "p2p",
                    "ph": "X",
                    "pid": 0,
                    "tid": rank,
                    "ts": round(offset + start * 1e6, 3),
                    "dur": round(took * 1e6, 3),
                }
            )
        if rec.get("dropped"):
            events.append(
                {
                    "name": f"{rec['dropped']} spans not recorded",
                    "ph": "i",
                    "s": "t",
                    "pid": 0,
                    "tid": rank,
                    "ts": round(offset + rec["wall"] * 1e6, 3),
                }
            )
    return {"traceEvents": events, "displayTimeUnit": "ms"}


def write_profile(spec: JobSpec, directory: str, err: Sink) -> None:
    """The end-of-job report (to stderr) and trace file from the ranks' records."""
    records = load(directory, spec.size)
    if spec.report:
        err.write(("\n" + report(records)).encode())
    if spec.trace:
        try:
            with open(spec.trace, "w") as f:
                json.dump(chrome_trace(records), f)
        except OSError as exc:
            err.write(f"zmqmesh: cannot write the trace {spec.trace}: {exc}\n".encode())
        else:
            missing = [r for r, rec in enumerate(records) if rec is None]
            note = f" (no record from ranks {missing})" if missing else ""
            err.write(f"zmqmesh: trace written to {spec.trace}{note}\n".encode())
