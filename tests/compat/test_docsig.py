"""Docstrings in mpi4py's form (``docsig.py``): the signature first, then
the text, whose first paragraph is one summary line."""

from __future__ import annotations

import types
from typing import Any

import pytest

from zmqmesh.compat.mpi4py import MPI, docsig

pytestmark = pytest.mark.timeout(30)


def test_methods_functions_and_properties_begin_with_their_signature() -> None:
    assert MPI.Comm.Get_rank.__doc__.startswith("Get_rank(self) -> int\n\n")
    assert MPI.Comm.Send.__doc__.startswith("Send(self, buf: Any, dest: int, tag: int = 0)")
    assert MPI.Init.__doc__.startswith("Init() -> None\n\n")
    assert MPI.Comm.rank.__doc__.startswith("rank: int\n\n")
    # installed under another name than its own, and an alias named as the original
    assert MPI.Comm.Get_parent.__doc__.startswith("Get_parent(cls")
    assert MPI.Comm.Irsend.__doc__.startswith("Isend(self,")


def test_embedding_twice_changes_nothing() -> None:
    before = {k: getattr(v, "__doc__", None) for k, v in vars(MPI.Comm).items()}
    docsig.embed(vars(MPI), "zmqmesh.compat.mpi4py")
    after = {k: getattr(v, "__doc__", None) for k, v in vars(MPI.Comm).items()}
    assert before == after
    assert MPI.Comm.Get_rank.__doc__.count("Get_rank(") == 1


def test_a_function_gets_a_summary_line() -> None:
    def f(a: int, b: str = "x") -> bool:
        """Do a thing
        over two lines.

        Details."""
        return True

    ns: dict[str, Any] = {"f": f}
    docsig.embed(ns, "nowhere")
    assert f.__doc__ == "f(a: int, b: str = 'x') -> bool\n\nDo a thing over two lines.\n\nDetails."


def _checked(doc: str | None, stripped: bool) -> list[str]:
    """What mpi4py's documentation checks find wrong in ``doc``."""
    if stripped and doc is not None:
        _, nl, doc = doc.partition("\n")
        doc = doc[1:] if nl and doc.startswith("\n") else doc
    if not doc or not doc.strip():
        return ["empty"]
    doc = doc.strip()
    wrong = []
    if doc[0] == doc[0].lower():
        wrong.append("starts with lowercase")
    if not doc.endswith("."):
        wrong.append("does not end with '.'")
    if not doc.partition("\n")[0].endswith("."):
        wrong.append("summary line does not end with '.'")
    return wrong


def test_every_public_docstring_reads_as_mpi4py_s() -> None:
    problems = {}
    class_type = type(MPI.Comm)
    for name, value in vars(MPI).items():
        if isinstance(value, types.FunctionType) and not name.startswith("_"):
            problems[name] = _checked(value.__doc__, True)
        elif type(value) is class_type and not name.startswith("_"):
            problems[name] = _checked(value.__doc__, False)
            for member_name, member in vars(value).items():
                if member_name.startswith("_"):
                    continue
                if isinstance(member, (classmethod, staticmethod)):
                    member = member.__func__
                if isinstance(member, (types.FunctionType, property)):
                    problems[f"{name}.{member_name}"] = _checked(member.__doc__, True)
    assert {k: v for k, v in problems.items() if v} == {}
