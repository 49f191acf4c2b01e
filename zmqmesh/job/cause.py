"""The line a failing rank prints to name the cause of its failure, and
how the launcher reads it back: the contract between ``runtime/failure.py``
(which prints it) and the launcher (which names the job's first failure
with it, and tells the other ranks). Pure.

    zmqmesh: rank 1 (nodeA) raised ValueError: boom at prog.py:12 in main
"""

from __future__ import annotations

__all__ = ["CAUSE", "find_cause"]

CAUSE = "zmqmesh: rank "
"""How a cause line starts; then ``N (host) raised ...``."""


def find_cause(lines: bytes, rank: int) -> str | None:
    """The first cause line of ``rank`` among ``lines`` (any prefix before
    it, as the launcher's ``[rank]``), without its ``zmqmesh: `` head:
    ``rank 1 (nodeA) raised ...``; None when there is none."""
    mark = f"{CAUSE}{rank} (".encode()
    if mark not in lines:
        return None
    for line in lines.splitlines():
        at = line.find(mark)
        if at >= 0 and b") raised " in line[at:]:
            return line[at + len(b"zmqmesh: ") :].decode(errors="replace")
    return None
