"""MPI handles as mpi4py models them, and the address constants.

A handle object names an MPI object (its *target*) or nothing (the null
handle). Two handles of one family are equal when they name the same
object; ``bool(handle)`` is false for the null handle; handles are not
hashable (mpi4py defines equality but no hash); ``Family(other)`` is a new
handle naming ``other``'s object. Each family is the first subclass of
:class:`Handle`; ``Intracomm(comm) == comm`` holds across its subclasses.
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar

__all__ = [
    "BOTTOM",
    "BUFFER_AUTOMATIC",
    "IN_PLACE",
    "BottomType",
    "BufferAutomaticType",
    "Handle",
    "InPlaceType",
    "is_bottom",
    "is_in_place",
]


class Handle:
    """Base of the handle families (Datatype, Comm, Request, Op, ...)."""

    __slots__ = ("__weakref__", "_h")
    _h: Any
    # (the family's class,): a tuple, not the class itself, so that a walk of
    # the classes' attributes by name (mpi4py's own tests do one) ends
    _family: ClassVar[tuple[type[Handle]]]
    __hash__ = None  # type: ignore[assignment]  # as mpi4py: equality, no hash

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if Handle in cls.__bases__:
            cls._family = (cls,)

    # As in mpi4py (whose handles are extension types), the handle is taken
    # in __new__ and __init__ does nothing: a subclass's __new__ may pass
    # another handle on (``super().__new__(cls, comm.Clone())``) and that
    # is the one kept, whatever arguments __init__ then sees.
    def __new__(cls, other: Handle | None = None, *args: Any, **kwargs: Any) -> Any:
        if other is not None and not isinstance(other, cls._family):
            raise TypeError(f"expected {cls._family[0].__name__}, got {type(other).__name__}")
        obj = super().__new__(cls)
        obj._h = None if other is None else other._h
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Handle) or other._family is not self._family:
            return NotImplemented
        return self._h is other._h

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __bool__(self) -> bool:
        return self._h is not None

    def __lt__(self, other: object) -> bool:
        raise TypeError(f"unorderable type: '{type(self).__name__}'")

    __le__ = __gt__ = __ge__ = __lt__

    # The C and Fortran faces of a handle. There is no MPI library
    # underneath, so a handle's integer is a number the layer gives its
    # target on first request (0 for the null handle), good for a round
    # trip through handle/fromhandle, toint/fromint and py2f/f2py within
    # the process, as with MPICH's integer handles.
    @property
    def handle(self) -> int:
        return _number_of(self._h)

    def toint(self) -> int:
        """The handle as an integer."""
        return _number_of(self._h)

    def py2f(self) -> int:
        """The Fortran handle: not available (no Fortran underneath)."""
        return _number_of(self._h)

    @classmethod
    def fromhandle(cls, handle: int) -> Any:
        """The handle of the object that ``handle`` (an integer from
        ``toint``, ``py2f`` or ``.handle``) names."""
        target = _target_of(int(handle))
        kind = cls._class_for(target)
        obj = kind.__new__(kind)
        obj._h = target
        return obj

    @classmethod
    def _class_for(cls, target: Any) -> type[Handle]:
        """The class of a handle of ``cls``'s family naming ``target``."""
        return cls

    fromint = fromhandle
    f2py = fromhandle

    def free(self) -> None:
        """Free what this handle names and make it null, except that a
        predefined handle stays as it is and a copy of one only becomes
        null (mpi4py's safe ``free``); nothing for the null handle."""
        if self._h is None:
            return
        known = _predefined_like(self)
        if known is not None:
            if known[1] is not self:
                self._h = None
            return
        release = getattr(self, "Free", None)
        if release is not None:
            release()
        self._h = None

    def __reduce__(self) -> Any:
        # a predefined handle unpickles as itself, a copy of one as a copy;
        # others cannot travel (as in mpi4py)
        known = _predefined_like(self)
        if known is None:
            raise ValueError(f"cannot pickle {type(self).__name__} handle")
        name, obj = known
        return (_predefined, (name,)) if obj is self else (type(self), (obj,))


def _predefined(name: str) -> Any:
    return getattr(sys.modules["zmqmesh.compat.mpi4py.MPI"], name)


def _predefined_like(handle: Handle) -> tuple[str, Handle] | None:
    """``(name, handle)`` of the predefined handle of ``MPI`` that names the
    same object as ``handle`` (the handle itself first), or None."""
    mpi = sys.modules.get("zmqmesh.compat.mpi4py.MPI")
    if mpi is None:
        return None
    found: tuple[str, Handle] | None = None
    for name, obj in vars(mpi).items():
        if isinstance(obj, Handle) and obj._family is handle._family and name.isupper():
            if obj is handle:
                return name, obj
            if found is None and obj._h is handle._h:
                found = name, obj
    return found


# number <-> target of the handles whose integer was asked for; a target
# stays alive while the process does (programs pass such integers to C
# code that may convert them back at any time).
_NUMBERS: dict[int, int] = {}
_TARGETS: dict[int, Any] = {}


def _number_of(target: Any) -> int:
    if target is None:
        return 0
    number = _NUMBERS.get(id(target))
    if number is None or _TARGETS.get(number) is not target:
        number = len(_TARGETS) + 1
        _NUMBERS[id(target)] = number
        _TARGETS[number] = target
    return number


def _target_of(number: int) -> Any:
    if number == 0:
        return None
    try:
        return _TARGETS[number]
    except KeyError:
        raise ValueError(f"{number} is not a handle of this process") from None


class BottomType(int):
    """Type of ``BOTTOM``: address zero, the base of absolute addresses."""

    def __repr__(self) -> str:
        return "BOTTOM"

    __str__ = __repr__

    def __reduce__(self) -> str:
        return "BOTTOM"


class InPlaceType(int):
    """Type of ``IN_PLACE``: "the receive buffer also holds my input"."""

    def __repr__(self) -> str:
        return "IN_PLACE"

    __str__ = __repr__

    def __reduce__(self) -> str:
        return "IN_PLACE"


class BufferAutomaticType(int):
    """Type of ``BUFFER_AUTOMATIC`` (``Attach_buffer``: let MPI allocate)."""

    def __repr__(self) -> str:
        return "BUFFER_AUTOMATIC"

    __str__ = __repr__

    def __reduce__(self) -> str:
        return "BUFFER_AUTOMATIC"


# Addresses as MPICH numbers them; only their identity matters here.
BOTTOM = BottomType(0)
IN_PLACE = InPlaceType(-1)
BUFFER_AUTOMATIC = BufferAutomaticType(0)


def is_bottom(obj: object) -> bool:
    return obj is None or obj is BOTTOM


def is_in_place(obj: object) -> bool:
    """Whether a collective's buffer argument asks for "in place": as in
    mpi4py, ``None`` does wherever ``IN_PLACE`` may stand."""
    return obj is IN_PLACE or obj is None
