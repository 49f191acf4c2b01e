"""``MPI.buffer``: memory as mpi4py's byte buffer objects.

The buffer is a one-dimensional NumPy byte array underneath (a plain
Python class cannot offer the buffer protocol on Python 3.11) with
mpi4py's face over it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from zmqmesh.compat.mpi4py.foreign import as_bytes, at_address

__all__ = ["buffer"]


class buffer(np.ndarray[Any, np.dtype[np.uint8]]):
    """Memory as mpi4py's ``MPI.buffer``: a 1-D view of bytes with the
    buffer protocol (a NumPy array underneath, which Python code can make
    expose one), taken from any buffer kind a message takes; ``obj`` is
    the object it views. Items are ints; only contiguous slices.
    """

    _obj: Any
    _gone: bool
    _device: bool

    def __new__(cls, *args: Any) -> buffer:
        if len(args) > 1:
            raise TypeError(f"buffer() takes at most 1 argument ({len(args)} given)")
        if not args:
            return _view(np.zeros(0, np.uint8), None, address=False)
        obj = args[0]
        if obj is None or isinstance(obj, int | float | list | tuple):
            raise TypeError(f"expecting buffer, not {type(obj).__name__}")
        out = _view(as_bytes(obj, False)[0], obj)
        out._device = _on_device(obj)
        return out

    def __array_finalize__(self, base: Any) -> None:
        self._obj = getattr(base, "_obj", None)
        self._gone = False
        self._device = getattr(base, "_device", False)

    def _host(self) -> None:
        # memory a device exporter offers is not the host's to read, as mpi4py
        if self._device:
            raise BufferError("buffer memory is on a device, not the host")

    @staticmethod
    def allocate(nbytes: int, clear: bool = False) -> buffer:
        """Allocate ``nbytes`` of new memory (always cleared: bytearray zeroes)."""
        if not isinstance(nbytes, int):
            raise TypeError(f"expecting an integer size, not {type(nbytes).__name__}")
        if nbytes < 0:
            raise ValueError("expecting non-negative size")
        return buffer(bytearray(int(nbytes)))

    @staticmethod
    def frombuffer(obj: Any, readonly: bool = False) -> buffer:
        """A view of ``obj``'s memory (read-only on request)."""
        out = buffer(obj)
        if readonly:
            out.flags.writeable = False
        return out

    @staticmethod
    def fromaddress(address: int, nbytes: int, readonly: bool = False) -> buffer:
        """A view of ``nbytes`` of this process's memory at ``address``."""
        if nbytes < 0:
            raise ValueError("expecting non-negative buffer length")
        if nbytes > 0 and address == 0:
            raise ValueError("expecting non-NULL address")
        return _view(at_address(int(address), int(nbytes), bool(readonly)), None)

    @property
    def obj(self) -> Any:
        """Object exposing buffer."""
        return self._obj

    @property
    def address(self) -> int:
        """Buffer address."""
        if self._gone or getattr(self, "_null", False):
            return 0
        return int(self.__array_interface__["data"][0])

    @property
    def nbytes(self) -> int:
        """Buffer size (in bytes)."""
        return 0 if self._gone else int(self.size)

    @property
    def readonly(self) -> bool:
        """Buffer is read-only."""
        return not self._gone and not self.flags.writeable

    @property
    def format(self) -> str:
        """Format of each element."""
        return "B"

    def __len__(self) -> int:
        return self.nbytes

    def __bool__(self) -> bool:
        return self.nbytes > 0

    def __getitem__(self, item: Any) -> Any:
        self._host()
        if isinstance(item, slice) and item.step not in (None, 1):
            raise IndexError("buffer slices must be contiguous")
        if item is None or not isinstance(item, int | slice):
            raise TypeError(f"buffer indices must be integers or slices, not {type(item).__name__}")
        got = super().__getitem__(item)
        return int(got) if isinstance(item, int) else got

    def __setitem__(self, item: Any, value: Any) -> None:
        if not self.flags.writeable:
            raise TypeError("buffer is not writable")
        self.__getitem__(item)  # (its index checks)
        if not isinstance(value, int | np.integer):
            value = np.frombuffer(memoryview(value), np.uint8) if len(value) else value
        np.ndarray.__setitem__(self, item, value)

    def __delitem__(self, item: Any) -> None:
        raise NotImplementedError("buffer items cannot be deleted")

    def tobytes(self, order: str | None = None) -> bytes:
        """A copy of the buffer's bytes."""
        self._host()
        return bytes(memoryview(np.asarray(self)))  # type: ignore[arg-type]

    def toreadonly(self) -> buffer:
        """A read-only view of the same memory."""
        out: buffer = self[:]
        out.flags.writeable = False
        return out

    def cast(self, format: str, shape: Any = None) -> Any:
        """A memoryview of the buffer as items of ``format`` (and ``shape``)."""
        self._host()
        view: Any = memoryview(np.asarray(self))  # type: ignore[arg-type]
        return view.cast(format) if shape is None else view.cast(format, shape)

    def release(self) -> None:
        """Forget the memory (the view stays, reporting no bytes)."""
        self._gone = True
        self._obj = None


def _on_device(obj: Any) -> bool:
    """Whether ``obj`` offers device memory (DLPack not on the CPU, or the
    CUDA array interface) rather than the buffer protocol."""
    try:
        memoryview(obj)
        return False
    except TypeError:
        pass
    device = getattr(obj, "__dlpack_device__", None)
    if device is not None:
        return int(device()[0]) != 1  # kDLCPU
    return hasattr(obj, "__cuda_array_interface__")


def _view(mem: npt.NDArray[np.uint8], obj: Any, address: bool = True) -> buffer:
    out = mem.view(buffer)
    out._obj = obj
    if not address:
        out._null = True  # type: ignore[attr-defined]
    return out
