"""``mpi4py.typing``: the names of mpi4py's type aliases, for annotations.

The aliases are loose here (``Any`` for the message specifications):
programs import them to annotate, and nothing checks them at run time.
"""

from __future__ import annotations

from typing import Any, Protocol, SupportsIndex, TypeVar

__all__ = [
    "Aint",
    "Bottom",
    "BufSpec",
    "BufSpecB",
    "BufSpecV",
    "BufSpecW",
    "Buffer",
    "Count",
    "Displ",
    "InPlace",
    "Offset",
    "S",
    "SupportsBuffer",
    "SupportsCAI",
    "SupportsDLPack",
    "T",
    "TargetSpec",
    "TypeSpec",
    "U",
    "V",
]


class SupportsBuffer(Protocol):
    """An object with the buffer protocol."""

    def __buffer__(self, flags: int, /) -> memoryview: ...


class SupportsDLPack(Protocol):
    """An object that exports DLPack capsules."""

    def __dlpack__(self, *, stream: int | None = None) -> Any: ...

    def __dlpack_device__(self) -> tuple[int, int]: ...


class SupportsCAI(Protocol):
    """An object with the CUDA array interface."""

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]: ...


Buffer = Any
Bottom = Any
InPlace = Any
Aint = SupportsIndex
Count = SupportsIndex
Displ = SupportsIndex
Offset = SupportsIndex
TypeSpec = Any
BufSpec = Any
BufSpecB = Any
BufSpecV = Any
BufSpecW = Any
TargetSpec = Any

S = TypeVar("S")
T = TypeVar("T")
U = TypeVar("U")
V = TypeVar("V")
