"""``MPI.Exception``: an MPI error class, as mpi4py raises it."""

from __future__ import annotations

import builtins

from zmqmesh.compat.mpi4py import constants as C

__all__ = [
    "Add_error_class",
    "Add_error_code",
    "Add_error_string",
    "Exception",
    "Get_error_class",
    "Get_error_string",
    "last_used_code",
]

# user error classes and codes (MPI_Add_error_class...): numbers above
# ERR_LASTCODE, each code's class, and the strings given to them
_USER_CLASS: dict[int, int] = {}
_USER_STRING: dict[int, str] = {}
_LAST_USED = [C.ERR_LASTCODE]


def last_used_code() -> int:
    """The largest error class or code in use (``LASTUSEDCODE``)."""
    return _LAST_USED[0]


def Add_error_class() -> int:
    """A new error class (its string is empty until given one)."""
    _LAST_USED[0] += 1
    _USER_CLASS[_LAST_USED[0]] = _LAST_USED[0]
    return _LAST_USED[0]


def Add_error_code(errorclass: int) -> int:
    """A new error code of ``errorclass``."""
    _LAST_USED[0] += 1
    _USER_CLASS[_LAST_USED[0]] = int(errorclass)
    return _LAST_USED[0]


def Add_error_string(errorcode: int, string: str) -> None:
    """Give a user error class or code its string."""
    if int(errorcode) not in _USER_CLASS:
        raise Exception(C.ERR_ARG, f"Invalid argument: {errorcode} is not a user error code")
    _USER_STRING[int(errorcode)] = str(string)


def Get_error_class(errorcode: int) -> int:
    """The error class of ``errorcode`` (a predefined code is its own class)."""
    return _USER_CLASS.get(int(errorcode), int(errorcode))


def Get_error_string(errorcode: int) -> str:
    """The error string of an error code or class."""
    if int(errorcode) in _USER_CLASS:
        return _USER_STRING.get(int(errorcode), "")
    return C.ERROR_STRINGS.get(int(errorcode), f"MPI error {int(errorcode)}")


def _code(other: object) -> int:
    if isinstance(other, int):
        return other
    if isinstance(other, Exception):
        return other.ob_mpi
    raise TypeError(f"cannot compare MPI.Exception with {type(other).__name__}")


class Exception(builtins.RuntimeError):
    """An MPI error: ``error_code``, ``Get_error_class()``, ``Get_error_string()``."""

    def __init__(self, ierr: int = C.SUCCESS, detail: str | None = None) -> None:
        code = int(ierr)
        # as mpi4py: a code below SUCCESS is ERR_UNKNOWN
        self.ob_mpi = C.ERR_UNKNOWN if code < C.SUCCESS else code
        text = Get_error_string(ierr) if detail is None else detail
        super().__init__(text)

    @property
    def error_code(self) -> int:
        """Error code."""
        return self.ob_mpi

    @property
    def error_class(self) -> int:
        """Error class."""
        return Get_error_class(self.ob_mpi)

    @property
    def error_string(self) -> str:
        """Error string."""
        return Get_error_string(self.ob_mpi)

    def Get_error_code(self) -> int:
        """The error code of the failed call."""
        return self.ob_mpi

    def Get_error_class(self) -> int:
        """The error class of the failed call."""
        return self.error_class

    def Get_error_string(self) -> str:
        """The error string of the failed call."""
        return self.error_string

    def __int__(self) -> int:
        return self.ob_mpi

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Exception | int):
            return self.ob_mpi == int(other)
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    # ordered as their error codes, as mpi4py's
    def __lt__(self, other: object) -> bool:
        return bool(self.ob_mpi < _code(other))

    def __le__(self, other: object) -> bool:
        return bool(self.ob_mpi <= _code(other))

    def __gt__(self, other: object) -> bool:
        return bool(self.ob_mpi > _code(other))

    def __ge__(self, other: object) -> bool:
        return bool(self.ob_mpi >= _code(other))

    def __hash__(self) -> int:
        return hash(self.ob_mpi)

    def __repr__(self) -> str:
        return f"MPI.Exception({self.ob_mpi})"

    def __bool__(self) -> bool:
        return self.ob_mpi != C.SUCCESS
