"""The architecture's promises that a test can check: the sans-IO boundary
and the curated public face."""

from __future__ import annotations

import ast
import types
from pathlib import Path

import zmqmesh

PKG = Path(zmqmesh.__file__).resolve().parent
PURE = [
    "wire",
    "topology",
    "matching.py",
    "scheduler/table.py",
    "scheduler/policy.py",
    "collectives/ops.py",
    "collectives/base.py",
    "collectives/plan.py",
    "collectives/registry.py",
    "collectives/signature.py",
    "collectives/tree.py",
    "collectives/simulate.py",
    "launcher/policy.py",
    "job/foreign.py",
    "topology/edges.py",
]
FORBIDDEN = {"zmq", "asyncio", "socket", "threading", "subprocess"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_pure_layers_do_no_io() -> None:
    files: list[Path] = []
    for entry in PURE:
        p = PKG / entry
        files.extend(sorted(p.rglob("*.py")) if p.is_dir() else [p])
    assert files, "no pure modules found"
    for f in files:
        bad = _imports(f) & FORBIDDEN
        assert not bad, f"{f.relative_to(PKG)} imports {sorted(bad)}"


def test_only_transport_layer_touches_zmq() -> None:
    for f in PKG.rglob("*.py"):
        rel = f.relative_to(PKG).as_posix()
        if "zmq" in _imports(f):
            assert rel.startswith("transport/"), f"{rel} imports zmq outside transport/"


API_NAMES = {
    "ANY_SOURCE",
    "ANY_TAG",
    "AuthenticationError",
    "CollectiveMismatchError",
    "Comm",
    "Executor",
    "TopoComm",
    "CheckpointError",
    "checkpoint",
    "DecodeError",
    "LaunchError",
    "MeshError",
    "RankFailedError",
    "RemoteError",
    "Request",
    "Status",
    "finalize",
    "init",
    "run",
    "config",
    "dims_create",
    "Op",
    "SUM",
    "PROD",
    "MAX",
    "MIN",
    "LAND",
    "LOR",
    "LXOR",
    "BAND",
    "BOR",
    "BXOR",
    "MAXLOC",
    "MINLOC",
}


def test_public_names() -> None:
    assert set(zmqmesh.__all__) == API_NAMES
    for name in API_NAMES:
        assert hasattr(zmqmesh, name), name
    # besides API.md's names, only zmqmesh's own submodules (bound by import)
    extras = {
        n
        for n, v in vars(zmqmesh).items()
        if not n.startswith("_")
        and n not in API_NAMES
        and not (isinstance(v, types.ModuleType) and v.__name__.startswith("zmqmesh."))
    }
    assert not extras, extras


def test_error_tree() -> None:
    for name in (
        "RankFailedError",
        "CollectiveMismatchError",
        "RemoteError",
        "LaunchError",
        "AuthenticationError",
        "DecodeError",
    ):
        assert issubclass(getattr(zmqmesh, name), zmqmesh.MeshError)
    assert zmqmesh.RankFailedError(3).rank == 3
