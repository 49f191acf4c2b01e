"""``mpi4py.rc``: the run-time options mpi4py reads before ``MPI`` starts.

Every option mpi4py has is accepted and kept, so that programs that set
them run, and at ``MPI``'s import they are read as mpi4py reads them
(``at_import``): an ``MPI4PY_RC_<NAME>`` variable overrides the
attribute, and a value mpi4py would not take gives its
``RuntimeWarning``. Two of them mean something here: ``initialize``
false makes ``MPI.Is_initialized()`` false until ``MPI.Init``, and
``threads``/``thread_level`` set what ``MPI.Query_thread()`` says (calls
from several threads are safe at every level). The job is joined on first
use and left at exit whatever ``initialize``/``finalize`` say;
``fast_reduce``, ``recv_mprobe``, ``irecv_bufsz`` and ``errors`` (errors
always raise) change nothing.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

__all__ = ["Rc", "at_import", "rc"]

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


_TRUE = ("true", "yes", "on", "y", "1")
_FALSE = ("false", "no", "off", "n", "0")
LEVELS = ("single", "funneled", "serialized", "multiple")


def _option(name: str) -> Any:
    """``rc.<name>``, or its ``MPI4PY_RC_<NAME>`` variable (an int for an
    int option, a bool for a yes/no word, else the word in lower case),
    which it then becomes."""
    raw = os.environ.get(f"MPI4PY_RC_{name.upper()}")
    if raw is None:
        return getattr(rc, name, _DEFAULTS[name])
    word = raw.strip().lower()
    value: Any
    if word.isdigit() and type(_DEFAULTS[name]) is int:
        value = int(word)
    elif word in _TRUE or word in _FALSE:
        value = word in _TRUE
    else:
        value = word
    setattr(rc, name, value)
    return value


def _yes_no(name: str, value: Any, default: bool) -> bool:
    if value in (True, "yes"):
        return True
    if value in (False, "no"):
        return False
    _unexpected(name, value)
    return default


def _unexpected(name: str, value: Any) -> None:
    warnings.warn(f"mpi4py.rc.{name}: unexpected value {value!r}", RuntimeWarning, stacklevel=4)


def at_import() -> dict[str, Any]:
    """The options as ``MPI``'s import reads them: ``initialize`` (bool)
    and ``thread_level`` (one of ``LEVELS``), warning of each value
    mpi4py would not take (that option then keeps its default)."""
    v = {name: _option(name) for name in _DEFAULTS}
    initialize = _yes_no("initialize", v["initialize"], True)
    threads = _yes_no("threads", v["threads"], True)
    level = v["thread_level"]
    if level not in LEVELS:
        _unexpected("thread_level", level)
        level = "multiple"
    if v["finalize"] is not None:
        _yes_no("finalize", v["finalize"], initialize)
    _yes_no("fast_reduce", v["fast_reduce"], True)
    _yes_no("recv_mprobe", v["recv_mprobe"], True)
    if not (type(v["irecv_bufsz"]) is int and v["irecv_bufsz"] >= 0):
        _unexpected("irecv_bufsz", v["irecv_bufsz"])
    if v["errors"] not in ("default", "exception", "abort", "fatal"):
        _unexpected("errors", v["errors"])
    return {"initialize": initialize, "thread_level": level if threads else "single"}
