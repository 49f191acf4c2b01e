"""mpi4py-suite: mpi4py's own unit tests under ``zmqmesh launch --mpi4py``,
file by file, beside the same files under MPICH.

``python -m bench mpi4py-suite [--ranks 1,2] [--files GLOB,...] [--timeout S]
[--mpich-python PY] [--mpich-from JSON] [--sdist DIR] [--out DIR]``

The tests are not part of this repository: each run downloads mpi4py's
source distribution (``pip download --no-binary :all: --no-deps
mpi4py==VERSION``; ``--sdist DIR`` reuses a directory holding the archive)
and unpacks it into a temporary directory. Every ``test/test_*.py`` then runs
as a program, ``-v``, once per rank count:

- ``zmqmesh launch --mpi4py -n N test_x.py -v`` with this interpreter;
- with ``--mpich-python PY``, ``mpiexec.mpich -n N -prepend-rank PY
  test_x.py -v`` (the interpreter that has the real mpi4py).

Each rank's verbose unittest lines (``name (module.Class.name) ... ok``)
are read back; a test's result over the ranks is the worst one (an error on
any rank is an error; skipped on one rank and passed on another is a pass).
A run that ends without every rank's ``Ran N tests`` line is marked
``timeout`` or ``died``. The table gives, per file and rank count, the tests
run/passed/failed/errors for each launcher, and ``lost``: tests that pass
under MPICH and not under zmqmesh. ``--out DIR`` keeps every run's output and
``results.json`` (per test results, reusable as ``--mpich-from``).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

VERSION = "4.1.2"
OK, SKIP, FAIL, ERROR = "ok", "skip", "FAIL", "ERROR"
_WORSE = {SKIP: 0, OK: 1, FAIL: 2, ERROR: 3}

# a launcher's rank prefix, "[1] " (zmqmesh) or "[1] " (hydra -prepend-rank)
_PREFIX = re.compile(r"^\[(\d+)\]\s?(.*)$")
# unittest -v: "test_x (mod.Class.test_x) ... ok"; a docstring puts the
# description on its own line first, and output of the test may come
# between " ... " and the verdict
_HEAD = re.compile(r"^(\w+) \(([\w.]+)\)(?:$|\s*\.\.\.\s*(.*)$|\s*$)")
_VERDICT = re.compile(r"^(ok|FAIL|ERROR|skipped\b.*|expected failure|unexpected success)\s*$")
_RAN = re.compile(r"^Ran (\d+) tests? in ")
# hydra prefixes every write, not every line: "name ... [0] ok" within a line
_EMBEDDED = re.compile(r"\[\d+\] ?")


@dataclass
class Run:
    """One file at one rank count under one launcher."""

    status: str = "done"  # done | timeout | died(rc) | missing
    seconds: float = 0.0
    tests: dict[str, str] = field(default_factory=dict)

    def count(self, verdict: str) -> int:
        return sum(1 for v in self.tests.values() if v == verdict)

    @property
    def run(self) -> int:
        return sum(1 for v in self.tests.values() if v != SKIP)


def _verdict(word: str) -> str:
    if word == "ok" or word == "expected failure":
        return OK
    if word.startswith("skipped"):
        return SKIP
    if word == "FAIL" or word == "unexpected success":
        return FAIL
    return ERROR


def parse_output(text: str, nranks: int) -> tuple[dict[str, str], int]:
    """Per-test verdicts, worst over ranks, and how many ranks said "Ran"."""
    pending: dict[int, str | None] = {}
    per_rank: dict[int, dict[str, str]] = {}
    finished: set[int] = set()
    for raw in text.splitlines():
        m = _PREFIX.match(raw)
        if m:
            rank, line = int(m.group(1)), m.group(2)
        elif nranks == 1:
            rank, line = 0, raw
        else:
            continue
        line = _EMBEDDED.sub("", line).rstrip()
        got = per_rank.setdefault(rank, {})
        if _RAN.match(line):
            finished.add(rank)
            pending[rank] = None
            continue
        head = _HEAD.match(line)
        if head:
            name = head.group(2)
            if not name.endswith("." + head.group(1)):  # setUpClass (mod.Class)
                name = f"{name}.{head.group(1)}"
            tail = head.group(3)
            if tail is not None:
                words = tail.split("... ")[-1].strip()
                if _VERDICT.match(words):
                    got[name] = _verdict(words)
                    pending[rank] = None
                    continue
            pending[rank] = name
            continue
        name = pending.get(rank)
        if name is not None:
            words = line.split("... ")[-1].strip()
            if _VERDICT.match(words):
                got[name] = _verdict(words)
                pending[rank] = None
    merged: dict[str, str] = {}
    for got in per_rank.values():
        for name, verdict in got.items():
            old = merged.get(name)
            merged[name] = verdict if old is None else _merge(old, verdict)
    return merged, len(finished)


def _merge(a: str, b: str) -> str:
    if OK in (a, b) and SKIP in (a, b):
        return OK
    return a if _WORSE[a] >= _WORSE[b] else b


def fetch_tests(sdist: Path | None, into: Path) -> Path:
    """Unpack mpi4py's sdist under ``into``; returns its ``test`` directory."""
    name = f"mpi4py-{VERSION}.tar.gz"
    archive = sdist / name if sdist is not None else None
    if archive is None or not archive.exists():
        where = sdist if sdist is not None else into
        where.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-binary",
            ":all:",
            "--no-deps",
            f"mpi4py=={VERSION}",
            "-d",
            str(where),
        ]
        print("$", " ".join(cmd), file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        archive = where / name
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / f"mpi4py-{VERSION}" / "test"


def _command(
    launcher: str, n: int, path: Path, mpich_python: str | None, timeout: float
) -> list[str]:
    if launcher == "zmqmesh":
        return [
            sys.executable,
            "-m",
            "zmqmesh",
            "launch",
            "--mpi4py",
            "-n",
            str(n),
            "--timeout",
            str(int(timeout)),
            str(path),
            "-v",
        ]
    mpiexec = shutil.which("mpiexec.mpich") or "mpiexec"
    assert mpich_python is not None
    return [mpiexec, "-n", str(n), "-prepend-rank", mpich_python, str(path), "-v"]


def run_one(
    launcher: str, n: int, path: Path, mpich_python: str | None, timeout: float, log: Path | None
) -> Run:
    """Run one test file; never raises for the test's own failures."""
    cmd = _command(launcher, n, path, mpich_python, timeout)
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=path.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    timed_out = False
    try:
        out, _ = proc.communicate(timeout=timeout + 30)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    text = out.decode(errors="replace")
    res = Run(seconds=time.monotonic() - start)
    if log is not None:
        log.write_text("$ " + " ".join(cmd) + "\n" + text)
    res.tests, finished = parse_output(text, n)
    if timed_out or (launcher == "zmqmesh" and proc.returncode == 124):
        res.status = "timeout"
    elif finished < n:
        res.status = f"died({proc.returncode})"
    return res


def _cells(r: Run | None) -> list[str]:
    if r is None:
        return ["", "", "", "", ""]
    state = "" if r.status == "done" else r.status
    return [str(r.run), str(r.count(OK)), str(r.count(FAIL)), str(r.count(ERROR)), state]


def lost(zmq: Run, ref: Run | None) -> list[str]:
    """Tests that pass under MPICH and not under zmqmesh."""
    if ref is None:
        return []
    return sorted(t for t, v in ref.tests.items() if v == OK and zmq.tests.get(t) != OK)


def print_table(
    results: dict[str, dict[str, dict[int, Run]]], ranks: list[int], have_ref: bool
) -> None:
    cols = ["file", "n", "zmq run", "pass", "fail", "err", "state"]
    if have_ref:
        cols += ["mpich run", "pass", "fail", "err", "state", "lost"]
    rows: list[list[str]] = []
    totals: dict[tuple[str, int], list[int]] = {}
    for fname in sorted(set(results.get("zmqmesh", {})) | set(results.get("mpich", {}))):
        for n in ranks:
            z = results.get("zmqmesh", {}).get(fname, {}).get(n) or Run(status="missing")
            row = [fname.removesuffix(".py"), str(n), *_cells(z)]
            t = totals.setdefault(("zmqmesh", n), [0, 0, 0, 0, 0])
            _add(t, z)
            if have_ref:
                m = results.get("mpich", {}).get(fname, {}).get(n)
                row += [*_cells(m), str(len(lost(z, m)))]
                if m is not None:
                    t = totals.setdefault(("mpich", n), [0, 0, 0, 0, 0])
                    _add(t, m)
                    totals.setdefault(("lost", n), [0])[0] += len(lost(z, m))
            rows.append(row)
    for n in ranks:
        z = totals.get(("zmqmesh", n), [0] * 5)
        row = ["TOTAL", str(n), *map(str, z[:4]), f"{z[4]} bad"]
        if have_ref:
            m = totals.get(("mpich", n), [0] * 5)
            row += [*map(str, m[:4]), f"{m[4]} bad", str(totals.get(("lost", n), [0])[0])]
        rows.append(row)
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    fmt = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    print(fmt.format(*cols))
    for row in rows:
        if row[0] == "TOTAL":
            print("-" * (sum(widths) + 2 * len(widths)))
        print(fmt.format(*row))


def _add(t: list[int], r: Run) -> None:
    t[0] += r.run
    t[1] += r.count(OK)
    t[2] += r.count(FAIL)
    t[3] += r.count(ERROR)
    t[4] += r.status != "done"


def _load(path: Path) -> dict[str, dict[int, Run]]:
    raw = json.loads(path.read_text())["mpich"]
    return {f: {int(n): Run(**r) for n, r in per.items()} for f, per in raw.items()}


def _dump(results: dict[str, dict[str, dict[int, Run]]]) -> dict[str, object]:
    return {
        launcher: {f: {str(n): vars(r) for n, r in per.items()} for f, per in files.items()}
        for launcher, files in results.items()
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench mpi4py-suite",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--ranks", default="1,2", help="rank counts (default 1,2)")
    ap.add_argument(
        "--files",
        default="test_*.py",
        help="comma-separated globs of test files (default test_*.py)",
    )
    ap.add_argument("--skip", default="", help="comma-separated globs to leave out")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per run (300)")
    ap.add_argument("--mpich-python", help="interpreter with mpi4py on MPICH, for a baseline")
    ap.add_argument(
        "--launchers", default="zmqmesh,mpich", help="which to run (mpich needs --mpich-python)"
    )
    ap.add_argument("--mpich-from", type=Path, help="a results.json whose MPICH runs to reuse")
    ap.add_argument("--sdist", type=Path, help="directory with (or to keep) the sdist")
    ap.add_argument("--out", type=Path, help="keep logs and results.json here")
    ap.add_argument("--show-lost", action="store_true", help="list every lost test")
    ns = ap.parse_args(argv)
    ranks = [int(x) for x in ns.ranks.split(",")]
    globs = ns.files.split(",")
    skips = [g for g in ns.skip.split(",") if g]

    with tempfile.TemporaryDirectory(prefix="mpi4py-suite-") as tmp:
        testdir = fetch_tests(ns.sdist, Path(tmp))
        files = sorted(
            p
            for p in testdir.glob("test_*.py")
            if any(fnmatch.fnmatch(p.name, g) for g in globs)
            and not any(fnmatch.fnmatch(p.name, g) for g in skips)
        )
        launchers = [x for x in ns.launchers.split(",") if x != "mpich" or ns.mpich_python]
        results: dict[str, dict[str, dict[int, Run]]] = {x: {} for x in launchers}
        if ns.mpich_from is not None and "mpich" not in launchers:
            results["mpich"] = _load(ns.mpich_from)
        if ns.out is not None:
            ns.out.mkdir(parents=True, exist_ok=True)
        for path in files:
            for n in ranks:
                for launcher in launchers:
                    log = ns.out / f"{path.stem}.{launcher}.{n}.log" if ns.out else None
                    r = run_one(launcher, n, path, ns.mpich_python, ns.timeout, log)
                    results[launcher].setdefault(path.name, {})[n] = r
                    print(
                        f"{path.name} n={n} {launcher}: {r.run} run, {r.count(OK)} ok,"
                        f" {r.count(FAIL)} fail, {r.count(ERROR)} err {r.status}"
                        f" ({r.seconds:.0f}s)",
                        file=sys.stderr,
                        flush=True,
                    )
        if ns.out is not None:
            (ns.out / "results.json").write_text(json.dumps(_dump(results), indent=1))
    have_ref = "mpich" in results
    print_table(results, ranks, have_ref)
    if have_ref and ns.show_lost:
        for fname, per in sorted(results.get("zmqmesh", {}).items()):
            for n, z in sorted(per.items()):
                for t in lost(z, results["mpich"].get(fname, {}).get(n)):
                    print(f"lost n={n} {fname}: {t} ({z.tests.get(t, 'not run')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
