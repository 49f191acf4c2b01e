"""``Status``: what a point-to-point call reports of a message (where it
came from, its tag, how big it is), in MPICH's ``MPI_Status`` layout."""

from __future__ import annotations

from array import array
from typing import Any

from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import typemap as T
from zmqmesh.compat.mpi4py.datatypes import PREDEFINED, Datatype
from zmqmesh.compat.mpi4py.msgspec import as_datatype

__all__ = ["Status"]

_BYTE = PREDEFINED["BYTE"]
_FRESH = array("i", [0, 0, C.ANY_SOURCE, C.ANY_TAG, C.SUCCESS])  # an empty status


class Status:
    """Where a message came from and how big it is (``count`` in bytes)."""

    # The fields live in MPICH's MPI_Status layout (count's low word, its
    # high bits and the cancel flag, source, tag, error), so ``tomemory``
    # can give the memory itself, as mpi4py does. An ``array`` of C ints
    # rather than a NumPy array: a field is read or written in a tenth of
    # the time, and every request's completion makes and fills statuses.
    __slots__ = ("__weakref__", "_m")
    __hash__ = None  # type: ignore[assignment]
    _m: array[int]

    def __new__(cls, *args: Any, **kwargs: Any) -> Status:
        obj = super().__new__(cls)
        obj._m = array("i", _FRESH)
        return obj

    @property
    def source(self) -> int:
        """Message source."""
        return int(self._m[2])

    @source.setter
    def source(self, value: int) -> None:
        self._m[2] = int(value)

    @property
    def tag(self) -> int:
        """Message tag."""
        return int(self._m[3])

    @tag.setter
    def tag(self, value: int) -> None:
        self._m[3] = int(value)

    @property
    def error(self) -> int:
        """Message error."""
        return int(self._m[4])

    @error.setter
    def error(self, value: int) -> None:
        self._m[4] = int(value)

    @property
    def count(self) -> int:
        """Byte count."""
        m = self._m
        return ((m[1] >> 1) << 32) | (m[0] & 0xFFFFFFFF)

    @count.setter
    def count(self, value: int) -> None:
        v = int(value)
        low = v & 0xFFFFFFFF
        m = self._m
        m[0] = low - (1 << 32) if low >> 31 else low  # the low word, as a C int
        m[1] = ((v >> 32) << 1) | (m[1] & 1)

    @property
    def cancelled(self) -> bool:
        """Cancelled state."""
        return bool(self._m[1] & 1)

    @cancelled.setter
    def cancelled(self, flag: bool) -> None:
        self._m[1] = (self._m[1] & ~1) | int(bool(flag))

    def tomemory(self) -> memoryview:
        """The status's own memory, as C ints (writing them changes it)."""
        return memoryview(self._m)

    def __getstate__(self) -> tuple[int, int, int, int, bool]:
        return self.source, self.tag, self.error, self.count, self.cancelled

    def __setstate__(self, state: tuple[int, int, int, int, bool]) -> None:
        self.source, self.tag, self.error, self.count, self.cancelled = state

    def __reduce__(self) -> tuple[type[Status], tuple[()], tuple[int, int, int, int, bool]]:
        # through the class, so every pickle protocol (0 and 1 too) makes _m
        return type(self), (), self.__getstate__()

    def __init__(self, status: Status | None = None) -> None:
        if status is None:
            self._m[:] = _FRESH
        elif isinstance(status, Status):
            self._m[:] = status._m
        else:
            raise TypeError(f"expected Status, got {type(status).__name__}")

    def _copy(self, other: Status) -> None:
        self._m[:] = other._m

    def _fill(self, source: int | None, tag: int, nbytes: int) -> None:
        m = self._m
        m[2] = C.PROC_NULL if source is None else source
        m[3] = tag
        m[4] = C.SUCCESS
        self.count = nbytes

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Status):
            return NotImplemented
        mine = (self.source, self.tag, self.error, self.count, self.cancelled)
        return mine == (other.source, other.tag, other.error, other.count, other.cancelled)

    def __repr__(self) -> str:
        return f"Status(source={self.source}, tag={self.tag}, count={self.count})"

    def Get_source(self) -> int:
        """The source of the message."""
        return self.source

    def Set_source(self, source: int) -> None:
        """Set the source."""
        self.source = int(source)

    def Get_tag(self) -> int:
        """The tag of the message."""
        return self.tag

    def Set_tag(self, tag: int) -> None:
        """Set the tag."""
        self.tag = int(tag)

    def Get_error(self) -> int:
        """The error code of the operation."""
        return self.error

    def Set_error(self, error: int) -> None:
        """Set the error code."""
        self.error = int(error)

    def Get_count(self, datatype: Datatype | str = _BYTE) -> int:
        """Whole elements of ``datatype`` received; ``UNDEFINED`` when the
        bytes are not a whole number of them."""
        size = as_datatype(datatype).Get_size()
        if size == 0:
            return 0
        n, rest = divmod(self.count, size)
        return C.UNDEFINED if rest else n

    def Get_elements(self, datatype: Datatype | str) -> int:
        """Basic elements of ``datatype``'s typemap received (``UNDEFINED``
        when the bytes end inside one)."""
        got = T.elements_in(as_datatype(datatype).typemap, self.count)
        return C.UNDEFINED if got is None else got

    def Set_elements(self, datatype: Datatype | str, count: int) -> None:
        """Make the status say ``count`` basic elements of ``datatype``."""
        tm = as_datatype(datatype).typemap
        per = tm.kinds.size
        if per == 0:
            self.count = 0
            return
        whole, part = divmod(int(count), per)
        sizes = [T.BASES[int(k)].itemsize for k in tm.kinds[:part]]
        self.count = whole * tm.size + sum(sizes)

    def Is_cancelled(self) -> bool:
        """Whether the operation was cancelled."""
        return self.cancelled

    def Set_cancelled(self, flag: bool) -> None:
        """Set whether the operation was cancelled."""
        self.cancelled = bool(flag)

    def py2f(self) -> list[int]:
        """The Fortran status, MPICH's layout: the count's low and high
        words (the cancel flag in the high word's low bit), then
        ``F_SOURCE``, ``F_TAG``, ``F_ERROR``."""
        count = max(int(self.count), 0)
        low, high = count & 0x7FFFFFFF, count >> 31
        return [low, (high << 1) | int(self.cancelled), self.source, self.tag, self.error]

    @classmethod
    def f2py(cls, arg: list[int]) -> Status:
        """The status of a Fortran status array (as ``py2f`` lays it out)."""
        st = cls()
        low, high, st.source, st.tag, st.error = (int(v) for v in arg[: C.F_STATUS_SIZE])
        st.count, st.cancelled = low | ((high >> 1) << 31), bool(high & 1)
        return st
