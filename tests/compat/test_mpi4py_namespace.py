"""The layer's ``MPI`` namespace holds no module, as mpi4py's holds none:
programs and mpi4py's own tests walk it (``test_doc`` recursed forever
into ``asyncio`` through a module left among the names)."""

from __future__ import annotations

import types
from typing import Any

import pytest

from zmqmesh.compat.mpi4py import MPI

pytestmark = pytest.mark.timeout(30)


def test_no_module_among_the_names() -> None:
    modules = sorted(k for k, v in vars(MPI).items() if isinstance(v, types.ModuleType))
    assert modules == []


def test_a_walk_of_the_classes_ends() -> None:
    # As mpi4py's test_doc walks: modules and classes, bound class and static methods.
    seen: list[str] = []
    class_type = type(MPI.Comm)

    def walk(obj: Any, name: str, depth: int) -> None:
        assert depth < 8, f"{name}: the walk does not end"
        if type(obj) in (types.ModuleType, class_type):
            seen.append(name)
            for k, v in vars(obj).items():
                if isinstance(v, (classmethod, staticmethod)):
                    v = v.__get__(obj)
                if getattr(v, "__name__", None) is not None:
                    walk(v, f"{name}.{k}", depth + 1)

    walk(MPI, "MPI", 0)
    assert "MPI.Comm" in seen
    assert not [s for s in seen if s.count(".") > 2]
