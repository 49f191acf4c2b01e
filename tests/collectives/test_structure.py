"""How the collectives reach the runtime: through arguments, not process-wide
state (the import arrows are tests/test_layers.py's)."""

from __future__ import annotations

import ast
from pathlib import Path

import zmqmesh
from zmqmesh.testing import run_world

PKG = Path(zmqmesh.__file__).resolve().parent
KINDS = [("ring", {}), ("tree", {}), ("mesh", {"dims": (2,)}), ("full", {})]


def imported(rel: str) -> set[str]:
    """Every module ``rel`` imports, anywhere in it (functions and
    ``if TYPE_CHECKING:`` blocks included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse((PKG / rel).read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_choice_reads_no_environment() -> None:
    for rel in ("collectives/plan.py", "collectives/registry.py"):
        names = imported(rel)
        assert "os" not in names, rel
        assert not {m for m in names if m.startswith("zmqmesh.runtime")}, rel


def test_no_results_pool_instance_at_module_level() -> None:
    from zmqmesh.collectives import base

    assert not hasattr(base, "results")
    assert all(type(v) is not base.ResultPool for v in vars(base).values())


def test_topology_communicators_are_comms_with_the_topocomm_face() -> None:
    async def body(comm: zmqmesh.Comm) -> list[tuple[bool, bool, str]]:
        out = []
        for kind, params in KINDS:
            t = await comm.create_topology(kind, **params)
            out.append((isinstance(t, zmqmesh.Comm), isinstance(t, zmqmesh.TopoComm), repr(t)))
        out.append((True, isinstance(comm, zmqmesh.TopoComm), repr(comm).split()[0]))
        return out

    got = run_world(2, body)[1]
    assert got[:4] == [
        (True, True, f"<TopoComm {kind} rank=1 size=2>")
        for kind in ("ring", "tree", "mesh", "full")
    ]
    assert got[4] == (True, False, "<Comm")
