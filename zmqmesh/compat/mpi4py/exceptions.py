"""``MPI.Exception``: an MPI error class, as mpi4py raises it."""

from __future__ import annotations

import builtins

from zmqmesh.compat.mpi4py import constants as C

__all__ = ["Exception", "Get_error_class", "Get_error_string"]


def Get_error_class(errorcode: int) -> int:
    """The error class of ``errorcode`` (every code is its own class here)."""
    return int(errorcode)


def Get_error_string(errorcode: int) -> str:
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
        return self.ob_mpi

    @property
    def error_class(self) -> int:
        return Get_error_class(self.ob_mpi)

    @property
    def error_string(self) -> str:
        return Get_error_string(self.ob_mpi)

    def Get_error_code(self) -> int:
        return self.ob_mpi

    def Get_error_class(self) -> int:
        return self.error_class

    def Get_error_string(self) -> str:
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
