"""Reduction operations: MPI's built-in ops and user ops.

Theory of operation. An :class:`Op` combines two operands, ``op(a, b)``,
where ``a`` is always the operand of the LOWER rank (the left one). Reduction
algorithms hold a *working value* ``acc`` that they own and fold received
values into with :meth:`Op.combine_into`; ``left`` says on which side ``acc``
stands, so a non-commutative op sees its operands in rank order whatever the
algorithm's communication pattern.

Invariants:

1. Neither operand is ever written, except ``acc`` in ``combine_into``; a
   received operand may be a read-only view of a ZeroMQ frame.
2. For a built-in op and an ndarray ``acc``, ``combine_into`` writes the
   result into ``acc`` with one ufunc call (``out=acc``, ``casting="safe"``)
   and returns ``acc`` itself: no allocation, one pass over the data. A
   result that ``acc``'s dtype cannot hold safely (``int32`` acc, ``int64``
   operand) raises ``TypeError`` instead of truncating.
3. ``combine_into(acc, b, left=True)`` equals ``op(acc, b)`` and
   ``combine_into(acc, b, left=False)`` equals ``op(b, acc)``.
4. :func:`working_copy` is the only place an algorithm gets a writable array:
   it copies ndarrays (and the arrays of MAXLOC/MINLOC pairs), never aliases.

Semantics of the built-ins. On ndarrays they act element-wise through NumPy
ufuncs (``np.add``, ``np.multiply``, ``np.maximum``, ``np.minimum``,
``np.logical_and/or/xor``, ``np.bitwise_and/or/xor``), so they follow NumPy:
integer overflow wraps, ``SUM``/``PROD`` of bool arrays are OR/AND, ``MAX``
and ``MIN`` propagate NaN (``np.maximum``/``np.minimum``, not ``fmax``) and
order complex numbers lexicographically. The logical ops keep the operands'
dtype (0/1 written into an int or float array). Bitwise ops on float or
complex arrays raise ``TypeError``. On Python values and NumPy scalars they
act as the operators do, as mpi4py's Python-object ops: ``SUM`` is ``a + b``,
``PROD`` ``a * b``, ``MAX`` ``b if b > a else a`` (the left operand on ties and
on unordered values such as NaN), ``MIN`` ``b if b < a else a``, ``LAND``
``a and b``, ``LOR`` ``a or b``, ``LXOR`` ``bool(a) != bool(b)``, ``BAND``
``a & b``, ``BOR`` ``a | b``, ``BXOR`` ``a ^ b``.

``MAXLOC``/``MINLOC`` take ``(value, index)`` tuples: either scalars, giving a
tuple, or a pair of equally shaped arrays, combined element-wise. The better
value wins; on equal (or unordered, e.g. NaN) values the result keeps the left
operand's value and the LOWEST index.

This module is pure: no I/O, no asyncio.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final

import numpy as np

__all__ = [
    "BAND",
    "BOR",
    "BUILTINS",
    "BXOR",
    "LAND",
    "LOR",
    "LXOR",
    "MAX",
    "MAXLOC",
    "MIN",
    "MINLOC",
    "PROD",
    "SUM",
    "Op",
    "op_id",
    "working_copy",
]

_Call = Callable[[Any, Any], Any]
_Into = Callable[[Any, Any, bool], Any]


class Op:
    """A reduction operation: ``fn(a, b) -> c`` where ``a`` is the operand of
    the lower rank.

    ``commute`` promises that ``fn(a, b) == fn(b, a)``; algorithms may then
    combine in any order. A user ``fn`` must not modify its arguments (they
    may be read-only views of received data) and must be associative, as MPI
    requires. ``name`` defaults to ``fn.__qualname__``. Ops are immutable;
    the built-ins pickle and copy as themselves.
    """

    __slots__ = ("_builtin", "_call", "_commute", "_fn", "_id", "_into", "_name", "_to")

    _builtin: bool
    _call: _Call
    _commute: bool
    _fn: _Call
    _id: str
    _into: _Into
    _name: str
    _to: Callable[[np.ndarray, Any, Any], None]

    def __init__(self, fn: _Call, commute: bool = True, *, name: str | None = None) -> None:
        if not callable(fn):
            raise TypeError(f"Op needs a callable fn(a, b) -> c, got {type(fn).__name__}")
        qualname = getattr(fn, "__qualname__", None) or type(fn).__qualname__
        module = getattr(fn, "__module__", None) or type(fn).__module__
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Op name must be a str, got {type(name).__name__}")
        self._init(fn, fn, _user_into(fn), bool(commute), qualname if name is None else name)
        object.__setattr__(self, "_to", _user_to(fn))
        object.__setattr__(self, "_id", f"user:{module}.{qualname}")
        object.__setattr__(self, "_builtin", False)

    def _init(self, fn: _Call, call: _Call, into: _Into, commute: bool, name: str) -> None:
        object.__setattr__(self, "_fn", fn)
        object.__setattr__(self, "_call", call)
        object.__setattr__(self, "_into", into)
        object.__setattr__(self, "_commute", commute)
        object.__setattr__(self, "_name", name)

    @classmethod
    def _make_builtin(
        cls,
        name: str,
        call: _Call,
        into: _Into,
        to: Callable[[np.ndarray, Any, Any], None] | None = None,
    ) -> Op:
        op = cls.__new__(cls)
        op._init(call, call, into, True, name)
        object.__setattr__(op, "_to", to or _user_to(call))
        object.__setattr__(op, "_id", name)
        object.__setattr__(op, "_builtin", True)
        return op

    def __setattr__(self, name: str, value: Any) -> None:
        # Built-ins are shared module globals: a stray assignment must not
        # change SUM for every communicator in the process.
        raise AttributeError(f"{self!r} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{self!r} is immutable")

    @property
    def name(self) -> str:
        """The op's name: ``"SUM"`` for a built-in, ``fn``'s qualname (or the
        ``name`` given) for a user op."""
        return self._name

    @property
    def commute(self) -> bool:
        """Whether the op is commutative (every built-in is)."""
        return self._commute

    def __call__(self, a: Any, b: Any) -> Any:
        """``a`` op ``b`` as a new value; neither argument is modified."""
        return self._call(a, b)

    def combine_into(self, acc: Any, b: Any, *, left: bool) -> Any:
        """Fold ``b`` into the working value ``acc`` and return the result.

        ``left=True`` computes ``op(acc, b)`` (``acc`` holds the lower ranks);
        ``left=False`` computes ``op(b, acc)``. ``acc`` must be owned by the
        caller (see :func:`working_copy`); ``b`` is never written. For a
        built-in op and an ndarray ``acc`` the result is written into ``acc``
        and ``acc`` is returned; otherwise a new value is returned. Raises
        ``TypeError`` for operands the op is not defined on (naming the op
        and the dtypes or types) and ``ValueError`` for arrays of different
        shapes.
        """
        return self._into(acc, b, left)

    def combine_to(self, out: np.ndarray, a: Any, b: Any) -> None:
        """Write ``op(a, b)`` into the array ``out`` (same shape and dtype as
        the operands), reading ``a`` and ``b`` without writing them: one pass
        over memory for a built-in op, so an algorithm can reduce a caller's
        array and a received one straight into its result buffer."""
        self._to(out, a, b)

    def __repr__(self) -> str:
        if self._builtin:
            return f"zmqmesh.{self._name}"
        return f"zmqmesh.Op({self._fn!r}, commute={self._commute}, name={self._name!r})"

    def __reduce__(self) -> str | tuple[Callable[[_Call, bool, str], Op], tuple[_Call, bool, str]]:
        if self._builtin:
            return self._name  # the module global of that name: unpickles as itself
        return (_user_op, (self._fn, self._commute, self._name))


def _user_op(fn: _Call, commute: bool, name: str) -> Op:
    return Op(fn, commute, name=name)


def _user_to(fn: _Call) -> Callable[[np.ndarray, Any, Any], None]:
    def to(out: np.ndarray, a: Any, b: Any) -> None:
        out[...] = fn(a, b)

    return to


def _user_into(fn: _Call) -> _Into:
    def into(acc: Any, b: Any, left: bool) -> Any:
        return fn(acc, b) if left else fn(b, acc)

    return into


def op_id(op: Op) -> str:
    """A stable identifier of ``op`` for collective signatures: the name of a
    built-in (``"SUM"``), ``"user:<module>.<qualname>"`` of a user op's
    function. Raises ``TypeError`` if ``op`` is not an :class:`Op`."""
    if not isinstance(op, Op):
        raise TypeError(f"expected a zmqmesh.Op, got {type(op).__name__}")
    return op._id


def working_copy(x: Any) -> Any:
    """A value an algorithm may overwrite without touching the caller's.

    An ndarray becomes a writable, owned copy with the same layout
    (``np.array(x, copy=True, order="K")``; a subclass becomes a plain
    ndarray); a tuple holding arrays (a MAXLOC pair) becomes a tuple of
    copies; anything else (Python values, NumPy scalars, which are immutable)
    is returned as is.
    """
    if isinstance(x, np.ndarray):
        return np.array(x, copy=True, order="K")
    if type(x) is tuple and any(isinstance(e, np.ndarray) for e in x):
        return tuple(
            np.array(e, copy=True, order="K") if isinstance(e, np.ndarray) else e for e in x
        )
    return x


# -- built-ins --------------------------------------------------------------


def _describe(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return f"{x.dtype} array"
    if isinstance(x, np.generic):
        return f"{x.dtype} scalar"
    return type(x).__name__


def _shape_error(name: str, a: np.ndarray, b: np.ndarray) -> ValueError:
    return ValueError(f"zmqmesh.{name} needs arrays of one shape, got {a.shape} and {b.shape}")


def _type_error(name: str, a: Any, b: Any, exc: Exception) -> TypeError:
    return TypeError(f"zmqmesh.{name} is not defined for {_describe(a)} and {_describe(b)}: {exc}")


def _elementwise(name: str, ufunc: np.ufunc, py: _Call) -> Op:
    def call(a: Any, b: Any) -> Any:
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            if isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape != b.shape:
                raise _shape_error(name, a, b)
            try:
                # result_type, not the ufunc's own output type: logical ops keep
                # the operands' dtype, and 0-d operands give a 0-d array.
                out = np.empty(np.broadcast_shapes(np.shape(a), np.shape(b)), np.result_type(a, b))
                ufunc(a, b, out=out)
            except TypeError as exc:
                raise _type_error(name, a, b, exc) from exc
            return out
        try:
            return py(a, b)
        except TypeError as exc:
            raise _type_error(name, a, b, exc) from exc

    def into(acc: Any, b: Any, left: bool) -> Any:
        if not isinstance(acc, np.ndarray):
            return call(acc, b) if left else call(b, acc)
        if isinstance(b, np.ndarray) and b.shape != acc.shape:
            raise _shape_error(name, acc, b)
        try:
            if left:
                ufunc(acc, b, out=acc, casting="safe")
            else:
                ufunc(b, acc, out=acc, casting="safe")
        except TypeError as exc:
            raise _type_error(name, acc, b, exc) from exc
        return acc

    def to(out: np.ndarray, a: Any, b: Any) -> None:
        if isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape:
            try:
                ufunc(a, b, out=out, casting="safe")
                return
            except TypeError as exc:
                raise _type_error(name, a, b, exc) from exc
        out[...] = call(a, b)

    return Op._make_builtin(name, call, into, to)


def _py_max(a: Any, b: Any) -> Any:
    return b if b > a else a


def _py_min(a: Any, b: Any) -> Any:
    return b if b < a else a


def _py_land(a: Any, b: Any) -> Any:
    return a and b


def _py_lor(a: Any, b: Any) -> Any:
    return a or b


def _py_lxor(a: Any, b: Any) -> bool:
    return bool(a) != bool(b)


def _loc(name: str, better: _Call, better_uf: np.ufunc) -> Op:
    """MAXLOC (``better`` is ``>``) or MINLOC (``<``) on ``(value, index)`` pairs."""

    def pair(x: Any) -> tuple[Any, Any]:
        if type(x) is not tuple or len(x) != 2:
            got = f"a tuple of length {len(x)}" if type(x) is tuple else _describe(x)
            raise TypeError(f"zmqmesh.{name} takes (value, index) tuples, got {got}")
        return x

    def is_array_pair(u: Any, i: Any) -> bool:
        return isinstance(u, np.ndarray) or isinstance(i, np.ndarray)

    def call(a: Any, b: Any) -> Any:
        (u, i), (v, j) = pair(a), pair(b)
        if is_array_pair(u, i) or is_array_pair(v, j):
            try:
                acc = (
                    np.asarray(u).astype(np.result_type(u, v)),
                    np.asarray(i).astype(np.result_type(i, j)),
                )
            except TypeError as exc:
                raise _type_error(name, u, v, exc) from exc
            return into(acc, b, True)
        try:
            if better(u, v):
                return (u, i)
            if better(v, u):
                return (v, j)
            return (u, j if j < i else i)
        except TypeError as exc:
            raise _type_error(name, u, v, exc) from exc

    def into(acc: Any, b: Any, left: bool) -> Any:
        av, ai = pair(acc)
        bv, bi = pair(b)
        if not (isinstance(av, np.ndarray) and isinstance(ai, np.ndarray)):
            return call(acc, b) if left else call(b, acc)
        shapes = {av.shape, ai.shape, np.shape(bv), np.shape(bi)}
        if len(shapes) != 1:
            raise ValueError(
                f"zmqmesh.{name} needs value and index arrays of one shape, got "
                f"{av.shape}, {ai.shape} (working) and {np.shape(bv)}, {np.shape(bi)} (received)"
            )
        try:
            b_better = better_uf(bv, av)
            a_better = better_uf(av, bv)
            tie = np.logical_not(np.logical_or(b_better, a_better))  # equal or unordered
            np.minimum(ai, bi, out=ai, where=tie, casting="safe")
            np.copyto(ai, bi, where=b_better, casting="safe")
            # The value comes from the left operand unless the right one is better.
            np.copyto(av, bv, where=b_better if left else np.logical_not(a_better), casting="safe")
        except TypeError as exc:
            raise _type_error(name, av, bv, exc) from exc
        return acc

    return Op._make_builtin(name, call, into)


SUM: Final = _elementwise("SUM", np.add, operator.add)
PROD: Final = _elementwise("PROD", np.multiply, operator.mul)
MAX: Final = _elementwise("MAX", np.maximum, _py_max)
MIN: Final = _elementwise("MIN", np.minimum, _py_min)
LAND: Final = _elementwise("LAND", np.logical_and, _py_land)
LOR: Final = _elementwise("LOR", np.logical_or, _py_lor)
LXOR: Final = _elementwise("LXOR", np.logical_xor, _py_lxor)
BAND: Final = _elementwise("BAND", np.bitwise_and, operator.and_)
BOR: Final = _elementwise("BOR", np.bitwise_or, operator.or_)
BXOR: Final = _elementwise("BXOR", np.bitwise_xor, operator.xor)
MAXLOC: Final = _loc("MAXLOC", operator.gt, np.greater)
MINLOC: Final = _loc("MINLOC", operator.lt, np.less)

BUILTINS: Final[Mapping[str, Op]] = MappingProxyType(
    {op.name: op for op in (SUM, PROD, MAX, MIN, LAND, LOR, LXOR, BAND, BOR, BXOR, MAXLOC, MINLOC)}
)
"""The built-in ops by name (the :func:`op_id` of each)."""
