"""``mpi4py.util.dtlib``: NumPy dtypes to MPI datatypes and back, by
mpi4py's rules (its own tests compare the results exactly).

``from_numpy_dtype``: a record is a struct of its fields at their offsets
resized to the itemsize, an array dtype a contiguous (1-D) or full
subarray (n-D) type of its base, a basic dtype a duplicate of its
predefined type (a string of n characters a contiguous type of n).
``to_numpy_dtype`` goes back by the combiner the datatype was made with
(see its docstring); what NumPy has no dtype for (a partial subarray, a
resized basic type) raises ``ValueError``. ``_np_dtype`` set to None acts
as mpi4py without NumPy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py.datatypes import PREDEFINED, Datatype, typecode, typedict

__all__ = ["from_numpy_dtype", "to_numpy_dtype"]

# NumPy's dtype constructor (None: as without NumPy, to_numpy_dtype gives
# specifications and from_numpy_dtype raises RuntimeError, as mpi4py's)
_np_dtype: Any = np.dtype


def from_numpy_dtype(dtype: npt.DTypeLike) -> Datatype:
    """The MPI datatype of one element of NumPy dtype-like ``dtype``, as
    mpi4py's: a record is a struct of its fields resized to its itemsize,
    an array a contiguous (1-D) or full subarray type of its base, a basic
    dtype a duplicate of its predefined type.

    Raises ``TypeError`` if ``dtype`` is not dtype-like, ``ValueError`` for
    a dtype MPI cannot describe (objects, a foreign byte order, ``V``), and
    ``RuntimeError`` without NumPy (``_np_dtype`` None).
    """
    if _np_dtype is None:
        raise RuntimeError("NumPy is not available")
    try:
        dt = _np_dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"not a NumPy dtype: {dtype!r} ({exc})") from None
    return _from(dt)


def _from(dt: np.dtype[Any]) -> Datatype:
    if dt.hasobject:
        raise ValueError(f"cannot convert NumPy dtype {dt} to an MPI datatype: it holds objects")
    if not dt.isnative:
        raise ValueError(f"cannot convert NumPy dtype {dt.str!r}: byte order is not native")
    if dt.names is not None:
        fields = [dt.fields[name] for name in dt.names]  # type: ignore[index]
        types = [_from(f[0]) for f in fields]
        made = Datatype.Create_struct([1] * len(types), [f[1] for f in fields], types)
        return made.Create_resized(0, dt.itemsize)
    if dt.subdtype is not None:
        base, shape = dt.subdtype
        old = _from(base)
        if len(shape) == 1:
            return old.Create_contiguous(shape[0])
        return old.Create_subarray(list(shape), list(shape), [0] * len(shape))
    if dt.kind in "SU" and dt.itemsize != np.dtype(dt.kind + "1").itemsize:
        one = np.dtype(dt.kind + "1")
        return typedict[one.char].Create_contiguous(dt.itemsize // one.itemsize)
    for code in (dt.char, f"{dt.kind}{dt.itemsize}"):
        if code in typedict and typedict[code].Get_size() == dt.itemsize:
            return typedict[code].Dup()
    raise ValueError(f"cannot convert NumPy dtype {dt} to an MPI datatype")


def to_numpy_dtype(datatype: Datatype) -> Any:
    """The NumPy dtype of one element of MPI ``datatype``, as mpi4py's.

    By the combiner the datatype was made with: a predefined type is its
    type code (a MAXLOC pair the aligned record of its value and an int);
    a contiguous type an array of its base; a full subarray (starts 0) an
    n-D array; a struct (also resized) a record of its fields at their
    displacements, its itemsize the extent; a vector or an indexed type a
    record of blocks. Records are ``aligned`` when every field lies at a
    multiple of its alignment. Raises ``TypeError`` for what is not an
    ``MPI.Datatype`` and ``ValueError`` for the null datatype and what
    NumPy cannot describe (a partial subarray, a resized basic type).
    With ``_np_dtype`` None (no NumPy), the dtype's specification.
    """
    if not isinstance(datatype, Datatype):
        raise TypeError(f"not an MPI.Datatype: {datatype!r}")
    if datatype._h is None:
        raise ValueError("cannot convert null MPI datatype to NumPy")
    base, combiner, info = datatype.decode()
    if combiner == "NAMED":
        code = typecode(datatype)
        if code is not None:
            return _spec(code)
        value = typecode(_PAIRS[_pair_name(datatype)])
        return _spec(f"{value},i", align=True)
    if combiner == "DUP":
        return to_numpy_dtype(base)
    if combiner == "CONTIGUOUS":
        inner = to_numpy_dtype(base)
        if _np_dtype is not None and inner.kind == "U" and inner.itemsize == 0:
            return _spec(f"U{info['count']}")  # wide characters: a string of them
        return _spec((inner, (info["count"],)))
    if combiner == "SUBARRAY":
        sizes = list(info["sizes"])
        if list(info["subsizes"]) != sizes or any(info["starts"]):
            raise ValueError("cannot convert subarray MPI datatype to NumPy")
        if info["order"] == C.ORDER_FORTRAN:
            sizes = sizes[::-1]
        return _spec((to_numpy_dtype(base), tuple(sizes)))
    if combiner in ("F90_INTEGER", "F90_REAL", "F90_COMPLEX"):
        return _spec(typecode(datatype))
    aligned = True
    if combiner == "RESIZED" and base.decode()[1] == "STRUCT":
        aligned = _aligned(base, info["extent"])
        combiner, info = "STRUCT", base.decode()[2]
    if combiner == "STRUCT":
        types, counts = info["datatypes"], info["blocklengths"]
        offsets = list(info["displacements"])
        formats = [_counted(t, n) for t, n in zip(types, counts, strict=True)]
        aligned = aligned and all(map(_aligned, types, offsets))
        return _record(formats, offsets, aligned, datatype.extent)
    if combiner in ("VECTOR", "HVECTOR"):
        count, stride = info["count"], info["stride"]
        if combiner == "VECTOR":
            stride *= base.extent
            aligned = _aligned(base)
        else:
            stride = stride if count > 1 else 0
            aligned = _aligned(base, stride)
        block = (to_numpy_dtype(base), (info["blocklength"],))
        offsets = [i * stride for i in range(count)]
        return _record([block] * count, offsets, aligned, datatype.extent)
    if combiner in ("INDEXED", "HINDEXED", "INDEXED_BLOCK", "HINDEXED_BLOCK"):
        displs = list(info["displacements"])
        counts = info.get("blocklengths") or [info["blocklength"]] * len(displs)
        unit = 1 if combiner.startswith("H") else base.extent
        aligned = _aligned(base)
        if combiner.startswith("H"):
            aligned = aligned and all(_aligned(base, d) for d in displs)
        inner = to_numpy_dtype(base)
        return _record([(inner, (n,)) for n in counts], [d * unit for d in displs], aligned)
    raise ValueError(f"cannot convert MPI datatype (combiner {combiner}) to NumPy")


# The value types of the MAXLOC/MINLOC pairs.
_PAIRS = {
    f"{name}_INT": PREDEFINED[name]
    for name in ("SHORT", "INT", "LONG", "FLOAT", "DOUBLE", "LONG_DOUBLE")
}
_PAIRS["2INT"] = PREDEFINED["INT"]


def _pair_name(datatype: Datatype) -> str:
    for name in _PAIRS:
        if name in PREDEFINED and PREDEFINED[name] == datatype:
            return name
    raise ValueError(f"cannot convert MPI datatype {datatype.Get_name()} to NumPy")


def _spec(spec: Any, **kwargs: Any) -> Any:
    """A dtype of ``spec``, or the specification itself without NumPy."""
    if _np_dtype is None:
        return spec if not kwargs else (spec, kwargs)
    return _np_dtype(spec, **kwargs)


def _counted(datatype: Datatype, count: int) -> Any:
    inner = to_numpy_dtype(datatype)
    return inner if count == 1 else (inner, count)


def _record(formats: list[Any], offsets: list[int], aligned: bool, itemsize: int = -1) -> Any:
    spec: dict[str, Any] = {
        "names": [f"f{i}" for i in range(len(formats))],
        "formats": formats,
        "offsets": offsets,
    }
    if itemsize >= 0:
        spec["itemsize"] = itemsize
    spec["aligned"] = aligned
    return _spec(spec)


def _aligned(datatype: Datatype, offset: int = 0) -> bool:
    """Whether ``datatype`` at byte ``offset`` has every basic element at a
    multiple of its alignment."""
    if datatype.is_predefined:
        align = typealign(datatype)
        return offset == 0 or (align is not None and offset % align == 0)
    base, combiner, info = datatype.decode()
    types, displs = [base], [0]
    if combiner == "RESIZED":
        displs = [info["extent"]]
    elif combiner == "STRUCT":
        types, displs = info["datatypes"], info["displacements"]
    elif combiner == "HVECTOR":
        displs = [info["stride"] if info["count"] > 1 else 0]
    elif combiner in ("HINDEXED", "HINDEXED_BLOCK"):
        displs = info["displacements"]
    return all(_aligned(t, offset + d) for t, d in zip(types, displs, strict=False))


def typealign(datatype: Datatype) -> int | None:
    """The C alignment of a predefined datatype (``MPI._typealign``); None
    for a derived one."""
    if not datatype.is_predefined:
        return None
    code = typecode(datatype)
    if code is None:
        name = next((n for n in _PAIRS if PREDEFINED.get(n) == datatype), None)
        if name is None:
            return None
        value = typecode(_PAIRS[name])
        return int(np.dtype(f"{value},i", align=True).alignment)
    return int(np.dtype(code).alignment)
