"""The architecture's promises that a test can check: the sans-IO boundary
and the curated public face."""

from __future__ import annotations

import ast
import subprocess
import sys
import types
from pathlib import Path

import pytest

import zmqmesh

PKG = Path(zmqmesh.__file__).resolve().parent
PURE = [
    "wire",
    "topology",
    "matching.py",
    "scheduler/table.py",
    "scheduler/policy.py",
    "scheduler/state",
    "scheduler/graph.py",
    "collectives/ops.py",
    "collectives/base.py",
    "collectives/plan.py",
    "collectives/registry.py",
    "collectives/signature.py",
    "collectives/tree.py",
    "collectives/simulate.py",
    "collectives/fit.py",
    "launcher/policy.py",
    "runtime/spin.py",
    "job/foreign.py",
    "job/hostlist.py",
    "job/settings.py",
    "job/variables.py",
    "topology/edges.py",
    "compat/mpi4py/constants.py",
    "compat/mpi4py/datatypes.py",
    "compat/mpi4py/exceptions.py",
    "compat/mpi4py/handles.py",
    "compat/mpi4py/msgspec.py",
    "compat/mpi4py/options.py",
    "compat/mpi4py/topospec.py",
    "compat/mpi4py/typemap.py",
    "compat/mpi4py/typetables.py",
    "compat/mpi4py/util/_syncstate.py",
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


# The floors of docs/architecture.md and the floors each may import, written
# down once. A floor is a subpackage or a top-level module; "zmqmesh" is the
# public face (``__init__``). Every module may import errors; a floor's
# modules may import each other, without circles (next test).
ARROWS: dict[str, set[str]] = {
    "errors": set(),
    "wire": set(),
    "matching": set(),
    "topology": set(),
    "collectives": {"topology"},
    "checkpoint": {"wire"},
    "transport": {"wire"},
    "job": {"transport", "wire"},
    "runtime": {
        "job",
        "transport",
        "collectives",
        "checkpoint",
        "matching",
        "topology",
        "wire",
    },
    "scheduler": {"runtime", "wire"},
    "testing": {"runtime"},
    "zmqmesh": {
        "job",  # the lifeline, watched from import on
        "runtime",
        "scheduler",
        "checkpoint",
        "collectives",
        "matching",
        "topology",
        "wire",
    },
    "compat": {"zmqmesh", "runtime", "collectives", "matching", "topology", "wire"},
    "launcher": {"compat", "job", "transport", "wire"},
    "__main__": {"launcher"},
}


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for f in PKG.rglob("*.py"):
        parts = list(f.relative_to(PKG).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(["zmqmesh", *parts])] = f
    return mods


def _internal_imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the zmqmesh modules it imports, anywhere in its body,
    including imports only for type checking."""
    edges: dict[str, set[str]] = {}
    for mod, path in mods.items():
        pkg = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join([*pkg[: len(pkg) - node.level + 1], *filter(None, [base])])
                names.update(f"{base}.{alias.name}" for alias in node.names)
        found: set[str] = set()
        for name in names:
            while name and name not in mods:
                name = name.rpartition(".")[0]
            if name and name != mod:
                found.add(name)
        edges[mod] = found
    return edges


def _floor(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else "zmqmesh"


def test_each_floor_imports_only_floors_below_it() -> None:
    mods = _modules()
    assert {_floor(m) for m in mods} <= set(ARROWS), "a floor the arrows do not name"
    upward = [
        f"{m} -> {t}"
        for m, targets in _internal_imports(mods).items()
        for t in targets
        if _floor(t) not in ARROWS[_floor(m)] | {_floor(m), "errors"}
    ]
    assert not upward, "imports against the floors' arrows:\n" + "\n".join(sorted(upward))


def test_no_import_circles() -> None:
    edges = _internal_imports(_modules())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert not circles, f"import circles: {circles}"


def test_modules_are_small() -> None:
    big = {
        f.relative_to(PKG).as_posix(): n
        for f in PKG.rglob("*.py")
        if (n := f.read_text().count("\n")) > 600
    }
    assert not big, f"modules over 600 lines: {big}"


def test_only_transport_layer_touches_zmq() -> None:
    for f in PKG.rglob("*.py"):
        rel = f.relative_to(PKG).as_posix()
        if "zmq" in _imports(f):
            assert rel.startswith("transport/"), f"{rel} imports zmq outside transport/"


API_NAMES = {
    "ANY_SOURCE",
    "ANY_TAG",
    "ActorDiedError",
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


def _loaded_after(code: str) -> set[str]:
    """The top-level modules of interest that a fresh interpreter has loaded
    after running ``code``."""
    probe = (
        f"{code}\nimport sys\n"
        "print(' '.join(sorted(m for m in sys.modules if m in "
        "('numpy', 'asyncio', 'zmq', 'msgpack', 'cloudpickle', 'uvloop')"
        " or m.startswith('zmqmesh.'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return set(out.stdout.split())


@pytest.mark.timeout(120)
def test_importing_zmqmesh_loads_no_runtime() -> None:
    """``import zmqmesh`` stays cheap: the public names load on first use."""
    loaded = _loaded_after("import zmqmesh")
    assert not loaded & {"numpy", "asyncio", "zmq", "msgpack", "cloudpickle", "uvloop"}, loaded
    assert not {m for m in loaded if m.startswith(("zmqmesh.runtime", "zmqmesh.scheduler"))}
    # the first use loads what the name needs, and the name is the real one
    loaded = _loaded_after("import zmqmesh; assert zmqmesh.Comm.__name__ == 'Comm'")
    assert {"numpy", "zmqmesh.runtime.comm"} <= loaded, loaded


@pytest.mark.timeout(120)
def test_the_launcher_does_not_load_numpy() -> None:
    loaded = _loaded_after("import zmqmesh.launcher.cli")
    assert "numpy" not in loaded, sorted(loaded)
    assert not {m for m in loaded if m.startswith(("zmqmesh.runtime", "zmqmesh.wire.codec"))}


def test_dir_lists_the_public_names() -> None:
    assert set(zmqmesh.__all__) <= set(dir(zmqmesh))


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
