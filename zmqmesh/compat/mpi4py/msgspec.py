"""Message specifications, read as mpi4py reads them.

A buffer argument of mpi4py's upper-case calls is one of

- ``buf``: any object with the buffer protocol (bytearray, array.array,
  memoryview, NumPy arrays), ``__dlpack__``, ``__cuda_array_interface__``
  (memory taken as host memory) or ``__array_interface__``; its datatype
  comes from its format (``'d'`` is ``DOUBLE``, ``'B'`` is ``BYTE``) and
  its count from its length;
- ``[buf, datatype]``, ``[buf, count, datatype]``,
  ``[buf, (count, displ), datatype]``, ``[buf, count, displ, datatype]``
  (``displ`` in extents of the datatype) and, for the v-variants,
  ``[buf, counts, displs, datatype]``, ``[buf, (counts, displs), datatype]``
  (``counts`` one int for every block, or a sequence; ``displs`` None for
  packed blocks, an int stride, or a sequence);
- a datatype is a ``Datatype`` or a type code string (``'d'``, ``'i4'``);
- ``None`` with an explicit datatype and count 0, or ``BOTTOM`` with a
  datatype whose displacements are absolute addresses (``Get_address``).

Parsing is pure: the result holds a 1-D ``uint8`` view of the buffer's
memory. Memory that is not contiguous is refused with ``BufferError``,
as mpi4py refuses it.
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from zmqmesh.compat.mpi4py import typemap as T
from zmqmesh.compat.mpi4py.datatypes import PREDEFINED, Datatype, typedict
from zmqmesh.compat.mpi4py.foreign import as_bytes, at_address
from zmqmesh.compat.mpi4py.handles import is_bottom
from zmqmesh.compat.mpi4py.membuf import buffer

__all__ = [
    "Message",
    "Plain",
    "VMessage",
    "absolute",
    "as_bytes",
    "as_datatype",
    "parse",
    "parse_counted",
    "parse_plain",
    "parse_vector",
]

Bytes = npt.NDArray[np.uint8]
_BYTE = PREDEFINED["BYTE"]


def as_datatype(obj: Any) -> Datatype:
    """A ``Datatype`` or a type code string, as a ``Datatype``."""
    if isinstance(obj, Datatype):
        return obj
    try:
        return typedict[obj]
    except (KeyError, TypeError):
        raise KeyError(f"cannot map {obj!r} to MPI datatype") from None


def _is_datatype(obj: Any) -> bool:
    return isinstance(obj, Datatype | str)


def _datatype_of_format(fmt: str) -> Datatype:
    if fmt == "B":
        return _BYTE
    native = "<" if sys.byteorder == "little" else ">"
    if fmt[:1] in ("@", "=", native):
        fmt = fmt[1:]
    elif fmt[:1] in ("<", ">", "!"):
        raise BufferError(f"format string {fmt!r} with non-native byte order")
    return as_datatype(fmt)


@dataclass(frozen=True, slots=True)
class Message:
    """One buffer argument: ``count`` elements of ``datatype`` from byte
    ``offset`` of ``mem``."""

    mem: Bytes
    datatype: Datatype
    count: int
    offset: int = 0
    stand_in_for: npt.NDArray[Any] | None = None

    @property
    def nbytes(self) -> int:
        """Bytes of data the message carries."""
        return self.count * self.datatype.Get_size()

    def plan(self, count: int | None = None, offset: int | None = None) -> T.Plan:
        return T.plan(
            self.datatype.typemap,
            self.count if count is None else count,
            self.offset if offset is None else offset,
        )

    def pack(self) -> Bytes:
        """The packed bytes (a view when they lie contiguously)."""
        return T.pack(self.mem, self.plan())

    def unpack(self, data: Bytes, count: int | None = None, offset: int | None = None) -> None:
        """Write packed ``data`` into the buffer (elements ``offset``... bytes)."""
        T.unpack(self.mem, self.plan(count, offset), data)
        self.write_back()

    def write_back(self) -> None:
        if self.stand_in_for is not None:
            src = self.mem.view(self.stand_in_for.dtype).reshape(self.stand_in_for.shape)
            np.copyto(self.stand_in_for, src)

    def typed(self) -> npt.NDArray[Any]:
        """The packed data as an array of the datatype's one base dtype
        (what reductions need); raises for a mixed type."""
        base = self.datatype.typemap.base
        if base is None and self.nbytes:
            raise TypeError("reductions need a datatype with one base type")
        return self.pack().view(base if base is not None else np.uint8)


def _split(msg: Any) -> tuple[Any, Any, Any, Any]:
    """``(buf, count, displ, datatype)`` of a specification, Nones for
    what it leaves out."""
    if isinstance(msg, list | tuple):
        if len(msg) == 2:
            buf, second = msg
            if _is_datatype(second):
                return buf, None, None, second
            if isinstance(second, list | tuple):
                return buf, second[0], second[1], None
            return buf, second, None, None
        if len(msg) == 3:
            buf, count, dt = msg
            if isinstance(count, list | tuple) and len(count) == 2:
                return buf, count[0], count[1], dt
            return buf, count, None, dt
        if len(msg) == 4:
            buf, count, displ, dt = msg
            return buf, count, displ, dt
        raise ValueError("message: expecting 2 to 4 items")
    return msg, None, None, None


def _base(buf: Any, dt: Any, writable: bool) -> tuple[Bytes, Datatype, npt.NDArray[Any] | None]:
    if is_bottom(buf):
        if dt is None:
            return np.zeros(0, np.uint8), _BYTE, None
        return np.zeros(0, np.uint8), as_datatype(dt), None
    mem, fmt, stand_in = as_bytes(buf, writable)
    datatype = as_datatype(dt) if dt is not None else _datatype_of_format(fmt)
    if stand_in is not None and not datatype.is_named:
        # a derived type addresses the array's memory, which a copy is not
        raise ValueError("message: a derived datatype needs a contiguous buffer")
    return mem, datatype, stand_in


class Plain:
    """A whole C-contiguous NumPy array of a predefined type in native byte
    order, given with no datatype: the commonest buffer argument. Its bytes
    travel as they lie, as :func:`parse` would move them, without building
    a typemap plan (which cost as much as the rest of an 8-byte Send)."""

    __slots__ = ("mem",)

    def __init__(self, mem: Bytes) -> None:
        self.mem = mem

    def pack(self) -> Bytes:
        """The array's bytes (a view)."""
        return self.mem

    def unpack(self, data: Bytes) -> None:
        """Write ``data`` into the first bytes; raises ``ValueError`` when
        it is longer than the array."""
        n = data.size
        if n > self.mem.size:
            raise ValueError(f"message truncated: {n} bytes into a {self.mem.size}-byte receive")
        if n >= 4096 and data.ctypes.data == self.mem.ctypes.data:
            return  # read into place already (rndv.py)
        self.mem[:n] = data


