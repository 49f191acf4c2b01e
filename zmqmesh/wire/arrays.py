"""ndarray and NumPy scalar <-> (meta, buffer): every dtype and layout edge case.

An array travels as meta ``(dtype, shape, fortran)`` in the header plus one
buffer frame holding its bytes. Sending never copies a C- or F-contiguous
array: a C-ordered array is sent as its own memory; an F-ordered one as the
memory of ``a.T`` (which is C-ordered) with ``fortran=True``, and is rebuilt
on receipt as an F-ordered view. Any other layout (``a[::2, ::3]``, ...) has
no single buffer to point at, so it is made C-contiguous: the one unavoidable
copy of the send path.

The dtype travels as ``dtype.str`` (which keeps the byte order, datetime unit
and string width), or as ``dtype.descr`` for structured dtypes. Object dtypes
(and structured dtypes with object fields, or with overlapping fields) are
not array-sendable: :class:`Unsendable` tells the codec to fall back to
pickle, when allowed.

Receiving never copies unless asked: the array is ``np.frombuffer`` over the
frame, read-only when the frame is (ZeroMQ frames are). Every meta value is
untrusted and validated; any defect raises :class:`DecodeError`.

The frame vouches for an array's shape: ``prod(shape) * itemsize`` must
equal its length. An empty frame vouches for nothing: with items of no bytes
(``|V0``, ``dtype([])``) or a zero dimension any shape fits it, and
``[2**62]`` (or ``[2**62, 0]``) would hand the receiver an array whose
``len`` no loop ends. So where the frame is empty, the product of the
non-zero dimensions is at most :data:`MAX_EMPTY_SPAN`, on both sides, and a
subarray field's base dtype must have bytes.
"""

from __future__ import annotations

import math
import re
from typing import Any, TypeAlias, cast

import numpy as np
import numpy.typing as npt

from ..errors import DecodeError
from .show import brief, describe

__all__ = [
    "ALLOWED_KINDS",
    "MAX_EMPTY_SPAN",
    "Unsendable",
    "WireDtype",
    "array_from_wire",
    "array_to_wire",
    "byte_view",
    "dtype_from_wire",
    "dtype_to_wire",
    "scalar_from_wire",
    "scalar_to_wire",
]

ALLOWED_KINDS = frozenset("biufcmMSUV")
"""dtype kinds whose values are plain bytes: everything but object ('O') and
variable-width kinds such as NumPy 2's StringDType ('T')."""

WireDtype: TypeAlias = str | list[Any]
"""A dtype on the wire: ``dtype.str``, or ``dtype.descr`` for structured ones."""

# The only dtype strings a sender produces (dtype.str): byte order, kind, width,
# optional datetime unit. Matching before np.dtype() keeps untrusted strings away
# from NumPy's lenient parser (comma lists, subarrays, deprecated aliases, 'O').
_DTYPE_STR = re.compile(r"[<>|=][biufcmMSUV][0-9]{1,10}(?:\[[0-9]{0,10}[A-Za-z]{1,3}\])?")
_DTYPE_CACHE: dict[str, np.dtype[Any]] = {}
_DTYPE_CACHE_MAX = 1024  # bounded: dtype strings come from the network
_MAX_DESCR_DEPTH = 16
# NumPy 2 allows 64 dimensions (NumPy 1: 32, which it enforces itself). Capping
# the count before multiplying keeps math.prod cheap: the product of n
# untrusted 64-bit dims costs O(n**2), seconds for a 300 KB header.
_MAX_NDIM = 64
_INTP_MAX = int(np.iinfo(np.intp).max)  # the most elements (and dims) NumPy indexes

MAX_EMPTY_SPAN = 2**20
"""The largest product of the non-zero dimensions of an array of no bytes
(zero itemsize or a zero dimension): as many elements as a 1 MiB frame of
1-byte items has. Such arrays hold no memory, but each element or row is
still a step for whoever iterates over them."""


def _span(shape: tuple[int, ...] | list[int]) -> int:
    return math.prod(d for d in shape if d)


