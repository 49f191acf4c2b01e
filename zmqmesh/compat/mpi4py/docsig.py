"""Docstrings that begin with the call's signature, as mpi4py's do.

mpi4py is compiled with its signatures embedded: ``MPI.Comm.Get_rank.__doc__``
is ``"Get_rank(self) -> int\\n\\nReturn the rank of this process in a
communicator."`` and a property's is ``"rank: int\\n\\nRank of this
process."``. ``help()`` shows that first line, and programs and mpi4py's own
tests read past it (``test_doc`` drops it and checks the rest). ``embed``
gives the layer's functions, methods and properties the same form, once, at
the import of ``MPI``: from each one's signature, with its annotations as
written in the source.
"""

from __future__ import annotations

import inspect
import types
import weakref
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["embed"]

_DONE = "__zmqmesh_signature__"  # marks a function whose docstring has its signature
_done_classes: weakref.WeakSet[type] = weakref.WeakSet()  # classes whose docstring is done


class _Written(str):
    """An annotation as written in the source (``inspect`` shows its repr)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


def _as_written(annotation: Any) -> Any:
    if annotation is inspect.Parameter.empty:
        return annotation
    if isinstance(annotation, str):
        return _Written(annotation)
    return _Written(getattr(annotation, "__name__", None) or repr(annotation))


def signature(name: str, fn: Callable[..., Any]) -> str:
    """``name(params) -> returns``, as mpi4py's first docstring line."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return f"{name}(*args, **kwargs)"
    params = [p.replace(annotation=_as_written(p.annotation)) for p in sig.parameters.values()]
    sig = sig.replace(parameters=params, return_annotation=_as_written(sig.return_annotation))
    return f"{name}{sig}"


def _body(doc: str | None) -> str:
    """``doc`` dedented, its first paragraph on one line: a summary line,
    as mpi4py's are."""
    text = inspect.cleandoc(doc) if doc else ""
    head, sep, rest = text.partition("\n\n")
    return " ".join(line.strip() for line in head.splitlines()) + sep + rest


def _function(name: str, fn: types.FunctionType) -> None:
    if getattr(fn, _DONE, False):
        return  # an alias of one done already (``Irsend = Isend``)
    fn.__doc__ = f"{signature(name, fn)}\n\n{_body(fn.__doc__)}"
    setattr(fn, _DONE, True)


def _property(name: str, prop: property) -> None:
    if prop.fget is None:
        return
    returns = getattr(prop.fget, "__annotations__", {}).get("return")
    head = f"{name}: {_as_written(returns)}" if returns is not None else name
    prop.__doc__ = f"{head}\n\n{_body(prop.__doc__)}"


def _members(cls: type) -> Iterable[tuple[str, Any, Any]]:
    where = vars(cls)
    for name, value in where.items():
        if isinstance(value, (classmethod, staticmethod)):
            value = value.__func__
        yield name, value, where


def _called(key: str, fn: types.FunctionType, where: Any) -> str:
    """The name ``fn`` goes by: its own, when it is found under it too (an
    alias such as ``Irsend = Isend`` is named as the original), else the
    one it is installed under (``Get_parent = classmethod(_get_parent)``)."""
    own = fn.__name__
    if own == key:
        return key
    found = where.get(own)
    if isinstance(found, (classmethod, staticmethod)):
        found = found.__func__
    return own if found is fn else key


def _members_of_all(cls: type, package: str) -> Iterable[tuple[str, Any, Any]]:
    """The members of ``cls`` and of its bases defined under ``package``,
    each with the mapping it was found in."""
    for klass in cls.__mro__:
        if klass.__module__.startswith(package):
            yield from _members(klass)


def embed(namespace: dict[str, Any], package: str) -> None:
    """Give every function in ``namespace``, and every method and property
    of its classes defined under ``package``, a docstring that begins with
    its signature. A property's, once done, starts with its name and a
    colon, which the next call recognizes."""
    seen_props: set[int] = set()
    for key, value in list(namespace.items()):
        if isinstance(value, types.FunctionType):
            _function(_called(key, value, namespace), value)
        elif isinstance(value, type) and value.__module__.startswith(package):
            if value.__doc__ and value not in _done_classes:
                value.__doc__ = _body(value.__doc__)
                _done_classes.add(value)
            for name, member, where in _members_of_all(value, package):
                if isinstance(member, types.FunctionType):
                    _function(_called(name, member, where), member)
                elif isinstance(member, property) and id(member) not in seen_props:
                    seen_props.add(id(member))
                    doc = member.__doc__ or ""
                    if not doc.startswith(f"{name}:") and doc.partition("\n")[0] != name:
                        _property(name, member)