def parse_plain(buf: Any, *, writable: bool) -> Plain | None:
    """``buf`` as a :class:`Plain` when it is one, else None (use ``parse``)."""
    if type(buf) is not np.ndarray:
        return None
    arr: npt.NDArray[Any] = buf
    flags = arr.flags
    if not flags.c_contiguous or (writable and not flags.writeable):
        return None
    dt = arr.dtype
    char = dt.char
    if not dt.isnative or char not in typedict or dt.fields is not None:
        return None
    return Plain(arr if char == "B" and arr.ndim == 1 else arr.reshape(-1).view(np.uint8))


def parse_counted(msg: Any, *, writable: bool) -> Plain | None:
    """``[buf, count, datatype]`` as a :class:`Plain` of its first bytes,
    when ``datatype``'s elements lie back to back from byte 0
    (``typemap.flat``) and ``buf`` holds them all: mpi4py's benchmarks
    give ``[buf, size, MPI.BYTE]``. None for any other form (use ``parse``,
    which also says what is wrong with a bad one)."""
    if (type(msg) is not list and type(msg) is not tuple) or len(msg) != 3:
        return None
    buf, count, dt = msg
    if type(count) is not int or count < 0 or not isinstance(dt, Datatype) or buf is None:
        return None
    size = T.flat(dt.typemap)
    if size is None or is_bottom(buf):
        return None
    mem, _, stand_in = as_bytes(buf, writable)
    n = count * size
    if stand_in is not None or n > mem.size:
        return None
    return Plain(mem[:n])


def _extent(datatype: Datatype, what: str) -> int:
    if not datatype:
        raise ValueError(f"message: cannot {what}, datatype is null")
    lb, ext = datatype.Get_extent()
    if ext <= 0:
        raise ValueError(f"message: cannot {what}, datatype extent {ext} (lb:{lb}, ub:{lb + ext})")
    return ext


def absolute(datatype: Datatype, count: int, disp: int, writable: bool) -> Message:
    """``count`` elements of ``datatype`` whose displacements (plus
    ``disp``) are absolute addresses, as with ``MPI.BOTTOM``: the message
    spans the memory from the lowest byte the type touches to the highest."""
    p = T.plan(datatype.typemap, count, disp)
    if p.nbytes == 0:
        return Message(np.zeros(0, np.uint8), datatype, 0)
    mem = at_address(p.low, p.high - p.low, readonly=not writable)
    return Message(mem, datatype, count, disp - p.low)


