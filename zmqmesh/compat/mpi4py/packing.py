"""``Pack``, ``Unpack`` and their ``external32`` forms, mixed into ``Datatype``.

Packing moves elements of a datatype between a buffer's layout and a
contiguous run of bytes (the typemap's plan, as a message does). The
``"external32"`` representation is the same bytes in big-endian order,
each basic element at its native size (what a program that packs and
unpacks with this layer sees; other MPI libraries' external32 sizes of
``long`` and ``long double`` may differ).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import typemap as T
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.foreign import as_bytes

__all__ = ["PackCalls"]


def _raw(obj: Any, writable: bool) -> npt.NDArray[np.uint8]:
    """The bytes of a contiguous buffer object (any kind a message takes)."""
    return as_bytes(obj, writable)[0]


def _external(datarep: str) -> None:
    if datarep != "external32":
        raise MPIException(C.ERR_UNSUPPORTED_DATAREP, f"Unsupported data representation {datarep}")


class PackCalls:
    """Needs ``_t.tm``, the datatype's typemap."""

    __slots__ = ()
    _t: Any  # the datatype's _Type (``tm``: its typemap)

    def _tm(self) -> T.Typemap:
        tm: T.Typemap = self._t.tm
        return tm

    def Pack_size(self, count: int, comm: Any = None) -> int:
        """Upper bound of the bytes ``Pack`` writes for ``count`` elements."""
        return int(count) * self._tm().size

    def Pack(self, inbuf: Any, outbuf: Any, position: int, comm: Any = None) -> int:
        """Pack as many elements of this type as ``inbuf`` holds (its length
        over the extent) into ``outbuf`` at byte ``position``; the new position."""
        src, dst = _raw(inbuf, False), _raw(outbuf, True)
        tm = self._tm()
        count = src.size // tm.extent if tm.extent > 0 else 0
        data = T.pack(src, T.plan(tm, count))
        end = int(position) + data.size
        if end > dst.size:
            raise MPIException(C.ERR_TRUNCATE, "Message truncated (outbuf too small)")
        dst[int(position) : end] = data
        return end

    def Unpack(self, inbuf: Any, position: int, outbuf: Any, comm: Any = None) -> int:
        """Unpack elements of this type from ``inbuf`` at byte ``position``
        into ``outbuf`` (as many as it holds); the new position."""
        src, dst = _raw(inbuf, False), _raw(outbuf, True)
        tm = self._tm()
        count = dst.size // tm.extent if tm.extent > 0 else 0
        end = int(position) + count * tm.size
        if end > src.size:
            raise MPIException(C.ERR_TRUNCATE, "Message truncated (inbuf too short)")
        T.unpack(dst, T.plan(tm, count), src[int(position) : end])
        return end

    def Pack_external_size(self, datarep: str, count: int) -> int:
        """Bytes ``Pack_external`` writes for ``count`` elements."""
        _external(datarep)
        return int(count) * self._tm().size

    def Pack_external(self, datarep: str, inbuf: Any, outbuf: Any, position: int) -> int:
        """``Pack`` in the ``"external32"`` representation (big-endian)."""
        _external(datarep)
        src, dst = _raw(inbuf, False), _raw(outbuf, True)
        tm = self._tm()
        count = src.size // tm.extent if tm.extent > 0 else 0
        data = T.external32(tm, T.pack(src, T.plan(tm, count)))
        end = int(position) + data.size
        if end > dst.size:
            raise MPIException(C.ERR_TRUNCATE, "Message truncated (outbuf too small)")
        dst[int(position) : end] = data
        return end

    def Unpack_external(self, datarep: str, inbuf: Any, position: int, outbuf: Any) -> int:
        """``Unpack`` from the ``"external32"`` representation."""
        _external(datarep)
        src, dst = _raw(inbuf, False), _raw(outbuf, True)
        tm = self._tm()
        count = dst.size // tm.extent if tm.extent > 0 else 0
        end = int(position) + count * tm.size
        if end > src.size:
            raise MPIException(C.ERR_TRUNCATE, "Message truncated (inbuf too short)")
        data = T.external32(tm, src[int(position) : end], back=True)
        T.unpack(dst, T.plan(tm, count), data)
        return end
