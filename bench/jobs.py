"""What the suites share about their jobs: one job launched with its
environment and stopped whole on a timeout, its JSON line read back; the
machine and the zmqmesh sources a run measured; the report lines and JSON
record that every suite starts with.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmqmesh

__all__ = [
    "Launch",
    "_fmt_bytes",
    "_fmt_time",
    "_machine",
    "_mpiexec",
    "_run",
    "_version",
    "_zmqmesh_source",
    "failure_lines",
    "run_notes",
    "run_record",
]


@dataclass
class Launch:
    """One job started per round and rank count: a peer, the ops it runs,
    its environment, and which report column each of its variants fills."""

    label: str
    ops: list[str]
    command: Any  # (ranks, worker options) -> argv
    columns: dict[str, str]  # worker's variant name -> report column
    env: dict[str, str] = field(default_factory=dict)
    unset: tuple[str, ...] = ()


def launch_cmd(n: int, timeout: float, script: Path, *args: str) -> list[str]:
    """``zmqmesh launch`` of ``n`` ranks of ``script``, unprefixed, stopped after ``timeout``."""
    return [
        sys.executable,
        "-m",
        "zmqmesh",
        "launch",
        "-n",
        str(n),
        "--no-prefix",
        "--timeout",
        str(math.ceil(timeout)),
        str(script),
        *args,
    ]


def _mpiexec() -> str | None:
    # prefer MPICH's by name, the MPI that the README builds mpi4py against
    return shutil.which("mpiexec.mpich") or shutil.which("mpiexec")


def _run(
    launch: Launch, cmd: list[str], timeout: float, snapshot: Path
) -> tuple[dict[str, Any] | None, str]:
    """Run one job in ``snapshot`` (a directory holding a copy of the
    zmqmesh package, which it imports first); its parsed JSON line, or None
    and what went wrong."""
    env = {k: v for k, v in os.environ.items() if k not in launch.unset}
    env.update(launch.env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(snapshot), env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=snapshot,
        start_new_session=True,  # so a timeout can stop every rank it started
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # SIGTERM first: zmqmesh launch and mpiexec then stop their ranks
        # (which zmqmesh starts in sessions of their own), then SIGKILL
        stderr = ""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                stderr = proc.communicate(timeout=15)[1]
                break
            except subprocess.TimeoutExpired:
                pass
        return None, f"timed out after {timeout:g} s\n{stderr[-2000:]}"
    lines = [ln for ln in stdout.splitlines() if ln.startswith('{"meta"')]
    if proc.returncode != 0 or not lines:
        return None, f"exit status {proc.returncode}\n{stdout[-1000:]}\n{stderr[-2000:]}"
    return json.loads(lines[-1]), ""


def _fmt_time(s: float) -> str:
    return f"{s * 1e6:,.1f} µs" if s < 1e-3 else f"{s * 1e3:,.2f} ms"


def _fmt_bytes(n: int) -> str:
    if n == 0:
        return "—"  # barrier: no payload
    for unit, scale in (("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} B"


def _machine() -> str:
    model = "unknown CPU"
    mem = ""
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                model = ln.split(":", 1)[1].strip()
                break
        for ln in Path("/proc/meminfo").read_text().splitlines():
            if ln.startswith("MemTotal"):
                mem = f" · {int(ln.split()[1]) / 2**20:.0f} GiB RAM"
                break
    except OSError:
        pass
    return (
        f"{platform.node()} · {model} · {os.cpu_count()} cores{mem} · "
        f"{platform.system()} {platform.release()}"
    )


def failure_lines(failures: list[str]) -> list[str]:
    """The report's list of failed jobs (none: no lines)."""
    if not failures:
        return []
    lines = ["## Failed jobs", ""]
    lines += [
        "- " + f.splitlines()[0] + (f" — `{f.splitlines()[-1][:200]}`" if "\n" in f else "")
        for f in failures
    ]
    return [*lines, ""]


def run_record(
    command: str,
    versions: list[str],
    meta: Any,
    settings: dict[str, Any],
    commit: str,
    source_before: str,
    source_changed: bool,
) -> dict[str, Any]:
    """What every suite's JSON starts with: how it was run, on what, with
    which zmqmesh."""
    return {
        "command": command,
        "machine": _machine(),
        "versions": versions,
        "meta": meta,
        "settings": settings,
        "zmqmesh_source": {
            "commit": commit,
            "sha256": source_before,
            "changed_during_run": source_changed,
        },
    }


def run_notes(source_changed: bool, source_before: str, skipped: dict[str, str]) -> list[str]:
    """Report lines every suite writes after its header: a warning when
    zmqmesh's sources changed during the run, and each peer skipped and why."""
    lines = []
    if source_changed:
        lines += [
            "zmqmesh's sources changed during this run; every round measured the copy "
            f"taken at the start (sources sha256 {source_before}…).",
            "",
        ]
    for name, why in skipped.items():
        lines += [f"Skipped {name}: {why}.", ""]
    return lines


def _zmqmesh_source() -> tuple[str, str]:
    """zmqmesh's git commit (``+dirty`` with uncommitted changes), and a hash
    of its sources: the suite compares the hash after the run with the one
    before, since every job imports zmqmesh afresh."""
    pkg = Path(zmqmesh.__file__).resolve().parent
    digest = hashlib.sha256()
    for f in sorted(pkg.rglob("*.py")):
        digest.update(str(f.relative_to(pkg)).encode() + b"\0" + f.read_bytes())

    def git(*args: str) -> str:
        try:
            res = subprocess.run(["git", "-C", str(pkg), *args], capture_output=True, text=True)
        except OSError:
            return ""
        return res.stdout.strip() if res.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if commit and git("status", "--porcelain", "--", "."):
        commit += "+dirty"
    return commit, digest.hexdigest()[:12]


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
