"""The wire package is sans-IO: it imports neither zmq nor asyncio."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "zmqmesh"
ALLOWED_THIRD_PARTY = {"msgpack", "numpy", "cloudpickle"}  # cloudpickle: only with pickle allowed


def test_wire_modules_import_only_stdlib_msgpack_numpy_and_cloudpickle() -> None:
    modules = sorted((PACKAGE / "wire").glob("*.py"))
    assert {m.name for m in modules} >= {
        "__init__.py",
        "envelope.py",
        "arrays.py",
        "codec.py",
        "control.py",
        "stream.py",
        "shmdesc.py",
        "rendezvous.py",
    }
    for module in modules:
        for node in ast.walk(ast.parse(module.read_text(), str(module))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: only the wire package itself and errors.py
                    assert node.level == 1 or node.module == "errors", ast.unparse(node)
                    continue
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY, name
                assert top not in {"zmq", "asyncio"}, name


def test_importing_wire_loads_neither_zmq_nor_asyncio() -> None:
    # A stub parent package keeps zmqmesh/__init__.py (which may pull in the
    # runtime) out of the picture: only wire/ and errors.py are loaded.
    code = f"""
import sys, types
pkg = types.ModuleType("zmqmesh")
pkg.__path__ = [{str(PACKAGE)!r}]
sys.modules["zmqmesh"] = pkg
import zmqmesh.wire
import zmqmesh.wire.control, zmqmesh.wire.shmdesc, zmqmesh.wire.stream
zmqmesh.wire.decode(zmqmesh.wire.encode(zmqmesh.wire.Envelope(0, 0, 0, 0), [1, (2,)]))
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("zmq", "asyncio"))
assert not bad, bad
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
