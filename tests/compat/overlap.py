"""What the tours that show a nonblocking call progressing while a rank
computes share: marks in a directory the ranks share (an event, not a
sleep) and a computation that makes no MPI call until an event is set."""

from __future__ import annotations

import os
import threading

import numpy as np


def mark(shared: str, name: str) -> None:
    """Create file ``name`` in ``shared`` atomically."""
    with open(os.path.join(shared, f"{name}.tmp"), "w") as f:
        f.write("1")
    os.replace(os.path.join(shared, f"{name}.tmp"), os.path.join(shared, name))


def seen(shared: str, name: str) -> bool:
    return os.path.exists(os.path.join(shared, name))


def wait_for(shared: str, names: list[str], event: threading.Event) -> None:
    """Return once every file of ``names`` exists (then set ``event``), or
    once ``event`` is set by someone else (who gave up)."""
    while not all(seen(shared, n) for n in names):
        if event.wait(0.01):
            return
    event.set()


def compute_until(shared: str, names: list[str]) -> None:
    """NumPy work with no MPI call until every file of ``names`` exists;
    ``SystemExit`` if that never happens (the others got no progress)."""
    everyone = threading.Event()
    watcher = threading.Thread(target=wait_for, args=(shared, names, everyone))
    watcher.start()
    work, rounds = np.ones((64, 64)), 0
    while not everyone.is_set():  # pure computation, no MPI call
        work = np.tanh(work @ work.T / 64.0)
        rounds += 1
        if rounds > 2_000_000:
            everyone.set()
            raise SystemExit("the other ranks never finished: no progress during computation")
    watcher.join()
