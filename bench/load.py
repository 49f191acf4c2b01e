"""Busy processes beside a measurement: ``--load N`` of the bench suites.

A loaded machine is where waiting strategies show what they cost: a rank
that busy-polls takes a core from a process with work. Each busy process
spins in pure Python and ends by itself after ``MAX_SECONDS`` even if the
suite dies without stopping it.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

MAX_SECONDS = 3600.0

_BUSY = f"""
import time
end = time.monotonic() + {MAX_SECONDS}
while time.monotonic() < end:
    pass
"""


@contextlib.contextmanager
def busy(n: int) -> Iterator[None]:
    """Run ``n`` busy processes for the duration of the block."""
    procs = [subprocess.Popen([sys.executable, "-c", _BUSY]) for _ in range(n)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()
