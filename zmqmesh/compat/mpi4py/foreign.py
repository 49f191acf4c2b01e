"""Buffers that speak DLPack or the CUDA array interface, read as mpi4py
reads them.

mpi4py takes such an object's memory by address: for DLPack it asks for a
capsule (``__dlpack__(max_version=(1, 0), copy=False)``, falling back to
``__dlpack__()`` for exporters of DLPack 0.x; ``stream=-1`` for a device
other than the host), reads the ``DLTensor`` in it and keeps the capsule
alive while the memory is in use, without consuming it; for
``__cuda_array_interface__`` it reads the dictionary's ``data``,
``typestr``, ``shape``, ``strides`` and ``mask``. Both refuse
non-contiguous memory with ``BufferError``; unknown element types are
bytes. The memory is taken as host memory (there is no device path).

Each reader returns a 1-D ``uint8`` array over the memory, whose base keeps
the exporter (and its capsule) alive, the buffer format mpi4py would give
it, and whether it is read-only. Errors are those of mpi4py, so programs
that test for them see the same types.
"""

from __future__ import annotations

import ctypes
import sys
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["as_bytes", "at_address", "from_cai", "from_dlpack"]

Bytes = npt.NDArray[np.uint8]

_CPU = 1
_READ_ONLY = 1  # DLPACK_FLAG_BITMASK_READ_ONLY
_KINT, _KUINT, _KFLOAT, _KBOOL, _KCOMPLEX = 0, 1, 2, 6, 5


