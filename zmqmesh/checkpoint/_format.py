"""Checkpoint file format: constants, the error, and state encoding."""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import msgpack  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt

from zmqmesh.errors import DecodeError, MeshError
from zmqmesh.wire.arrays import Unsendable, dtype_to_wire

if TYPE_CHECKING:
    pass


_Dir: TypeAlias = "str | os.PathLike[str]"

_MAGIC = b"ZMQMCKPT"
_PREFIX = struct.Struct("<8sQI")
_FORMAT = 1
_MARKER = "COMMITTED"
_MARKER_KIND = "zmqmesh-checkpoint"
_STEP_DIR = re.compile(r"step-(0|[1-9][0-9]{0,18})")
_EXT_TUPLE, _EXT_BIGINT, _EXT_ARRAY, _EXT_SCALAR = 1, 2, 3, 4
_MAX_NDIM = 64  # NumPy 2's limit
_MAX_DEPTH = 200  # deeper (or self-containing) state is refused before Python's recursion limit
_PLAIN = frozenset({bool, float, str, bytes})
_CONTAINERS = frozenset({list, tuple, dict})  # exactly: subclasses would come back as these
_SUPPORTED = (
    "None, bool, int, float, str, bytes, list, tuple, dict, numpy.ndarray or a NumPy scalar"
)


class CheckpointError(MeshError):
    """A checkpoint cannot be written, committed or restored: a file is
    missing, truncated or corrupt, or a rank failed its part of a collective
    checkpoint. ``path`` is the offending file when there is one."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path

    def __reduce__(self) -> tuple[type[CheckpointError], tuple[str, Path | None]]:
        return (type(self), (str(self), self.path))


# -- encoding the state ------------------------------------------------------


def _pack(obj: object) -> bytes:
    data: bytes = msgpack.packb(obj, use_bin_type=True, unicode_errors="surrogatepass")
    return data


class _Encoder:
    """Turns a state into msgpack-native values, collecting its arrays.

    Tuples, ints beyond 64 bits, arrays and NumPy scalars become ext records
    (so a tuple comes back a tuple); an array that appears twice is saved once
    and comes back as one object in both places.
    """

    def __init__(self) -> None:
        self.arrays: list[npt.NDArray[Any]] = []
        self._index: dict[int, int] = {}  # id(array in the state) -> its index
        self._active: set[int] = set()

    def _add(self, a: npt.NDArray[Any], path: str) -> int:
        try:
            dtype_to_wire(a.dtype)
        except Unsendable as exc:
            raise TypeError(
                f"cannot checkpoint state{path}: arrays of {exc.detail} are not supported "
                "(object and variable-width dtypes cannot be saved as raw bytes)"
            ) from None
        self.arrays.append(a)
        return len(self.arrays) - 1

    def encode(self, value: object, path: str) -> object:
        """``value`` as msgpack can pack it; ``path`` names it in errors."""
        t = type(value)
        if value is None or t in _PLAIN:
            return value
        if isinstance(value, int) and t is int:
            if -(2**63) <= value < 2**64:
                return value
            raw = value.to_bytes(value.bit_length() // 8 + 1, "little", signed=True)
            return msgpack.ExtType(_EXT_BIGINT, raw)
        if isinstance(value, np.ndarray) and (t is np.ndarray or isinstance(value, np.memmap)):
            i = self._index.get(id(value))
            if i is None:
                i = self._index[id(value)] = self._add(value, path)
            return msgpack.ExtType(_EXT_ARRAY, _pack(i))
        if isinstance(value, np.generic):
            return msgpack.ExtType(_EXT_SCALAR, _pack(self._add(np.asarray(value), path)))
        if isinstance(value, (list, tuple, dict)) and t in _CONTAINERS:
            if id(value) in self._active or len(self._active) >= _MAX_DEPTH:
                raise ValueError(
                    f"cannot checkpoint state{path}: nested too deeply or contains itself"
                )
            self._active.add(id(value))
            try:
                if isinstance(value, dict):
                    return {
                        self.encode(k, f"{path} (a key {k!r:.60})"): self.encode(
                            v, f"{path}[{k!r}]"
                        )
                        for k, v in value.items()
                    }
                items = [self.encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
                return items if t is list else msgpack.ExtType(_EXT_TUPLE, _pack(items))
            finally:
                self._active.discard(id(value))
        raise TypeError(
            f"cannot checkpoint state{path}: values of type {t.__module__}.{t.__qualname__} "
            f"are not supported (supported: {_SUPPORTED})"
        )


def _decoder(arrays: list[npt.NDArray[Any]]) -> Callable[[bytes], Any]:
    """``unpack(data)``: the inverse of :class:`_Encoder`, arrays taken from ``arrays``."""

    def index(data: bytes) -> int:
        i = msgpack.unpackb(data)
        if type(i) is not int or not 0 <= i < len(arrays):
            raise DecodeError(f"array reference {i!r:.40} out of range")
        return i

    def ext_hook(code: int, data: bytes) -> object:
        if code == _EXT_TUPLE:
            items = unpack(data)
            if type(items) is not list:
                raise DecodeError("malformed tuple record")
            return tuple(items)
        if code == _EXT_BIGINT:
            return int.from_bytes(data, "little", signed=True)
        if code == _EXT_ARRAY:
            return arrays[index(data)]
        if code == _EXT_SCALAR:
            scalar = arrays[index(data)]
            if scalar.ndim != 0:
                raise DecodeError("scalar record refers to an array")
            return scalar[()]
        raise DecodeError(f"unknown ext record {code}")

    def unpack(data: bytes) -> Any:
        return msgpack.unpackb(
            data,
            ext_hook=ext_hook,
            raw=False,
            strict_map_key=False,
            unicode_errors="surrogatepass",
        )

    return unpack
