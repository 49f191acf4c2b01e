"""``mpi4py.util.dtlib``: NumPy dtypes to MPI datatypes and back.

``from_numpy_dtype`` builds a datatype whose typemap covers the bytes of
one element of the dtype: a basic dtype is its predefined type, a
subarray dtype a contiguous (1-D) or subarray (n-D) type of its base, a
structured dtype a struct of its fields at their offsets, resized to the
dtype's itemsize when the struct's own extent differs. ``to_numpy_dtype``
goes the other way by the combiner the datatype was made with, and for a
layout NumPy has no constructor for (a partial subarray, a pair type) by
its typemap: one field per basic entry at its displacement. Both raise
``ValueError`` for what has no counterpart (object dtypes, non-native byte
order, a negative lower bound) and ``TypeError`` for what is not a dtype
or a datatype.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import typemap as T
from zmqmesh.compat.mpi4py.datatypes import PREDEFINED, Datatype, typedict

__all__ = ["from_numpy_dtype", "to_numpy_dtype"]


def from_numpy_dtype(dtype: npt.DTypeLike) -> Datatype:
    """The MPI datatype of one element of NumPy dtype-like ``dtype``.

    Raises ``TypeError`` if ``dtype`` is not dtype-like and ``ValueError``
    for a dtype MPI cannot describe (objects, non-native byte order).
    """
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"not a NumPy dtype: {dtype!r} ({exc})") from None
    return _from(dt)


def _from(dt: np.dtype[Any]) -> Datatype:
    if dt.hasobject:
        raise ValueError(f"cannot convert NumPy dtype {dt} to an MPI datatype: it holds objects")
    if dt.names is not None:
        fields = [dt.fields[name] for name in dt.names]  # type: ignore[index]
        types = [_from(f[0]) for f in fields]
        made = Datatype.Create_struct([1] * len(types), [f[1] for f in fields], types)
        return _sized(made, dt.itemsize)
    if dt.subdtype is not None:
        base, shape = dt.subdtype
        old = _from(base)
        if len(shape) == 1:
            made = old.Create_contiguous(shape[0])
        else:
            made = old.Create_subarray(list(shape), list(shape), [0] * len(shape))
        return _sized(made, dt.itemsize)
    if dt.byteorder not in ("=", "|"):
        raise ValueError(f"cannot convert NumPy dtype {dt.str!r}: byte order is not native")
    if dt.kind in "SU" and dt.itemsize != np.dtype(dt.kind + "1").itemsize:
        one = np.dtype(dt.kind + "1")
        return typedict[one.char].Create_contiguous(dt.itemsize // one.itemsize)
    if dt.kind == "V":
        return PREDEFINED["BYTE"].Create_contiguous(dt.itemsize)
    for code in (dt.char, f"{dt.kind}{dt.itemsize}"):
        if code in typedict and typedict[code].Get_size() == dt.itemsize:
            return typedict[code]
    raise ValueError(f"cannot convert NumPy dtype {dt} to an MPI datatype")


def _sized(made: Datatype, itemsize: int) -> Datatype:
    lb, extent = made.Get_extent()
    if lb == 0 and extent == itemsize:
        return made
    return made.Create_resized(0, itemsize)


def to_numpy_dtype(datatype: Datatype) -> np.dtype[Any]:
    """The NumPy dtype of one element of MPI ``datatype``.

    Raises ``TypeError`` if ``datatype`` is not an ``MPI.Datatype`` and
    ``ValueError`` for the null datatype or one whose lower bound is not
    zero (a NumPy element starts at its first byte).
    """
    if not isinstance(datatype, Datatype):
        raise TypeError(f"not an MPI.Datatype: {datatype!r}")
    if datatype._h is None:
        raise ValueError("cannot convert the null datatype (DATATYPE_NULL) to a NumPy dtype")
    lb = datatype.Get_extent()[0]
    if lb != 0:
        raise ValueError(f"cannot convert an MPI datatype with lower bound {lb} to a NumPy dtype")
    return _to(datatype)


def _to(datatype: Datatype) -> np.dtype[Any]:
    old, combiner, p = datatype.decode()
    if combiner in ("NAMED", "F90_INTEGER", "F90_REAL", "F90_COMPLEX"):
        typestr = datatype.typestr
        return _by_typemap(datatype) if typestr.startswith("V") else np.dtype(typestr)
    if combiner == "DUP":
        return _to(old)
    if combiner == "RESIZED":
        return _resized(_to(old), p["extent"], datatype)
    if combiner == "CONTIGUOUS":
        return _block(old, p["count"])
    if combiner == "STRUCT":
        bls, dps, types = p["blocklengths"], p["displacements"], p["datatypes"]
        return _fields([_block(t, n) for t, n in zip(types, bls, strict=True)], dps, _ub(datatype))
    if combiner in ("VECTOR", "HVECTOR"):
        unit = 1 if combiner == "HVECTOR" else old.Get_extent()[1]
        dps = [i * p["stride"] * unit for i in range(p["count"])]
        return _blocks(datatype, old, [p["blocklength"]] * p["count"], dps)
    if combiner in ("INDEXED", "HINDEXED", "INDEXED_BLOCK", "HINDEXED_BLOCK"):
        unit = 1 if combiner.startswith("H") else old.Get_extent()[1]
        dps = [d * unit for d in p["displacements"]]
        bls = p.get("blocklengths") or [p["blocklength"]] * len(dps)
        return _blocks(datatype, old, bls, dps)
    if combiner == "SUBARRAY" and p["sizes"] == p["subsizes"] and p["order"] == C.ORDER_C:
        return np.dtype((_to(old), tuple(p["sizes"])))
    return _by_typemap(datatype)


def _resized(inner: np.dtype[Any], extent: int, made: Datatype) -> np.dtype[Any]:
    if inner.itemsize == extent:
        return inner
    if inner.names is not None:
        fields = [inner.fields[name] for name in inner.names]  # type: ignore[index]
        if all(off + f.itemsize <= extent for f, off, *_ in fields):
            spec = {
                "names": list(inner.names),
                "formats": [f[0] for f in fields],
                "offsets": [f[1] for f in fields],
                "itemsize": extent,
            }
            made_dt: np.dtype[Any] = np.dtype(spec)  # type: ignore[call-overload]
            return made_dt
    elif inner.itemsize < extent:
        return _fields([inner], [0], extent)
    return _by_typemap(made)


def _block(old: Datatype, count: int) -> np.dtype[Any]:
    inner = _to(old)
    if count == 1:
        return inner
    if inner.kind in "SU" and inner == np.dtype(inner.kind + "1"):
        return np.dtype(f"{inner.kind}{count}")  # "S1" x 5 is "S5"
    return np.dtype((inner, (count,)))


def _blocks(made: Datatype, old: Datatype, bls: list[int], dps: list[int]) -> np.dtype[Any]:
    if any(d < 0 for d in dps):
        return _by_typemap(made)
    return _fields([_block(old, n) for n in bls], dps, _ub(made))


def _ub(datatype: Datatype) -> int:
    lb, extent = datatype.Get_extent()
    return lb + extent


def _fields(formats: list[np.dtype[Any]], offsets: list[int], itemsize: int) -> np.dtype[Any]:
    names = [f"f{i}" for i in range(len(formats))]
    spec = {"names": names, "formats": formats, "offsets": offsets, "itemsize": itemsize}
    made: np.dtype[Any] = np.dtype(spec)  # type: ignore[call-overload]
    return made


def _by_typemap(datatype: Datatype) -> np.dtype[Any]:
    """One field per basic entry of the typemap, at its displacement."""
    tm = datatype.typemap
    formats = [T.BASES[int(k)] for k in tm.kinds]
    return _fields(formats, [int(d) for d in tm.disps], _ub(datatype))
