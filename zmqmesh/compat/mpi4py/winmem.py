"""The memory of a window and what one-sided operations do to it; pure
(NumPy only, no messages).

A window's memory at one rank is one 1-D ``uint8`` array (``Win.Create``,
``Allocate``, ``Allocate_shared``) whose displacements count in units of
``disp_unit`` bytes, or the regions a dynamic window has attached, whose
displacements are addresses. A target access is ``count`` elements of a
datatype from a displacement; it travels as the datatype's *description*
(:func:`describe`: its entries' base dtypes by name, their byte
displacements and its bounds, never the origin's kind numbers, which differ
between processes) and becomes a :class:`~typemap.Plan` over the memory at
the target (:func:`locate`). Accumulates work on the packed elements of the
target's one base dtype: read, combine, write back, all in one call, which
is what makes them element-wise atomic at the target.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import secrets
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from zmqmesh.compat.mpi4py import typemap as T

__all__ = [
    "ACCUMULATE_OPS",
    "Memory",
    "RangeError",
    "SharedSegment",
    "accumulate",
    "compare_and_swap",
    "describe",
    "typemap_of",
]

Bytes = npt.NDArray[np.uint8]


class RangeError(Exception):
    """A target access that reaches outside the window's memory."""


def describe(tm: T.Typemap) -> Any:
    """The wire form of typemap ``tm``: its base dtype's name when it is one
    basic element, else ``(names, kinds, disps, lb, ub)``."""
    memo = tm.memo.get("wire")
    if memo is not None:
        return memo
    base = tm.base
    one = base is not None and tm.kinds.size == 1 and int(tm.disps[0]) == 0
    if one and base is not None and tm.lb == 0 and tm.ub == base.itemsize:
        tm.memo["wire"] = base.str
        return base.str
    uniq, inverse = np.unique(tm.kinds, return_inverse=True)
    names = [T.BASES[int(k)].str for k in uniq]
    wire = (names, inverse.astype(np.int16), np.asarray(tm.disps, np.int64), tm.lb, tm.ub)
    tm.memo["wire"] = wire
    return wire


_MADE: dict[str, T.Typemap] = {}


def typemap_of(wire: Any) -> T.Typemap:
    """The typemap a :func:`describe` wire form stands for. Raises
    ``ValueError`` for what is not one."""
    if isinstance(wire, str):
        tm = _MADE.get(wire)
        if tm is None:
            tm = _MADE[wire] = T.basic(np.dtype(wire))
        return tm
    try:
        names, inverse, disps, lb, ub = wire
        kinds = np.asarray([T.base_kind(np.dtype(n)) for n in names], np.int16)
        inv = np.asarray(inverse, np.int64)
        d = np.asarray(disps, np.int64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not a datatype description: {exc}") from None
    if inv.shape != d.shape or (inv.size and (inv.min() < 0 or inv.max() >= kinds.size)):
        raise ValueError("not a datatype description: entries and displacements differ")
    return T.Typemap(kinds[inv] if inv.size else np.zeros(0, np.int16), d, int(lb), int(ub))


class Memory:
    """One rank's memory of a window: ``base`` (bytes, displacements in
    units of ``disp_unit``) or, for a dynamic window, the attached regions
    (displacements are addresses)."""

    __slots__ = ("base", "disp_unit", "dynamic", "regions")

    def __init__(self, base: Bytes | None, disp_unit: int, dynamic: bool = False) -> None:
        self.base = np.zeros(0, np.uint8) if base is None else base
        self.disp_unit = int(disp_unit)
        self.dynamic = dynamic
        self.regions: list[Bytes] = []

    def attach(self, region: Bytes) -> None:
        self.regions.append(region)

    def detach(self, address: int) -> bool:
        """Forget the region attached at ``address``; whether there was one."""
        for i, region in enumerate(self.regions):
            if _address(region) == address:
                del self.regions[i]
                return True
        return False

    def locate(self, disp: int, tm: T.Typemap, count: int) -> tuple[Bytes, T.Plan]:
        """The memory and plan of ``count`` elements of ``tm`` at target
        displacement ``disp``. Raises :class:`RangeError` when they reach
        outside the window."""
        if not self.dynamic:
            p = T.plan(tm, count, int(disp) * self.disp_unit)
            if p.nbytes and (p.low < 0 or p.high > self.base.size):
                raise RangeError(
                    f"bytes {p.low}..{p.high} of the access are outside the window "
                    f"of {self.base.size} bytes"
                )
            return self.base, p
        probe = T.plan(tm, count, 0)
        if not probe.nbytes:
            return np.zeros(0, np.uint8), probe
        low, high = int(disp) + probe.low, int(disp) + probe.high
        for region in self.regions:
            start = _address(region)
            if start <= low and high <= start + region.size:
                return region, T.plan(tm, count, int(disp) - start)
        raise RangeError(f"addresses {low:#x}..{high:#x} are in no attached memory")


def _address(region: Bytes) -> int:
    return int(region.__array_interface__["data"][0])


def get(mem: Bytes, p: T.Plan) -> Bytes:
    """A copy of the packed bytes ``p`` covers."""
    return np.array(T.pack(mem, p), copy=True)


def put(mem: Bytes, p: T.Plan, data: Bytes) -> None:
    T.unpack(mem, p, np.ascontiguousarray(data, np.uint8).reshape(-1))


def _cast(fn: Callable[..., Any]) -> Callable[[Any, Any], Any]:
    def combine(old: Any, new: Any) -> Any:
        return np.asarray(fn(old, new)).astype(old.dtype, copy=False)

    return combine


# What each predefined op does to the target's element (``old``) with the
# origin's (``new``); REPLACE stores the origin's, NO_OP keeps the target's.
ACCUMULATE_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "SUM": _cast(np.add),
    "PROD": _cast(np.multiply),
    "MAX": _cast(np.maximum),
    "MIN": _cast(np.minimum),
    "LAND": _cast(np.logical_and),
    "LOR": _cast(np.logical_or),
    "LXOR": _cast(np.logical_xor),
    "BAND": _cast(np.bitwise_and),
    "BOR": _cast(np.bitwise_or),
    "BXOR": _cast(np.bitwise_xor),
    "REPLACE": lambda old, new: new,
    "NO_OP": lambda old, new: old,
}


