"""A brief atheris run of tests/fuzz/atheris_decoder.py, plus its framing.

The run (100,000 inputs, ~3 s here, at most 20 s) is a smoke test of the harness and a
quick pass over the seeds and their mutations; fuzz for real with the
commands in tests/fuzz/README.md. It is skipped only where atheris is not
installed (``pip install atheris``).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from conftest import job_env

from zmqmesh.wire import Envelope, Kind, encode

pytestmark = pytest.mark.timeout(60)  # the atheris run has its own, below

HARNESS = Path(__file__).with_name("atheris_decoder.py")
HAVE_ATHERIS = importlib.util.find_spec("atheris") is not None


def load_harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("atheris_decoder", HARNESS)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_framing_round_trips() -> None:
    h = load_harness()
    frames = [bytes(f) for f in encode(Envelope(Kind.COLL, 1, 2, 3), [b"x" * 300, (1, 2)])]
    for copy in (False, True):
        for kind in range(3):
            got, got_copy = h.from_input(h.to_input(frames, copy=copy, kind=kind))
            assert [bytes(f) for f in got] == frames
            assert got_copy is copy
            assert {type(f) for f in got} == {(bytes, bytearray, memoryview)[kind]}
    assert h.from_input(b"") == ([], False)
    assert h.from_input(b"\x00\x05\x00ab") == ([b"ab"], False)  # a length past the end
    assert h.from_input(b"\x00\x01") == ([b"\x01"], False)  # a dangling length byte


def test_seeds_pass_the_harness_checks() -> None:
    h = load_harness()
    seeds = h.seeds()
    assert len(seeds) > 20
    for seed in seeds:
        h.check(seed)  # decodes or raises DecodeError, inside; never anything else


@pytest.mark.timeout(120)
@pytest.mark.skipif(not HAVE_ATHERIS, reason="atheris is not installed (pip install atheris)")
def test_brief_atheris_run(tmp_path: Path) -> None:
    corpus, artifacts = tmp_path / "corpus", tmp_path / "artifacts"
    artifacts.mkdir()
    env = job_env()
    for make in (["--make-corpus", str(corpus)], ["--make-dict", str(tmp_path / "wire.dict")]):
        subprocess.run([sys.executable, str(HARNESS), *make], check=True, env=env, timeout=60)
    res = subprocess.run(
        [
            sys.executable,
            str(HARNESS),
            "-runs=100000",
            "-max_total_time=20",
            "-timeout=5",  # seconds for one input: a slow decode is a finding
            "-rss_limit_mb=2048",
            "-seed=1",
            f"-dict={tmp_path / 'wire.dict'}",
            f"-artifact_prefix={artifacts}/",
            str(corpus),
        ],
        capture_output=True,
        text=True,
        timeout=100,
        env=env,
        cwd=tmp_path,
    )
    crashes = sorted(p.name for p in artifacts.iterdir())
    assert res.returncode == 0, f"atheris found {crashes}:\n{res.stderr[-6000:]}"
    done = re.search(r"Done (\d+) runs in (\d+) second", res.stderr)
    assert done, res.stderr[-3000:]
    assert int(done.group(1)) > 0
    print(f"atheris: {done.group(1)} runs in {done.group(2)} s")