class _Device(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _Tensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", _Device),
        ("ndim", ctypes.c_int32),
        ("dtype", _DType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


class _Managed0(ctypes.Structure):
    _fields_ = [
        ("dl_tensor", _Tensor),
        ("manager_ctx", ctypes.c_void_p),
        ("deleter", ctypes.c_void_p),
    ]


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class _Managed1(ctypes.Structure):
    _fields_ = [
        ("version", _Version),
        ("manager_ctx", ctypes.c_void_p),
        ("deleter", ctypes.c_void_p),
        ("flags", ctypes.c_uint64),
        ("dl_tensor", _Tensor),
    ]


_is_valid = ctypes.pythonapi.PyCapsule_IsValid
_is_valid.restype = ctypes.c_int
_is_valid.argtypes = [ctypes.py_object, ctypes.c_char_p]
_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_get_pointer.restype = ctypes.c_void_p
_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


class _Memory:
    """``__array_interface__`` over foreign memory; as a NumPy array's base
    it keeps ``owner`` (the exporter, its capsule) alive."""

    __slots__ = ("__array_interface__", "owner")

    def __init__(self, address: int, nbytes: int, readonly: bool, owner: Any) -> None:
        self.owner = owner
        self.__array_interface__ = {
            "data": (address, readonly),
            "shape": (nbytes,),
            "typestr": "|u1",
            "version": 3,
        }


def _memory(address: int, nbytes: int, readonly: bool, owner: Any) -> Bytes:
    if nbytes == 0:
        out = np.zeros(0, np.uint8)
        out.flags.writeable = not readonly
        return out
    arr: Bytes = np.asarray(_Memory(address, nbytes, readonly, owner))
    return arr


def at_address(address: int, nbytes: int, readonly: bool) -> Bytes:
    """``nbytes`` of this process's memory from ``address`` (what MPI's
    absolute addresses, ``BOTTOM`` plus ``Get_address``, point at)."""
    if nbytes and address <= 0:
        raise ValueError(f"message: absolute address {address} is not one of this process")
    return _memory(address, nbytes, readonly, None)


def _contiguous(shape: list[int], strides: list[int] | None, itemsize: int, order: str) -> bool:
    if strides is None:
        return True
    idx = range(len(shape)) if order == "F" else range(len(shape) - 1, -1, -1)
    size = itemsize
    for i in idx:
        if shape[i] > 1 and strides[i] != size:
            return False
        size *= shape[i]
    return True


_SIZES = {
    "i": {1: "b", 2: "h", 4: "i", 8: "l"},
    "u": {1: "B", 2: "H", 4: "I", 8: "L"},
    "f": {2: "e", 4: "f", 8: "d", 16: "g"},
    "c": {4: "Ze", 8: "Zf", 16: "Zd", 32: "Zg"},
    "b": {1: "?"},
}


def _format(kind: str, itemsize: int) -> str:
    return _SIZES.get(kind, {}).get(itemsize, "B")


def from_dlpack(obj: Any) -> tuple[Bytes, str]:
    """The memory of a DLPack exporter; raises ``BufferError`` for a bad or
    non-contiguous tensor, ``TypeError``/``ValueError`` for a bad device."""
    dlpack = obj.__dlpack__
    device_type, _device_id = obj.__dlpack_device__()
    device_type = int(device_type)
    if not isinstance(_device_id, int):
        raise TypeError("dlpack: device id must be an integer")
    major, name = 1, b"dltensor_versioned"
    try:
        if device_type == _CPU:
            capsule = dlpack(max_version=(1, 0), copy=False)
        else:
            capsule = dlpack(stream=-1, max_version=(1, 0), copy=False)
    except TypeError:
        major, name = 0, b"dltensor"
        capsule = dlpack() if device_type == _CPU else dlpack(stream=-1)
    if capsule is None or not _is_valid(capsule, name):
        raise BufferError("dlpack: invalid capsule object")
    pointer = _get_pointer(capsule, name)
    readonly = False
    if major >= 1:
        managed1 = _Managed1.from_address(pointer)
        if managed1.version.major < major:
            raise BufferError("dlpack: unexpected version")
        tensor = managed1.dl_tensor
        readonly = bool(managed1.flags & _READ_ONLY)
    else:
        tensor = _Managed0.from_address(pointer).dl_tensor
    ndim = tensor.ndim
    if ndim < 0:
        raise BufferError("dlpack: number of dimensions is negative")
    if ndim > 0 and not tensor.shape:
        raise BufferError("dlpack: shape is NULL")
    shape = [int(tensor.shape[i]) for i in range(ndim)]
    if any(s < 0 for s in shape):
        raise BufferError("dlpack: shape item is negative")
    strides = [int(tensor.strides[i]) for i in range(ndim)] if tensor.strides else None
    if strides is not None and any(s < 0 for s in strides):
        raise BufferError("dlpack: strides item is negative")
    if not (_contiguous(shape, strides, 1, "C") or _contiguous(shape, strides, 1, "F")):
        raise BufferError("dlpack: buffer is not contiguous")
    bits, lanes, code = int(tensor.dtype.bits), int(tensor.dtype.lanes), int(tensor.dtype.code)
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    nbytes = count * ((bits * lanes + 7) // 8)
    fmt = "B"
    if lanes == 2 and code == _KFLOAT:
        fmt = _format("c", bits // 4)
    elif lanes == 1:
        kind = {_KINT: "i", _KUINT: "u", _KFLOAT: "f", _KCOMPLEX: "c", _KBOOL: "b"}.get(code, "")
        fmt = _format(kind, bits // 8) if bits % 8 == 0 else "B"
    address = int(tensor.data or 0) + int(tensor.byte_offset)
    return _memory(address, nbytes, readonly, (obj, capsule)), fmt


def _typed(value: Any, kind: type, what: str) -> Any:
    if value is not None and not isinstance(value, kind):
        raise TypeError(f"__cuda_array_interface__: {what} must be {kind.__name__}")
    return value


def from_cai(obj: Any) -> tuple[Bytes, str]:
    """The memory of a ``__cuda_array_interface__`` exporter; raises as
    mpi4py does (``KeyError`` for a missing key, ``TypeError`` for a wrong
    type, ``BufferError`` for a mask, bad strides or byte order)."""
    cai = _typed(obj.__cuda_array_interface__, dict, "the interface")
    if cai is None:
        raise TypeError("__cuda_array_interface__: expecting a dict, not None")
    data = _typed(cai["data"], tuple, "'data'")
    typestr = _typed(cai["typestr"], str, "'typestr'")
    shape = _typed(cai["shape"], tuple, "'shape'")
    strides = _typed(cai.get("strides"), tuple, "'strides'")
    descr = _typed(cai.get("descr"), list, "'descr'")
    mask = cai.get("mask")
    if data is None:
        raise TypeError("__cuda_array_interface__: 'data' is None")
    dev_ptr, readonly = data
    if shape is None or typestr is None:
        raise TypeError("__cuda_array_interface__: 'shape' and 'typestr' are required")
    size = 1
    for s in shape:
        size *= int(s)
    if dev_ptr is None and size == 0:
        dev_ptr = 0
    address = int(dev_ptr)
    byteorder, kind, itemsize = typestr[0:1], typestr[1:2], int(typestr[2:])
    native = "<" if sys.byteorder == "little" else ">"
    if byteorder in "<>" and byteorder != native:
        raise BufferError(
            f"__cuda_array_interface__: typestr {typestr!r} with non-native byte order"
        )
    if byteorder not in "<>|":
        raise BufferError(
            f"__cuda_array_interface__: typestr {typestr!r} with unrecognized byte order"
        )
    if mask is not None:
        raise BufferError("__cuda_array_interface__: cannot handle masked arrays")
    if size < 0:
        raise BufferError(f"__cuda_array_interface__: buffer with negative size (shape:{shape})")
    sh = [int(s) for s in shape]
    st = None if strides is None else [int(s) for s in strides]
    if not (_contiguous(sh, st, itemsize, "C") or _contiguous(sh, st, itemsize, "F")):
        raise BufferError(
            f"__cuda_array_interface__: buffer is not contiguous "
            f"(shape:{shape}, strides:{strides}, itemsize:{itemsize})"
        )
    if descr is not None and (len(descr) != 1 or descr[0] != ("", typestr)):
        warnings.warn(
            "__cuda_array_interface__: ignoring 'descr' key", RuntimeWarning, stacklevel=4
        )
    return _memory(address, size * itemsize, bool(readonly), obj), _format(kind, itemsize)


def as_bytes(obj: Any, writable: bool) -> tuple[Bytes, str, npt.NDArray[Any] | None]:
    """``(bytes, format, None)`` of a buffer object: its memory as a 1-D
    ``uint8`` array and its buffer format. As in mpi4py, the buffer
    protocol comes first, then DLPack, then ``__cuda_array_interface__``;
    memory that is not contiguous, or read-only memory to receive into,
    raises ``BufferError``. (The third item, the array a contiguous copy
    stands in for, is always None: mpi4py refuses such arrays.)"""
    if not isinstance(obj, np.ndarray):
        try:
            view = memoryview(obj)
        except TypeError:
            mem, fmt = _foreign(obj)
            if writable and not mem.flags.writeable:
                raise BufferError("message: the receive buffer is read-only") from None
            return mem, fmt, None
        if writable and view.readonly:
            raise BufferError("message: the receive buffer is read-only")
        if not view.contiguous:
            raise BufferError("message: the buffer is not contiguous")
        return np.frombuffer(view, np.uint8), view.format, None
    arr: npt.NDArray[Any] = obj
    if writable and not arr.flags.writeable:
        raise BufferError("message: the receive buffer is read-only")
    if not (arr.flags.c_contiguous or arr.flags.f_contiguous):
        raise BufferError("message: ndarray is not contiguous")
    fmt = _format_of(arr)
    flat = arr.reshape(-1, order="A") if arr.flags.f_contiguous else arr.reshape(-1)
    # a plain array's view: a subclass's indexing (``MPI.buffer`` takes no
    # index arrays) is not for the layer's packing
    return flat.view(dtype=np.uint8, type=np.ndarray), fmt, None


def _foreign(obj: Any) -> tuple[Bytes, str]:
    """The memory of an object without the buffer protocol."""
    if hasattr(obj, "__dlpack__") and hasattr(obj, "__dlpack_device__"):
        return from_dlpack(obj)
    if hasattr(obj, "__cuda_array_interface__"):
        return from_cai(obj)
    if hasattr(obj, "__array_interface__"):
        arr = np.asarray(obj)
        if not (arr.flags.c_contiguous or arr.flags.f_contiguous):
            raise BufferError("message: the buffer is not contiguous")
        return arr.reshape(-1, order="A").view(np.uint8), _format_of(arr)
    raise TypeError(f"message: expecting buffer or list/tuple, not {type(obj).__name__}")


def _format_of(arr: npt.NDArray[Any]) -> str:
    try:
        return memoryview(arr).format  # type: ignore[arg-type]
    except (ValueError, TypeError, BufferError):  # dtypes the buffer protocol lacks
        return arr.dtype.str
