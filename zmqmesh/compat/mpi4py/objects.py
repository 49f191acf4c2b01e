"""The other handle families: ``Info``, ``Errhandler``, ``File``
(``Group`` is in ``groups``, ``Win`` in ``win``, ``Session`` in ``session``).

``Info`` works (a dictionary of strings, enough for the calls that take
one: zmqmesh reads no hints). Error handlers are accepted and ignored: an
error always raises ``MPI.Exception`` or a Python exception, as
``ERRORS_RETURN`` does in mpi4py. Files and sessions exist as their null
handles and constants; their calls raise ``NotImplementedError``.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
from collections.abc import Iterator
from typing import Any

from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.handles import Handle
from zmqmesh.compat.mpi4py.runner import unsupported

__all__ = [
    "ERRHANDLER_NULL",
    "ERRORS_ABORT",
    "ERRORS_ARE_FATAL",
    "ERRORS_RETURN",
    "FILE_NULL",
    "INFO_ENV",
    "INFO_NULL",
    "Errhandler",
    "File",
    "Info",
]


class Info(Handle):
    """A set of ``(key, value)`` hints; zmqmesh reads none of them."""

    __slots__ = ()

    @classmethod
    def Create(cls, items: Any = None) -> Info:
        """A new info object, with the keys and values of ``items`` when given."""
        info: Info = cls.__new__(cls)
        info._h = {}
        if items is not None:
            info.update(items)
        return info

    @classmethod
    def Create_env(cls, args: Any = None) -> Info:
        """The environment's info (MPI 4.0): ``command``, ``argv``, ``maxprocs``..."""
        argv = list(sys.argv if args is None else args)
        return cls.Create(
            {
                "command": argv[0] if argv else "",
                "argv": " ".join(argv[1:]),
                "maxprocs": "1",
                "soft": "",
                "host": socket.gethostname(),
                "arch": platform.machine(),
                "wdir": os.getcwd(),
                "thread_level": "MPI_THREAD_SERIALIZED",
            }
        )

    def _d(self) -> dict[str, str]:
        if self._h is None:
            raise MPIException(C.ERR_INFO, "Invalid MPI_Info (the null info)")
        d: dict[str, str] = self._h
        return d

    def _m(self) -> dict[str, str]:
        # the mapping face: the null info is an empty mapping that takes nothing
        if self._h is None:
            raise KeyError("the null info holds no keys")
        return self._d()

    def __reduce__(self) -> Any:
        if self._h is None or self._h is INFO_ENV._h:
            return super().__reduce__()
        return (type(self).Create, (dict(self._d()),))

    def Free(self) -> None:
        """Free the info object (the handle becomes ``INFO_NULL``)."""
        self._d()
        self._h = None

    def Dup(self) -> Info:
        """A new info object with the same keys and values."""
        return type(self).Create(self._d())

    def Set(self, key: str, value: str) -> None:
        """Set ``key`` to ``value``."""
        self._d()[str(key)] = str(value)

    def Get(self, key: str) -> str | None:
        """The value of ``key``, or None."""
        return self._d().get(str(key))

    def Delete(self, key: str) -> None:
        """Remove ``key``."""
        try:
            del self._d()[str(key)]
        except KeyError:
            raise MPIException(C.ERR_INFO_NOKEY) from None

    def Get_nkeys(self) -> int:
        """The number of keys."""
        return len(self._d())

    def Get_nthkey(self, n: int) -> str:
        """The ``n``-th key."""
        keys = list(self._d())
        if not 0 <= int(n) < len(keys):
            raise MPIException(C.ERR_INFO_KEY, f"Invalid info key number {n}")
        return keys[int(n)]

    # the mapping protocol, as mpi4py's Info
    def __len__(self) -> int:
        return 0 if self._h is None else self.Get_nkeys()

    def __iter__(self) -> Iterator[str]:
        return iter(self._d() if self._h is not None else {})

    def __contains__(self, key: object) -> bool:
        return self._h is not None and key in self._d()

    def __getitem__(self, key: str) -> str:
        return self._m()[str(key)]

    def __setitem__(self, key: str, value: str) -> None:
        self._m()[str(key)] = str(value)

    def __delitem__(self, key: str) -> None:
        del self._m()[str(key)]

    def pop(self, key: str, *default: str | None) -> str | None:
        """Remove ``key`` and return its value (or ``default``)."""
        if self._h is None:
            if default:
                return default[0]
            raise KeyError(key)
        return self._d().pop(str(key), *default)

    def popitem(self) -> tuple[str, str]:
        """Remove and return some ``(key, value)``."""
        return self._m().popitem()

    def get(self, key: str, default: str | None = None) -> str | None:
        """The value of ``key``, or ``default``."""
        value = self.Get(key) if self._h is not None else None
        return default if value is None else value

    def keys(self) -> list[str]:
        """The keys."""
        return list(self)

    def values(self) -> list[str]:
        """The values."""
        return [self._d()[k] for k in self]

    def items(self) -> list[tuple[str, str]]:
        """The ``(key, value)`` pairs."""
        return [(k, self._d()[k]) for k in self]

    def update(self, other: Any = (), **kwds: str) -> None:
        """Set the keys and values of ``other`` and ``kwds``."""
        target = self._m()
        for k, v in dict(other, **kwds).items():
            target[str(k)] = str(v)

    def copy(self) -> Info:
        """A new info object with the same keys and values."""
        return Info() if self._h is None else self.Dup()

    def clear(self) -> None:
        """Remove every key."""
        if self._h is not None:
            self._d().clear()


