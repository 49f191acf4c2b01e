"""job/'s place in the house: below runtime/ and the launcher, and pure
where it can be (every module but the lifeline, which watches a pipe)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import zmqmesh.job

pytestmark = pytest.mark.timeout(30)

JOB = Path(zmqmesh.job.__file__).resolve().parent
PURE = ["foreign.py", "hostlist.py", "settings.py", "variables.py"]
IO = {"os", "socket", "zmq", "asyncio", "subprocess", "threading"}
ABOVE = {"runtime", "launcher", "scheduler", "compat", "checkpoint", "collectives", "testing"}


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, as written (relative imports made absolute)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import"
            assert node.module is not None
            names.add(node.module)
    return names


def test_job_imports_nothing_above_it() -> None:
    files = sorted(JOB.glob("*.py"))
    assert len(files) > len(PURE)
    for f in files:
        for name in _imports(f):
            parts = name.split(".")
            if parts[0] == "zmqmesh" and len(parts) > 1:
                assert parts[1] not in ABOVE, f"job/{f.name} imports {name}"


@pytest.mark.parametrize("module", PURE)
def test_the_settings_and_parsers_do_no_io(module: str) -> None:
    top = {name.split(".")[0] for name in _imports(JOB / module)}
    assert not top & IO, f"job/{module} imports {sorted(top & IO)}"
