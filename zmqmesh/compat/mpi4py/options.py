"""``mpi4py.rc``: the run-time options mpi4py reads before ``MPI`` starts.

Every option mpi4py has is accepted and kept, so that programs that set
them run. zmqmesh reads none of them: ``initialize``/``finalize`` (the job
is joined on first use and left at exit), ``threads``/``thread_level`` (the
level is ``THREAD_SERIALIZED``), ``fast_reduce``, ``recv_mprobe``,
``irecv_bufsz`` and ``errors`` (errors always raise) change nothing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Rc", "rc"]

_DEFAULTS: dict[str, Any] = {
    "initialize": True,
    "threads": True,
    "thread_level": "multiple",
    "finalize": None,
    "fast_reduce": True,
    "recv_mprobe": True,
    "irecv_bufsz": 32768,
    "errors": "exception",
}


class Rc:
    """Run-time configuration options (accepted, ignored by zmqmesh)."""

    initialize: Any
    threads: Any
    thread_level: Any
    finalize: Any
    fast_reduce: Any
    recv_mprobe: Any
    irecv_bufsz: Any
    errors: Any

    def __init__(self, **kwargs: Any) -> None:
        for key, value in _DEFAULTS.items():
            object.__setattr__(self, key, value)
        self(**kwargs)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in _DEFAULTS:
            raise TypeError(f"object has no attribute {name!r}")
        object.__setattr__(self, name, value)

    def __call__(self, **kwargs: Any) -> None:
        for key, value in kwargs.items():
            setattr(self, key, value)

    def __repr__(self) -> str:
        return f"<{__name__}.Rc>"


rc = Rc()
