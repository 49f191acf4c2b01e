"""Attribute caching (``Create_keyval``, ``Set_attr``, ``Get_attr``,
``Delete_attr``, ``Free_keyval``) for communicators and datatypes.

A keyval carries a copy function and a delete function as mpi4py's do:
``copy_fn`` None or False (an attribute is not copied to a duplicate), True
(copied as it is) or ``copy_fn(obj, keyval, value)`` returning the copy or
``NotImplemented`` (not copied); ``delete_fn(obj, keyval, value)`` runs when
an attribute is deleted, replaced, or its object freed. An exception in
either is printed and raised as ``MPI.Exception(ERR_OTHER)``, as mpi4py
does. Attributes belong to the object a handle names (its ``_h``), so
every handle of one communicator sees them.
"""

from __future__ import annotations

import traceback
from typing import Any

from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException

__all__ = ["KeyvalCalls"]

_FIRST_KEYVAL = 1 << 10  # above every predefined attribute key


class _Keyval:
    __slots__ = ("copy_fn", "delete_fn", "nopython")

    def __init__(self, copy_fn: Any, delete_fn: Any, nopython: bool) -> None:
        self.copy_fn, self.delete_fn, self.nopython = copy_fn, delete_fn, nopython


_KEYVALS: dict[int, _Keyval] = {}
_NEXT = [_FIRST_KEYVAL]
# id(target) -> (target, {keyval: value}); the target is kept so its id stays its own
_ATTRS: dict[int, tuple[Any, dict[int, Any]]] = {}


def _call(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as exc:
        traceback.print_exc()
        raise MPIException(C.ERR_OTHER, f"attribute callback raised {type(exc).__name__}") from exc


def _keyval(keyval: int) -> _Keyval:
    kv = _KEYVALS.get(int(keyval))
    if kv is None:
        raise MPIException(C.ERR_KEYVAL, f"Invalid keyval {keyval}")
    return kv


class KeyvalCalls:
    """Mixed into ``Comm`` and ``Datatype`` (handles with ``_h``)."""

    __slots__ = ()
    _h: Any

    @classmethod
    def Create_keyval(
        cls, copy_fn: Any = None, delete_fn: Any = None, nopython: bool = False
    ) -> int:
        """A new attribute key with these copy and delete functions."""
        keyval = _NEXT[0]
        _NEXT[0] += 1
        _KEYVALS[keyval] = _Keyval(copy_fn, delete_fn, bool(nopython))
        return keyval

    @classmethod
    def Free_keyval(cls, keyval: int) -> int:
        """Forget ``keyval`` (attributes set with it stay); ``KEYVAL_INVALID``."""
        _keyval(keyval)
        del _KEYVALS[int(keyval)]
        return C.KEYVAL_INVALID

    def _attrs(self, make: bool = False) -> dict[int, Any] | None:
        target = self._h
        if target is None:
            raise MPIException(C.ERR_ARG, "Invalid argument: the null handle has no attributes")
        got = _ATTRS.get(id(target))
        if got is None or got[0] is not target:
            if not make:
                return None
            got = _ATTRS[id(target)] = (target, {})
        return got[1]

    def _user_attr(self, keyval: int) -> Any:
        if int(keyval) == C.KEYVAL_INVALID:
            raise MPIException(C.ERR_KEYVAL, f"Invalid keyval {keyval}")
        attrs = self._attrs()
        return None if attrs is None else attrs.get(int(keyval))

    def Set_attr(self, keyval: int, attrval: Any) -> None:
        kv = _keyval(keyval)
        attrs = self._attrs(make=True)
        assert attrs is not None
        if int(keyval) in attrs and kv.delete_fn is not None:
            _call(kv.delete_fn, self, int(keyval), attrs[int(keyval)])
        attrs[int(keyval)] = attrval

    def Delete_attr(self, keyval: int) -> None:
        kv = _keyval(keyval)
        attrs = self._attrs()
        if attrs is None or int(keyval) not in attrs:
            return
        value = attrs.pop(int(keyval))
        if kv.delete_fn is not None:
            _call(kv.delete_fn, self, int(keyval), value)

    def _copy_attrs_to(self, new: KeyvalCalls) -> None:
        """Copy the attributes whose keyval says so to duplicate ``new``."""
        attrs = self._attrs() if self._h is not None else None
        for keyval, value in list((attrs or {}).items()):
            kv = _KEYVALS.get(keyval)
            if kv is None or kv.copy_fn is None or kv.copy_fn is False:
                continue
            copy = value if kv.copy_fn is True else _call(kv.copy_fn, self, keyval, value)
            if copy is not NotImplemented:
                out = new._attrs(make=True)
                assert out is not None
                out[keyval] = copy

    def _free_attrs(self) -> None:
        """Run the delete functions of every attribute (the object is freed)."""
        if self._h is None:
            return
        got = _ATTRS.pop(id(self._h), None)
        if got is None or got[0] is not self._h:
            return
        for keyval, value in list(got[1].items()):
            kv = _KEYVALS.get(keyval)
            if kv is not None and kv.delete_fn is not None:
                _call(kv.delete_fn, self, keyval, value)