def accumulate(mem: Bytes, p: T.Plan, tm: T.Typemap, data: Bytes | None, op: str) -> Bytes:
    """Combine the packed origin ``data`` into the elements ``p`` covers
    with ``op`` (a name of :data:`ACCUMULATE_OPS`); the target's bytes
    before (a copy). ``data`` None (``NO_OP``) only reads. Raises
    ``ValueError`` for a mixed datatype or a wrong size, ``KeyError`` for
    an op accumulates do not take."""
    combine = ACCUMULATE_OPS[op]
    old = get(mem, p)
    if op == "NO_OP" or data is None or not p.nbytes:
        return old
    base = tm.base
    if base is None:
        raise ValueError("accumulate needs a datatype of one base type")
    raw = np.ascontiguousarray(data, np.uint8).reshape(-1)
    if raw.size != old.size:
        raise ValueError(f"accumulate of {raw.size} bytes into {old.size} bytes of the target")
    new = combine(old.view(base), raw.view(base))
    T.unpack(mem, p, np.ascontiguousarray(new).view(np.uint8).reshape(-1))
    return old


def compare_and_swap(mem: Bytes, p: T.Plan, tm: T.Typemap, origin: Bytes, compare: Bytes) -> Bytes:
    """Store ``origin`` at the one element ``p`` covers if it equals
    ``compare``; the element before (a copy)."""
    old = get(mem, p)
    if old.tobytes() == np.ascontiguousarray(compare, np.uint8).tobytes():
        put(mem, p, origin)
    return old


class SharedSegment:
    """Memory every rank of one host maps: a file in ``/dev/shm`` (or the
    temporary directory) that is unlinked as soon as every rank has mapped
    it, so nothing is left behind whatever happens next."""

    __slots__ = ("array", "map", "path")

    def __init__(self, path: str, nbytes: int, create: bool) -> None:
        flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
        fd = os.open(path, flags, 0o600)
        try:
            if create:
                os.ftruncate(fd, max(nbytes, 1))
            self.map: mmap.mmap | None = mmap.mmap(fd, max(nbytes, 1))
        finally:
            os.close(fd)
        self.path = path
        self.array: Bytes = np.frombuffer(self.map, np.uint8)[:nbytes]

    @staticmethod
    def new_path() -> str:
        where = "/dev/shm" if os.path.isdir("/dev/shm") else os.environ.get("TMPDIR", "/tmp")
        return os.path.join(where, f"zmqmesh-win-{os.getpid()}-{secrets.token_hex(6)}")

    def unlink(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def close(self) -> None:
        """Unmap, once no view of the memory is left (else the mapping goes
        with the last view)."""
        mp, self.map = self.map, None
        self.array = np.zeros(0, np.uint8)
        if mp is not None:
            with contextlib.suppress(BufferError):
                mp.close()
