"""``MPI.Datatype``: predefined and derived datatypes, as mpi4py has them.

A datatype is a handle (see ``handles``) naming a type record: its
typemap (``typemap.Typemap``: base dtypes at byte displacements, lb, ub),
its name, and how it was made (combiner and arguments, for
``Get_envelope``/``Get_contents``/``decode`` and for pickling). Sizes,
extents and names are those of MPICH on x86-64 Linux, where mpi4py's
behaviour was checked. Types need no ``Commit`` here (it is accepted and
returns the type), and a freed type's handle becomes the null handle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import typemap as T
from zmqmesh.compat.mpi4py import typetables as TT
from zmqmesh.compat.mpi4py.attributes import KeyvalCalls
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.handles import Handle
from zmqmesh.compat.mpi4py.packing import PackCalls

__all__ = ["DATATYPE_NULL", "PREDEFINED", "Datatype", "typecode", "typedict"]

_COMBINER_NAMES = {
    C.COMBINER_NAMED: "NAMED",
    C.COMBINER_DUP: "DUP",
    C.COMBINER_CONTIGUOUS: "CONTIGUOUS",
    C.COMBINER_VECTOR: "VECTOR",
    C.COMBINER_HVECTOR: "HVECTOR",
    C.COMBINER_INDEXED: "INDEXED",
    C.COMBINER_HINDEXED: "HINDEXED",
    C.COMBINER_INDEXED_BLOCK: "INDEXED_BLOCK",
    C.COMBINER_HINDEXED_BLOCK: "HINDEXED_BLOCK",
    C.COMBINER_STRUCT: "STRUCT",
    C.COMBINER_SUBARRAY: "SUBARRAY",
    C.COMBINER_DARRAY: "DARRAY",
    C.COMBINER_RESIZED: "RESIZED",
    C.COMBINER_F90_INTEGER: "F90_INTEGER",
    C.COMBINER_F90_REAL: "F90_REAL",
    C.COMBINER_F90_COMPLEX: "F90_COMPLEX",
}
_F90 = (C.COMBINER_F90_INTEGER, C.COMBINER_F90_REAL, C.COMBINER_F90_COMPLEX)
_COMBINERS = {v: k for k, v in _COMBINER_NAMES.items()}
# typestr -> the one-character code NumPy and the buffer protocol use
_CHAR = {
    "b1": "?",
    "i1": "b",
    "u1": "B",
    "i2": "h",
    "u2": "H",
    "i4": "i",
    "u4": "I",
    "i8": "l",
    "u8": "L",
    "f2": "e",
    "f4": "f",
    "f8": "d",
    "f16": "g",
    "c8": "F",
    "c16": "D",
    "c32": "G",
    "S1": "c",
    "U1": "U",
}


@dataclass(eq=False, slots=True)
class _Type:
    """What a datatype handle names."""

    tm: T.Typemap
    name: str
    combiner: int
    params: dict[str, Any] = field(default_factory=dict)
    old: Datatype | None = None
    code: str | None = None  # tocode() of a predefined type
    key: str | None = None  # the MPI attribute naming a predefined type
    committed: bool = False


def _typestr(dt: np.dtype[Any]) -> str:
    return f"{dt.kind}{dt.itemsize}" if dt.kind not in "SU" else dt.str[1:]


class Datatype(KeyvalCalls, PackCalls, Handle):
    """An MPI datatype (``MPI.DOUBLE``, ``MPI.INT.Create_vector(...)``...)."""

    __slots__ = ()

    @property
    def _t(self) -> _Type:
        t: _Type | None = self._h
        if t is None:
            raise MPIException(C.ERR_TYPE, "Invalid datatype (the null datatype)")
        return t

    @property
    def typemap(self) -> T.Typemap:
        """The typemap (zmqmesh's; not an mpi4py attribute)."""
        return self._t.tm

    def __repr__(self) -> str:
        if self._h is None:
            return "<mpi4py.MPI.Datatype DATATYPE_NULL>"
        t = self._t
        label = t.key or t.name or _COMBINER_NAMES.get(t.combiner, "?")
        return f"<mpi4py.MPI.Datatype {label} size={t.tm.size} extent={t.tm.extent}>"

    def __reduce__(self) -> Any:
        # a copy comes back of its own class (a subclass too), as mpi4py's
        if self._h is None:
            return "DATATYPE_NULL" if self is DATATYPE_NULL else (type(self), (DATATYPE_NULL,))
        t = self._t
        if t.key is not None:
            known = PREDEFINED[t.key]
            return (_named, (t.key,)) if self is known else (type(self), (known,))
        old, name, params = self.decode()
        alone = name == "STRUCT" or name.startswith("F90_")  # made from no old type
        return (_rebuild, (None if alone else old, name, params))

    # -- sizes and bounds -----------------------------------------------------------------------
    def Get_size(self) -> int:
        """Bytes of data in one element."""
        return self._t.tm.size

    def Get_extent(self) -> tuple[int, int]:
        """Return ``(lb, extent)`` in bytes."""
        tm = self._t.tm
        return tm.lb, tm.extent

    def Get_true_extent(self) -> tuple[int, int]:
        """Return ``(true_lb, true_extent)``: the bytes the data really covers."""
        tm = self._t.tm
        return tm.true_lb, tm.true_extent

    size = property(Get_size)
    extent = property(lambda self: self._t.tm.extent, doc="Extent.")
    lb = property(lambda self: self._t.tm.lb, doc="Lower bound.")
    ub = property(lambda self: self._t.tm.ub, doc="Upper bound.")
    true_lb = property(lambda self: self._t.tm.true_lb, doc="True lower bound.")
    true_ub = property(lambda self: self._t.tm.true_ub, doc="True upper bound.")
    true_extent = property(lambda self: self._t.tm.true_extent, doc="True extent.")

    # -- names and life -------------------------------------------------------------------------
    def Get_name(self) -> str:
        """The type's name (its MPI name for a predefined type)."""
        return "MPI_DATATYPE_NULL" if self._h is None else self._t.name

    def Set_name(self, name: str) -> None:
        """Give the type a name."""
        self._t.name = str(name)

    name = property(Get_name, Set_name)

    @property
    def is_named(self) -> bool:
        """Is a named datatype."""
        return self._t.combiner == C.COMBINER_NAMED

    @property
    def is_predefined(self) -> bool:
        """Is a predefined datatype."""
        return self._h is None or self._t.combiner in (C.COMBINER_NAMED, *_F90)

    def Commit(self) -> Datatype:
        """Accepted; returns the type (packing plans need no commit here)."""
        self._t.committed = True
        return self

    def Free(self) -> None:
        """Make this handle the null handle; predefined types cannot be freed."""
        if self._t.combiner == C.COMBINER_NAMED:
            raise MPIException(C.ERR_TYPE, "Invalid datatype (a predefined type cannot be freed)")
        self._free_attrs()
        self._h = None

    def Get_attr(self, keyval: int) -> Any:
        """The value of a user keyval (None unset)."""
        self._t  # noqa: B018 (raises for the null type)
        return self._user_attr(keyval)

    def Dup(self) -> Datatype:
        """A new type with the same typemap (combiner ``DUP``, unnamed),
        with this type's attributes as their keyvals copy them."""
        new = _derived(self._t.tm, C.COMBINER_DUP, {}, self)
        self._copy_attrs_to(new)
        return new

    Create_dup = Dup

    # -- derived types ------------------------------------------------------------------------
    def Create_contiguous(self, count: int) -> Datatype:
        """Create a type of ``count`` copies of this type, one after the other."""
        tm = T.contiguous(int(count), self._t.tm)
        return _derived(tm, C.COMBINER_CONTIGUOUS, {"count": int(count)}, self)

    def Create_vector(self, count: int, blocklength: int, stride: int) -> Datatype:
        """Create a type of ``count`` blocks of ``blocklength`` elements,
        ``stride`` elements apart."""
        tm = T.hvector(int(count), int(blocklength), int(stride) * self._t.tm.extent, self._t.tm)
        params = {"count": int(count), "blocklength": int(blocklength), "stride": int(stride)}
        return _derived(tm, C.COMBINER_VECTOR, params, self)

    def Create_hvector(self, count: int, blocklength: int, stride: int) -> Datatype:
        """As ``Create_vector`` with ``stride`` in bytes."""
        tm = T.hvector(int(count), int(blocklength), int(stride), self._t.tm)
        params = {"count": int(count), "blocklength": int(blocklength), "stride": int(stride)}
        return _derived(tm, C.COMBINER_HVECTOR, params, self)

    def Create_indexed(self, blocklengths: Any, displacements: Any) -> Datatype:
        """Blocks of ``blocklengths[i]`` elements at ``displacements[i]`` elements."""
        bls, dps = _ints(blocklengths), _ints(displacements)
        tm = T.hindexed(bls, np.asarray(dps, np.int64) * self._t.tm.extent, self._t.tm)
        params = {"blocklengths": bls, "displacements": dps}
        return _derived(tm, C.COMBINER_INDEXED, params, self)

    def Create_hindexed(self, blocklengths: Any, displacements: Any) -> Datatype:
        """As ``Create_indexed`` with displacements in bytes."""
        bls, dps = _ints(blocklengths), _ints(displacements)
        tm = T.hindexed(bls, dps, self._t.tm)
        params = {"blocklengths": bls, "displacements": dps}
        return _derived(tm, C.COMBINER_HINDEXED, params, self)

    def Create_indexed_block(self, blocklength: int, displacements: Any) -> Datatype:
        """Blocks of ``blocklength`` elements at ``displacements[i]`` elements."""
        dps = _ints(displacements)
        ext = self._t.tm.extent
        tm = T.hindexed([int(blocklength)] * len(dps), np.asarray(dps, np.int64) * ext, self._t.tm)
        params = {"blocklength": int(blocklength), "displacements": dps}
        return _derived(tm, C.COMBINER_INDEXED_BLOCK, params, self)

    def Create_hindexed_block(self, blocklength: int, displacements: Any) -> Datatype:
        """As ``Create_indexed_block`` with displacements in bytes."""
        dps = _ints(displacements)
        tm = T.hindexed([int(blocklength)] * len(dps), dps, self._t.tm)
        params = {"blocklength": int(blocklength), "displacements": dps}
        return _derived(tm, C.COMBINER_HINDEXED_BLOCK, params, self)

    def Create_subarray(
        self, sizes: Any, subsizes: Any, starts: Any, order: int = C.ORDER_C
    ) -> Datatype:
        """The ``subsizes`` block at ``starts`` of an array of shape ``sizes``
        (C or Fortran ``order``); the extent is the whole array's."""
        if order not in (C.ORDER_C, C.ORDER_F):
            raise MPIException(C.ERR_ARG, f"Invalid order {order}")
        sz, sub, st = _ints(sizes), _ints(subsizes), _ints(starts)
        tm = T.subarray(sz, sub, st, order == C.ORDER_F, self._t.tm)
        params = {"sizes": sz, "subsizes": sub, "starts": st, "order": int(order)}
        return _derived(tm, C.COMBINER_SUBARRAY, params, self)

    def Create_darray(
        self,
        size: int,
        rank: int,
        gsizes: Any,
        distribs: Any,
        dargs: Any,
        psizes: Any,
        order: int = C.ORDER_C,
    ) -> Datatype:
        """Process ``rank``'s part of a ``gsizes`` array distributed over a
        ``psizes`` grid of ``size`` processes (``DISTRIBUTE_BLOCK``,
        ``_CYCLIC`` or ``_NONE`` per dimension, with ``dargs``); the extent
        is the whole array's."""
        if order not in (C.ORDER_C, C.ORDER_F):
            raise MPIException(C.ERR_ARG, f"Invalid order {order}")
        gs, ds, da, ps = _ints(gsizes), _ints(distribs), _ints(dargs), _ints(psizes)
        try:
            if not len(gs) == len(ds) == len(da) == len(ps):
                raise ValueError("gsizes, distribs, dargs and psizes differ in length")
            dims = list(zip(gs, ds, da, ps, strict=True))
            tm = T.darray(int(size), int(rank), dims, order == C.ORDER_F, self._t.tm)
        except ValueError as exc:
            raise MPIException(C.ERR_ARG, f"Invalid argument: {exc}") from None
        params = {"size": int(size), "rank": int(rank), "gsizes": gs, "distribs": ds}
        params.update(dargs=da, psizes=ps, order=int(order))
        return _derived(tm, C.COMBINER_DARRAY, params, self)

    @classmethod
    def Create_struct(cls, blocklengths: Any, displacements: Any, datatypes: Any) -> Datatype:
        """Blocks of ``blocklengths[i]`` elements of ``datatypes[i]`` at
        ``displacements[i]`` bytes."""
        bls, dps, types = _ints(blocklengths), _ints(displacements), list(datatypes)
        tms = [_as_datatype(t)._t.tm for t in types]
        tm = T.struct(bls, dps, tms)
        params = {"blocklengths": bls, "displacements": dps, "datatypes": types}
        return _derived(tm, C.COMBINER_STRUCT, params, None)

    def Create_resized(self, lb: int, extent: int) -> Datatype:
        """The same data with bounds ``lb`` and ``lb + extent``."""
        tm = T.resized(self._t.tm, int(lb), int(extent))
        return _derived(tm, C.COMBINER_RESIZED, {"lb": int(lb), "extent": int(extent)}, self)

    Resized = Create_resized

    # -- how it was made ----------------------------------------------------------------------
    @property
    def combiner(self) -> int:
        """Combiner."""
        return self._t.combiner

    def Get_envelope(self) -> tuple[int, int, int, int, int]:
        """Return ``(num_integers, num_addresses, num_large_counts,
        num_datatypes, combiner)``; counts and displacements are large
        counts, as MPICH."""
        ints, addrs, counts, types = self._contents()
        return len(ints), len(addrs), len(counts), len(types), self._t.combiner

    envelope = property(Get_envelope)

    def Get_contents(self) -> tuple[list[int], list[int], list[int], list[Datatype]]:
        """Return ``(integers, addresses, large_counts, datatypes)`` of the
        constructor call."""
        return self._contents()

    contents = property(Get_contents)

    def _contents(self) -> tuple[list[int], list[int], list[int], list[Datatype]]:
        t = self._t
        p, kind = t.params, t.combiner
        olds = [_ref(t.old)] if t.old is not None else []
        if kind == C.COMBINER_NAMED:
            return [], [], [], []
        if kind in _F90:
            return [int(v) for v in p.values()], [], [], []
        if kind == C.COMBINER_DUP:
            return [], [], [], olds
        if kind == C.COMBINER_CONTIGUOUS:
            return [], [], [p["count"]], olds
        if kind in (C.COMBINER_VECTOR, C.COMBINER_HVECTOR):
            return [], [], [p["count"], p["blocklength"], p["stride"]], olds
        if kind in (C.COMBINER_INDEXED, C.COMBINER_HINDEXED):
            n = len(p["blocklengths"])
            return [], [], [n, *p["blocklengths"], *p["displacements"]], olds
        if kind in (C.COMBINER_INDEXED_BLOCK, C.COMBINER_HINDEXED_BLOCK):
            n = len(p["displacements"])
            return [], [], [n, p["blocklength"], *p["displacements"]], olds
        if kind == C.COMBINER_STRUCT:
            n = len(p["blocklengths"])
            counts = [n, *p["blocklengths"], *p["displacements"]]
            return [], [], counts, [_ref(d) for d in p["datatypes"]]
        if kind == C.COMBINER_DARRAY:
            n = len(p["gsizes"])
            ints = [p["size"], p["rank"], n, *p["distribs"], *p["dargs"], *p["psizes"], p["order"]]
            return ints, [], list(p["gsizes"]), olds
        if kind == C.COMBINER_SUBARRAY:
            counts = [*p["sizes"], *p["subsizes"], *p["starts"]]
            return [len(p["sizes"]), p["order"]], [], counts, olds
        return [], [], [p["lb"], p["extent"]], olds  # RESIZED

    def decode(self) -> tuple[Datatype, str, dict[str, Any]]:
        """Return ``(old type, combiner name, constructor arguments)``; a
        named type gives itself, ``"NAMED"`` and ``{}``."""
        t = self._t
        name = _COMBINER_NAMES[t.combiner]
        params = {k: (list(v) if isinstance(v, list) else v) for k, v in t.params.items()}
        if "datatypes" in params:
            params["datatypes"] = [_ref(d) for d in params["datatypes"]]
        if t.combiner == C.COMBINER_NAMED:
            return self, name, params
        if t.old is not None:
            return _ref(t.old), name, params
        # as mpi4py: the old type when the contents name exactly one
        types = self._contents()[3]
        return (types[0] if len(types) == 1 else DATATYPE_NULL), name, params

    # -- type codes -----------------------------------------------------------------------------
    def _root(self) -> _Type:
        """The predefined (or Fortran 90) type this one duplicates, or itself."""
        if self._h is None:
            raise ValueError("cannot map to character code or type string")
        t = self._t
        while t.combiner == C.COMBINER_DUP and t.old is not None:
            t = t.old._t
        return t

    def tocode(self) -> str:
        """The NumPy/buffer type code of a predefined type (or a duplicate)."""
        t = self._root()
        code = t.code
        if code is None:
            base = t.tm.base
            if t.combiner not in (C.COMBINER_NAMED, *_F90) or base is None or t.tm.kinds.size != 1:
                raise ValueError("cannot map to character code or type string")
            code = _typestr(base)
        return code

    @property
    def typestr(self) -> str:
        """The NumPy type string (``"i4"``); ``"V<extent>"`` for a type that
        is not one basic type (as mpi4py); ``""`` for the null type."""
        if self._h is None:
            return ""
        t = self._root()
        base = t.tm.base
        if t.combiner not in (C.COMBINER_NAMED, *_F90) or base is None or t.tm.kinds.size != 1:
            return f"V{t.tm.extent}"
        return _typestr(base)

    @property
    def typechar(self) -> str:
        """The one-character type code (``"i"``); ``"V"`` for a type that is
        not one basic type; ``""`` for the null type."""
        if self._h is None:
            return ""
        if self.typestr.startswith("V"):
            return "V"
        code = self.tocode()
        return code if len(code) == 1 else _CHAR.get(self.typestr, code)

    @classmethod
    def fromcode(cls, code: str) -> Datatype:
        """Get the predefined type of a character code or type string
        (``"i"``, ``"i4"``); ``ValueError`` for a code that names none."""
        try:
            return typedict[code]
        except KeyError:
            raise ValueError(f"cannot map code {code!r} to MPI datatype") from None

    @classmethod
    def Match_size(cls, typeclass: int, size: int) -> Datatype:
        """The predefined type of ``typeclass`` (``TYPECLASS_*``) with ``size`` bytes."""
        kinds = {C.TYPECLASS_INTEGER: "i", C.TYPECLASS_REAL: "f", C.TYPECLASS_COMPLEX: "c"}
        if typeclass not in kinds:
            raise MPIException(C.ERR_ARG, f"Invalid typeclass {typeclass}")
        code = f"{kinds[typeclass]}{int(size)}"
        if code not in typedict:
            raise MPIException(C.ERR_ARG, f"no type of class {typeclass} with size {size}")
        return typedict[code]

    @classmethod
    def Create_f90_integer(cls, r: int) -> Datatype:
        """The integer type of at least ``r`` decimal digits (``MPI_Type_create_f90_integer``)."""
        size = next((n for n, digits in ((1, 2), (2, 4), (4, 9), (8, 18)) if int(r) <= digits), 0)
        if not size:
            raise MPIException(C.ERR_ARG, f"Invalid argument: no integer type of {r} digits")
        return _f90(np.dtype(f"i{size}"), C.COMBINER_F90_INTEGER, {"r": int(r)})

    @classmethod
    def Create_f90_real(cls, p: int, r: int) -> Datatype:
        """The real type of at least ``p`` digits and exponent range ``r``."""
        return _f90(_real(p, r, "f"), C.COMBINER_F90_REAL, {"p": int(p), "r": int(r)})

    @classmethod
    def Create_f90_complex(cls, p: int, r: int) -> Datatype:
        """The complex type whose parts have ``p`` digits and exponent range ``r``."""
        return _f90(_real(p, r, "c"), C.COMBINER_F90_COMPLEX, {"p": int(p), "r": int(r)})

    @classmethod
    def Get_value_index(cls, value: Datatype, index: Datatype) -> Datatype:
        """The predefined MAXLOC/MINLOC pair type of ``value`` and ``index``."""
        value._t, index._t  # noqa: B018 (ERR_TYPE for the null type)
        if index == PREDEFINED["INT"]:
            for key, vname in TT.PAIR_VALUES.items():
                if value == PREDEFINED[vname]:
                    return PREDEFINED[key]
        return DATATYPE_NULL


def _ints(values: Any) -> list[int]:
    return [int(v) for v in values]


def _as_datatype(obj: Any) -> Datatype:
    if isinstance(obj, Datatype):
        return obj
    if isinstance(obj, str):
        return Datatype.fromcode(obj)
    raise TypeError(f"expected a Datatype, got {type(obj).__name__}")


def _derived(
    tm: T.Typemap, combiner: int, params: dict[str, Any], old: Datatype | None
) -> Datatype:
    # the type keeps its own handles of what it was made from: freeing the
    # caller's handles later leaves it whole, as MPI says
    if "datatypes" in params:
        params["datatypes"] = [_ref(_as_datatype(d)) for d in params["datatypes"]]
    dt = Datatype()
    dt._h = _Type(tm, "", combiner, params, None if old is None else _ref(old))
    return dt


def _real(p: int, r: int, kind: str) -> np.dtype[Any]:
    # (precision, range) of IEEE single and double, and of x86's long double
    for (digits, exponent), dt in (((6, 37), "4"), ((15, 307), "8"), ((18, 4931), "g")):
        if int(p) <= digits and int(r) <= exponent:
            if dt == "g":
                return np.dtype(np.longdouble if kind == "f" else np.clongdouble)
            return np.dtype(f"{kind}{int(dt) * (2 if kind == 'c' else 1)}")
    raise MPIException(C.ERR_ARG, f"Invalid argument: no real type of precision {p}, range {r}")


def _f90(dt: np.dtype[Any], combiner: int, params: dict[str, int]) -> Datatype:
    out = Datatype()
    out._h = _Type(T.basic(dt), "", combiner, params)
    return out


def _ref(dt: Datatype) -> Datatype:
    """A type as the contents of another give it: a predefined one itself, a
    derived one as a new handle (freeing it leaves the caller's alone)."""
    return dt if dt.is_predefined else Datatype(dt)


def _named(key: str) -> Datatype:
    return PREDEFINED[key]


def _rebuild(old: Datatype | None, name: str, params: dict[str, Any]) -> Datatype:
    """Unpickle a derived type by calling its constructor again."""
    if name == "STRUCT":
        return Datatype.Create_struct(**params)
    if name.startswith("F90_"):
        made: Datatype = getattr(Datatype, f"Create_f90_{name[4:].lower()}")(**params)
        return made
    assert old is not None
    calls = {
        "DUP": lambda: old.Dup(),
        "CONTIGUOUS": lambda: old.Create_contiguous(**params),
        "VECTOR": lambda: old.Create_vector(**params),
        "HVECTOR": lambda: old.Create_hvector(**params),
        "INDEXED": lambda: old.Create_indexed(**params),
        "HINDEXED": lambda: old.Create_hindexed(**params),
        "INDEXED_BLOCK": lambda: old.Create_indexed_block(**params),
        "HINDEXED_BLOCK": lambda: old.Create_hindexed_block(**params),
        "SUBARRAY": lambda: old.Create_subarray(**params),
        "DARRAY": lambda: old.Create_darray(**params),
        "RESIZED": lambda: old.Create_resized(**params),
    }
    return calls[name]()


DATATYPE_NULL = Datatype()


# -- the predefined types -----------------------------------------------------------------------
def _predefined() -> dict[str, Datatype]:
    out: dict[str, Datatype] = {}
    for key, (name, dt, code) in TT.SIMPLE.items():
        out[key] = Datatype()
        out[key]._h = _Type(T.basic(dt), name, C.COMBINER_NAMED, code=code, key=key)
    for key, (name, dt) in TT.PAIRS.items():
        out[key] = Datatype()
        out[key]._h = _Type(T.pair(dt), name, C.COMBINER_NAMED, key=key)
    for alias, key in TT.ALIASES.items():
        out[alias] = out[key]
    for key in TT.ABSENT:
        out[key] = DATATYPE_NULL
    return out


PREDEFINED = _predefined()


def _lookup(table: dict[str, str]) -> dict[str, Datatype]:
    return {code: PREDEFINED[key] for code, key in table.items()}


typedict = _lookup(TT.ALL_CODES)
typedict_c = _lookup(TT.C_CODES)
typedict_f = _lookup(TT.F_CODES)


def typecode(datatype: Datatype) -> str | None:
    """The type code of ``datatype``, or None when it has none (``_typecode``)."""
    try:
        return datatype.tocode()
    except (ValueError, MPIException):
        return None