class UserErrhandler:
    """What a user error handler names: the function ``fn(obj, errorcode)``."""

    __slots__ = ("fn",)

    def __init__(self, fn: Any) -> None:
        self.fn = fn


# as mpi4py: at most this many user error handlers of a kind live at once
MAX_USER_ERRHANDLERS = 32
_LIVE_USER: list[UserErrhandler] = []


class Errhandler(Handle):
    """An error handler.

    The predefined ones are accepted and never called (errors raise, as
    with ``ERRORS_RETURN``); a user one (``Comm.Create_errhandler``) runs on
    ``Call_errhandler``."""

    __slots__ = ()

    @classmethod
    def _user(cls, fn: Any) -> Errhandler:
        live = [u for u in _LIVE_USER if u is not None]
        if len(live) >= MAX_USER_ERRHANDLERS:
            raise RuntimeError(f"cannot create more than {MAX_USER_ERRHANDLERS} error handlers")
        eh = cls()
        eh._h = UserErrhandler(fn)
        _LIVE_USER.append(eh._h)
        return eh

    def Free(self) -> None:
        """Free the error handler (the handle becomes ``ERRHANDLER_NULL``)."""
        if self._h is None:
            raise MPIException(C.ERR_ARG, "Invalid argument: the null error handler")
        if self._h in _LIVE_USER:
            _LIVE_USER.remove(self._h)
        self._h = None

    def _call(self, obj: Any, errorcode: int) -> None:
        if isinstance(self._h, UserErrhandler):
            self._h.fn(obj, errorcode)


class File(Handle):
    """MPI-IO files: not supported by the layer."""

    __slots__ = ()
    Open = classmethod(unsupported("File.Open", "MPI-IO"))


def _named(cls: type[Handle], tag: str) -> Any:
    h = cls()
    h._h = tag
    return h


INFO_NULL = Info()
INFO_ENV = Info.Create()
ERRHANDLER_NULL = Errhandler()
ERRORS_ARE_FATAL = _named(Errhandler, "ERRORS_ARE_FATAL")
ERRORS_RETURN = _named(Errhandler, "ERRORS_RETURN")
ERRORS_ABORT = _named(Errhandler, "ERRORS_ABORT")
FILE_NULL = File()
