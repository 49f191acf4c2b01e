"""``MPI.Op``: reduction operations as handles over zmqmesh's ops.

A user function given to ``Op.Create`` follows mpi4py: for buffers it is
``function(invec, inoutvec, datatype)`` and updates ``inoutvec`` in place
(its return value, when not None, is taken instead); for Python objects
``function(a, b)`` returns the result. ``REPLACE`` and ``NO_OP`` keep the
right and the left operand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import zmqmesh
from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.handles import Handle
from zmqmesh.compat.mpi4py.msgspec import Message, parse

__all__ = ["OP_NULL", "PREDEFINED_OPS", "Op", "reduce_local", "zop"]


class Op(Handle):
    """A reduction operation (``MPI.SUM``, ``MPI.Op.Create(fn)``...)."""

    __slots__ = ()

    @classmethod
    def _of(cls, op: zmqmesh.Op) -> Op:
        o = cls()
        o._h = op
        return o

    @classmethod
    def Create(cls, function: Callable[..., Any], commute: bool = False) -> Op:
        """A user operation from ``function`` (see the module's notes)."""

        def fn(a: Any, b: Any) -> Any:
            if isinstance(b, np.ndarray):
                inout = np.array(b, copy=True)
                got = function(a, inout, None)
                return inout if got is None else got
            try:
                return function(a, b)
            except TypeError:
                return function(a, b, None)

        if len(_USER_OPS) >= MAX_USER_OPS:
            raise RuntimeError(f"cannot create more than {MAX_USER_OPS} user operations")
        name = getattr(function, "__qualname__", "user op")
        made = cls._of(zmqmesh.Op(fn, commute=bool(commute), name=name))
        _USER_OPS[id(made._h)] = (made._h, function, bool(commute), made)
        return made

    def __repr__(self) -> str:
        return "<mpi4py.MPI.Op OP_NULL>" if self._h is None else f"<mpi4py.MPI.Op {self._h.name}>"

    def __reduce__(self) -> tuple[Any, ...]:
        for name, op in PREDEFINED_OPS.items():
            if op._h is self._h:
                return (_named_op, (name,)) if op is self else (Op, (op,))
        if self._h is None:
            got: tuple[Any, ...] = super().__reduce__()
            return got
        user = _USER_OPS.get(id(self._h))
        if user is None or user[0] is not self._h or user[3] is not self:
            # (a copy made from a handle integer has no function to give)
            raise ValueError("cannot pickle this MPI.Op")
        return (Op.Create, (user[1], user[2]))  # a new op of the same function

    def __call__(self, x: Any, y: Any) -> Any:
        """Return ``x op y``; ``ValueError`` for the null op, as mpi4py."""
        if self._h is None:
            raise ValueError("cannot call the null MPI.Op")
        if self._h is PREDEFINED_OPS["MAXLOC"]._h:
            return _loc(x, y, lambda a, b: a > b)
        if self._h is PREDEFINED_OPS["MINLOC"]._h:
            return _loc(x, y, lambda a, b: a < b)
        return zop(self)(x, y)

    def Reduce_local(self, inbuf: Any, inoutbuf: Any) -> None:
        """Apply the operation on this rank: ``inoutbuf = inbuf op inoutbuf``,
        element-wise."""
        reduce_local(inbuf, inoutbuf, self)

    def Free(self) -> None:
        """Free a user operation (the handle becomes ``OP_NULL``)."""
        if self.is_predefined:
            raise MPIException(C.ERR_OP, "Invalid MPI_Op (a predefined op cannot be freed)")
        _USER_OPS.pop(id(self._h), None)
        self._h = None

    def Is_commutative(self) -> bool:
        """Whether the operation is commutative."""
        return bool(zop(self).commute)

    is_commutative = property(Is_commutative)

    @property
    def is_predefined(self) -> bool:
        """Is a predefined operation."""
        return self._h is None or any(op._h is self._h for op in PREDEFINED_OPS.values())


# as mpi4py: at most this many user operations live at once; what each was
# made of (its zmqmesh op, the function, commute), by id of its zmqmesh op
MAX_USER_OPS = 32
_USER_OPS: dict[int, tuple[zmqmesh.Op, Callable[..., Any], bool, Op]] = {}


def _loc(x: Any, y: Any, better: Callable[[Any, Any], bool]) -> tuple[Any, Any]:
    """MAXLOC/MINLOC of two ``(value, index)`` pairs (any sequences): the
    better value, the lower index on a tie; the parts are the inputs' own."""
    (u, i), (v, j) = x, y
    if better(u, v):
        return u, i
    if better(v, u) or j < i:
        return v, j
    return u, i


def zop(op: Any) -> zmqmesh.Op:
    """The zmqmesh op of ``op`` (an ``MPI.Op`` or a zmqmesh op)."""
    if isinstance(op, Op):
        if op._h is None:
            raise MPIException(C.ERR_OP, "Invalid MPI_Op (the null op)")
        got: zmqmesh.Op = op._h
        return got
    if isinstance(op, zmqmesh.Op):
        return op
    raise TypeError(f"expected an MPI.Op, got {type(op).__name__}")


def check_reduction(send: Message, recv: Message, counts: bool = True) -> None:
    """A reduction's send and receive buffers must be of one datatype and,
    with ``counts``, of one count; raises ``ValueError`` as mpi4py does."""
    if send.datatype != recv.datatype:
        raise ValueError("mismatch in send and receive MPI datatypes")
    if counts and send.count != recv.count:
        raise ValueError(f"mismatch in send count {send.count} and receive count {recv.count}")


def reduce_local(inbuf: Any, inoutbuf: Any, op: Any) -> None:
    """``inoutbuf = inbuf op inoutbuf``, element-wise (buffer specifications)."""
    src = parse(inbuf, writable=False)
    out = parse(inoutbuf, writable=True)
    check_reduction(src, out)
    user = _USER_OPS.get(id(op._h)) if isinstance(op, Op) else None
    if user is not None and user[0] is op._h:
        # a user function sees the packed bytes and the datatype, as in mpi4py
        inout = np.array(out.pack(), copy=True)
        data = np.array(src.pack(), copy=True)
        user[1](memoryview(data), memoryview(inout), out.datatype)  # type: ignore[arg-type]
        out.unpack(inout)
        return
    b = np.array(out.typed(), copy=True)
    got = zop(op)(np.array(src.typed(), copy=True), b)
    out.unpack(np.ascontiguousarray(np.asarray(got, b.dtype)).reshape(-1).view(np.uint8))


def _named_op(name: str) -> Op:
    return PREDEFINED_OPS[name]


def _replace(a: Any, b: Any) -> Any:
    return b


def _no_op(a: Any, b: Any) -> Any:
    return a


PREDEFINED_OPS: dict[str, Op] = {
    name: Op._of(getattr(zmqmesh, name))
    for name in (
        *("SUM", "PROD", "MAX", "MIN", "LAND", "LOR", "LXOR"),
        *("BAND", "BOR", "BXOR", "MAXLOC", "MINLOC"),
    )
}
PREDEFINED_OPS["REPLACE"] = Op._of(zmqmesh.Op(_replace, commute=False, name="REPLACE"))
PREDEFINED_OPS["NO_OP"] = Op._of(zmqmesh.Op(_no_op, commute=False, name="NO_OP"))
OP_NULL = Op()