def parse(msg: Any, *, writable: bool, blocks: int = 1) -> Message:
    """Read one buffer specification. ``blocks`` > 1 (a collective's
    per-rank buffer) makes an inferred count the count of one block."""
    buf, count, displ, dt = _split(msg)
    mem, datatype, stand_in = _base(buf, dt, writable)
    offset, length = 0, mem.size
    if displ is not None and operator.index(displ) != 0:
        d = operator.index(displ)
        if d < 0:
            raise ValueError(f"message: negative displacement {d}")
        ext = _extent(datatype, "handle displacement")
        if d * ext > length:
            raise ValueError(
                f"message: displacement {d} out of bounds, "
                f"number of datatype entries {length // ext}"
            )
        offset, length = d * ext, length - d * ext
    if count is not None:
        n = operator.index(count)  # TypeError for a float, as mpi4py
        if n < 0:
            raise ValueError(f"message: negative count {n}")
        if n > 0 and buf is None:
            raise ValueError(f"message: buffer is None but count is {n}")
        if n > 0 and is_bottom(buf):
            return absolute(datatype, n, 0, writable)
    elif length > 0:
        ext = _extent(datatype, "infer count")
        if length % ext:
            raise ValueError(
                f"message: cannot infer count, buffer length {length} is not a multiple "
                f"of datatype extent {ext}"
            )
        n = length // ext
        if blocks > 1:
            if n % blocks:
                raise ValueError(
                    f"message: cannot infer count, number of entries {n} is not a multiple "
                    f"of required number of blocks {blocks}"
                )
            n //= blocks
    else:
        n = 0
    return Message(mem, datatype, n, offset, stand_in)


@dataclass(frozen=True, slots=True)
class VMessage:
    """A v-variant buffer: block ``i`` is ``counts[i]`` elements at
    ``displs[i]`` extents from the buffer's start."""

    mem: Bytes
    datatype: Datatype
    counts: tuple[int, ...]
    displs: tuple[int, ...]
    stand_in_for: npt.NDArray[Any] | None = None

    def block(self, i: int) -> Message:
        ext = self.datatype.Get_extent()[1]
        return Message(self.mem, self.datatype, self.counts[i], self.displs[i] * ext)

    def pack(self, i: int) -> Bytes:
        return self.block(i).pack()

    def unpack(self, i: int, data: Bytes) -> None:
        self.block(i).unpack(data)

    def write_back(self) -> None:
        Message(self.mem, self.datatype, 0, 0, self.stand_in_for).write_back()


def _per_block(value: Any, blocks: int, what: str) -> tuple[int, ...]:
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, Sequence | np.ndarray) and not isinstance(value, str):
        out = tuple(operator.index(v) for v in value)
        if len(out) != blocks:
            raise ValueError(f"message: expecting {blocks} {what}, got {len(out)}")
        return out
    return (operator.index(value),) * blocks


def parse_vector(msg: Any, *, writable: bool, blocks: int) -> VMessage:
    """Read a v-variant buffer specification for ``blocks`` ranks."""
    counts: Any = None
    displs: Any = None
    dt: Any = None
    if isinstance(msg, list | tuple):
        if len(msg) == 2:
            buf, second = msg
            if _is_datatype(second):
                dt = second
            elif isinstance(second, tuple):
                counts, displs = second
            else:
                counts = second
        elif len(msg) == 3:
            buf, counts, dt = msg
            if isinstance(counts, tuple):
                counts, displs = counts
        elif len(msg) == 4:
            buf, counts, displs, dt = msg
        else:
            raise ValueError("message: expecting 2 to 4 items")
    else:
        buf = msg
    mem, datatype, stand_in = _base(buf, dt, writable)
    if counts is None:
        total = 0
        if mem.size:
            ext = _extent(datatype, "infer count")
            if mem.size % ext:
                raise ValueError(
                    f"message: cannot infer count, buffer length {mem.size} is not a "
                    f"multiple of datatype extent {ext}"
                )
            total = mem.size // ext
        cnt = tuple(total // blocks + (total % blocks > i) for i in range(blocks))
    else:
        cnt = _per_block(counts, blocks, "counts")
    if displs is None:
        dsp = tuple(int(x) for x in np.concatenate(([0], np.cumsum(cnt)[:-1]))[:blocks])
    elif isinstance(displs, Sequence | np.ndarray):
        dsp = _per_block(displs, blocks, "displacements")
    else:
        dsp = tuple(operator.index(displs) * i for i in range(blocks))
    if any(c < 0 for c in cnt):
        raise ValueError("message: negative count")
    if is_bottom(buf) and any(cnt):
        raise NotImplementedError(
            "message: absolute addresses (a None or MPI.BOTTOM buffer with counts) "
            "are not supported by zmqmesh's mpi4py layer"
        )
    return VMessage(mem, datatype, cnt, dsp, stand_in)


def Get_address(location: Any) -> int:
    """The address of a buffer's memory (``MPI_Get_address``), as an int;
    raises as a message buffer would for an object that is not one."""
    if is_bottom(location):
        return 0
    if isinstance(location, buffer):  # (the empty one of no memory is at 0, as in mpi4py)
        return location.address
    mem = as_bytes(location, False)[0]
    return int(mem.__array_interface__["data"][0])