class Unsendable(TypeError):
    """An array or scalar whose dtype cannot travel as raw bytes.

    ``detail`` names the dtype, for the codec's TypeError message.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def dtype_to_wire(dt: np.dtype[Any]) -> WireDtype:
    """Return the wire form of ``dt``; raise :class:`Unsendable` if it has none."""
    if dt.fields is None:
        if dt.kind not in ALLOWED_KINDS or dt.subdtype is not None:
            raise Unsendable(f"dtype {dt}")
        return dt.str
    if dt.hasobject:
        raise Unsendable(f"dtype {dt} (object fields)")
    if _empty_subarray(dt):
        raise Unsendable(f"dtype {dt} (a subarray of zero-itemsize items)")
    try:
        return dt.descr
    except ValueError:  # overlapping or out-of-order fields have no descr
        raise Unsendable(f"dtype {dt} (overlapping fields)") from None


def _empty_subarray(dt: np.dtype[Any]) -> bool:
    """Whether a field of ``dt``, at any depth, is a subarray of zero-itemsize items."""
    if dt.subdtype is not None:
        base = dt.subdtype[0]
        return base.itemsize == 0 or _empty_subarray(base)
    return dt.fields is not None and any(_empty_subarray(f[0]) for f in dt.fields.values())


def _dtype_from_str(s: str) -> np.dtype[Any]:
    dt = _DTYPE_CACHE.get(s)
    if dt is not None:
        return dt
    if not _DTYPE_STR.fullmatch(s):
        raise DecodeError(f"invalid dtype {s!r}")
    try:
        dt = np.dtype(s)
    except (TypeError, ValueError) as exc:
        raise DecodeError(f"invalid dtype {s!r}: {exc}") from None
    if dt.kind not in ALLOWED_KINDS or dt.fields is not None or dt.subdtype is not None:
        raise DecodeError(f"dtype {s!r} is not allowed")
    if len(_DTYPE_CACHE) < _DTYPE_CACHE_MAX:
        _DTYPE_CACHE[s] = dt
    return dt


def _dtype_from_descr(descr: object, depth: int) -> np.dtype[Any]:
    # A checked version of numpy.lib.format.descr_to_dtype: padding entries
    # ('', '|Vn') become gaps, so offsets and itemsize come out as sent.
    if type(descr) is str:
        return _dtype_from_str(descr)
    if type(descr) is not list or depth > _MAX_DESCR_DEPTH:
        raise DecodeError(f"invalid dtype description {brief(descr)}")
    names: list[str] = []
    formats: list[np.dtype[Any]] = []
    titles: list[str | None] = []
    offsets: list[int] = []
    offset = 0
    for field in descr:
        if type(field) is not tuple or len(field) not in (2, 3):
            raise DecodeError(f"invalid dtype field {brief(field)}")
        name, dt = field[0], _dtype_from_descr(field[1], depth + 1)
        if len(field) == 3:
            if dt.itemsize == 0:  # its count would be vouched for by no byte
                raise DecodeError(f"subarray field {brief(field)} of a zero-itemsize dtype")
            dt = np.dtype((dt, _shape(field[2], tuple, "subarray shape")))
        if not (name == "" and dt.type is np.void and dt.names is None):  # else padding
            title, name = name if type(name) is tuple and len(name) == 2 else (None, name)
            if type(name) is not str or (title is not None and type(title) is not str):
                raise DecodeError(f"invalid dtype field name {brief(field[0])}")
            names.append(name)
            titles.append(title)
            formats.append(dt)
            offsets.append(offset)
        offset += dt.itemsize
    return np.dtype(
        {
            "names": names,
            "formats": formats,
            "titles": titles,
            "offsets": offsets,
            "itemsize": offset,
        }
    )


def dtype_from_wire(wire: object) -> np.dtype[Any]:
    """Parse an untrusted wire dtype; raise :class:`DecodeError` unless it is a
    valid, allowed (never object) dtype."""
    if type(wire) is str:
        return _dtype_from_str(wire)
    try:
        return _dtype_from_descr(wire, 0)
    except DecodeError:
        raise
    except Exception as exc:  # NumPy rejects names, shapes, sizes in many ways
        raise DecodeError(f"invalid structured dtype {brief(wire)}: {describe(exc)}") from None


def _shape(shape: object, kind: type, what: str) -> tuple[int, ...]:
    if type(shape) is kind and isinstance(shape, (list, tuple)) and len(shape) <= _MAX_NDIM:
        dims = tuple(shape)
        if all(type(d) is int and 0 <= d <= _INTP_MAX for d in dims):
            return dims
    raise DecodeError(
        f"invalid {what} {brief(shape)}: expected at most {_MAX_NDIM} non-negative ints"
    )


def byte_view(a: npt.NDArray[Any]) -> bytes | memoryview:
    """A flat unsigned-byte view of the C-contiguous ``a`` (no copy)."""
    if a.nbytes == 0:
        return b""
    try:
        return a.data.cast("B")
    except (TypeError, ValueError, BufferError):
        # Some dtypes (datetime64, ...) cannot be exported through the buffer
        # protocol; a uint8 view of the same memory always can.
        return a.reshape(-1).view(np.uint8).data


def array_to_wire(a: npt.NDArray[Any]) -> tuple[WireDtype, list[int], bool, bytes | memoryview]:
    """Split ``a`` into ``(dtype, shape, fortran, buffer)``.

    ``buffer`` is a flat byte view of ``a``'s own memory when ``a`` is C- or
    F-contiguous, so the caller must not modify ``a`` until it is sent; any
    other layout is copied into a new C-contiguous array. Raises
    :class:`Unsendable` for dtypes that are not plain bytes.
    """
    wire = dtype_to_wire(a.dtype)
    if a.nbytes == 0 and _span(a.shape) > MAX_EMPTY_SPAN:
        raise Unsendable(
            f"dtype {a.dtype}, shape {a.shape}: an array of no bytes may span at most "
            f"{MAX_EMPTY_SPAN} elements"
        )
    flags = a.flags
    if flags.c_contiguous:
        return wire, list(a.shape), False, byte_view(a)
    if flags.f_contiguous:
        return wire, list(a.shape), True, byte_view(a.T)
    return wire, list(a.shape), False, byte_view(np.ascontiguousarray(a))


def array_from_wire(
    wire_dtype: object, shape: object, fortran: object, buffer: memoryview, *, copy: bool
) -> npt.NDArray[Any]:
    """Rebuild an array from untrusted meta and its buffer frame.

    Without ``copy`` the result is a view of ``buffer`` (read-only if the buffer
    is). With ``copy`` it is a writable array owning its memory, in the same
    memory order. Raises :class:`DecodeError` when the dtype is invalid, the
    shape is not a list of non-negative ints, the buffer length is not
    exactly ``prod(shape) * itemsize``, or it is empty and the product of
    the non-zero dims exceeds :data:`MAX_EMPTY_SPAN`.
    """
    dt = dtype_from_wire(wire_dtype)
    if dt.itemsize == 0 and dt.kind in "SU":
        # No array has these (NumPy makes them width 1), so no sender sends
        # them; and np.empty(shape, "S0") would allocate prod(shape) bytes.
        raise DecodeError(f"dtype {dt.str!r} is not an array dtype")
    dims = _shape(shape, list, "array shape")
    if type(fortran) is not bool:
        raise DecodeError(f"invalid array order flag {brief(fortran)}")
    count = math.prod(dims)  # Python ints: cannot overflow
    expected = count * dt.itemsize
    if buffer.nbytes != expected:
        raise DecodeError(
            f"array of dtype {dt} and shape {brief(dims)} needs {expected} bytes, "
            f"its frame has {buffer.nbytes}"
        )
    if expected == 0 and _span(dims) > MAX_EMPTY_SPAN:  # an empty frame vouches for nothing
        raise DecodeError(
            f"array of dtype {dt} and shape {brief(dims)} holds no bytes yet spans "
            f"{brief(_span(dims))} elements: at most {MAX_EMPTY_SPAN} are allowed"
        )
    try:
        if expected == 0:  # nothing to share; frombuffer rejects empty items
            return np.empty(dims, dt, order="F" if fortran else "C")
        flat = np.frombuffer(buffer, dt)
        arr = flat.reshape(dims[::-1]).T if fortran else flat.reshape(dims)
    except (TypeError, ValueError) as exc:  # e.g. more dimensions than NumPy allows
        raise DecodeError(f"cannot build array of dtype {dt} and shape {dims}: {exc}") from None
    return arr.copy(order="K") if copy else arr


def scalar_to_wire(s: np.generic) -> tuple[WireDtype, bytes]:
    """Return ``(dtype, raw bytes)`` of a NumPy scalar, or raise :class:`Unsendable`."""
    dt, raw = s.dtype, s.tobytes()
    if dt.itemsize != len(raw):
        # np.bytes_(b"") and np.str_("") claim itemsize 0 yet hold one
        # (null) character; a width-1 dtype reads back as the same empty scalar.
        dt = np.dtype((dt.type, len(raw) // (4 if dt.kind == "U" else 1)))
    return dtype_to_wire(dt), raw


def scalar_from_wire(wire_dtype: object, raw: object) -> np.generic:
    """Rebuild a NumPy scalar of exactly the sent type; :class:`DecodeError` if invalid."""
    dt = dtype_from_wire(wire_dtype)
    if type(raw) is not bytes or len(raw) != dt.itemsize:
        raise DecodeError(f"scalar of dtype {dt} needs {dt.itemsize} bytes, got {brief(raw, 60)}")
    if not raw:
        return cast(np.generic, np.zeros(1, dt)[0])
    return cast(np.generic, np.frombuffer(raw, dt)[0])
