"""The bounds every fuzzed decoder must keep, and the check of them."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable

from zmqmesh.errors import DecodeError

PEAK_LIMIT = 64 * 2**20  # bytes: tracemalloc peak allowed for one decode
# Seconds: catches blow-ups only (quadratic or worse); every case here takes
# micro- to milliseconds, so machine load cannot reach it.
TIME_LIMIT = 15.0


def bounded(decoder: Callable[[], object]) -> object:
    """``decoder()``'s result or its DecodeError (any other exception fails
    the test), after checking that it kept to TIME_LIMIT and PEAK_LIMIT."""
    tracemalloc.start()
    try:
        start = time.perf_counter()
        try:
            outcome = decoder()
        except DecodeError as exc:  # what a receiver logs before dropping the message
            outcome = exc
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < PEAK_LIMIT, f"decoding allocated {peak / 2**20:.1f} MiB"
    assert elapsed < TIME_LIMIT, f"decoding took {elapsed:.2f} s"
    return outcome
