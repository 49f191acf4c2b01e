"""``mpi4py.rc`` read at ``MPI``'s import as mpi4py reads it: the
attributes, the ``MPI4PY_RC_*`` variables over them, a warning for each
value mpi4py would not take, and what ``initialize`` and the thread
options change (``Is_initialized``, ``Query_thread``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import launch

MPI4PY = ("--mpi4py",)


def _run(tmp_path: Path, code: str) -> str:
    prog = tmp_path / "prog.py"
    prog.write_text(code)
    res = launch(2, prog, timeout=50, launcher_args=MPI4PY)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res.stdout


@pytest.mark.timeout(60)
def test_initialize_false_leaves_mpi_uninitialized_until_init(tmp_path: Path) -> None:
    out = _run(
        tmp_path,
        "from mpi4py import rc\n"
        "rc.initialize = False\n"
        "from mpi4py import MPI\n"
        "before = (MPI.Is_initialized(), MPI.Is_finalized())\n"
        "level = MPI.Init_thread(MPI.THREAD_SERIALIZED)\n"
        "during = (MPI.Is_initialized(), level == MPI.Query_thread() == MPI.THREAD_SERIALIZED)\n"
        "MPI.Finalize()\n"
        "print('states', before, during, (MPI.Is_initialized(), MPI.Is_finalized()), flush=True)\n",
    )
    assert "[0] states (False, False) (True, True) (True, True)" in out


@pytest.mark.timeout(60)
def test_the_variables_override_the_attributes(tmp_path: Path) -> None:
    out = _run(
        tmp_path,
        "import os\n"
        "os.environ['MPI4PY_RC_INITIALIZE'] = 'no'\n"
        "os.environ['MPI4PY_RC_THREAD_LEVEL'] = 'Funneled'\n"
        "os.environ['MPI4PY_RC_IRECV_BUFSZ'] = '2048'\n"
        "from mpi4py import rc, MPI\n"
        "print('rc', rc.initialize, rc.thread_level, rc.irecv_bufsz, flush=True)\n"
        "funneled = MPI.Query_thread() == MPI.THREAD_FUNNELED\n"
        "print('mpi', MPI.Is_initialized(), funneled, flush=True)\n",
    )
    assert "[0] rc False funneled 2048" in out
    assert "[0] mpi False True" in out


@pytest.mark.timeout(60)
def test_a_value_mpi4py_would_not_take_warns_and_keeps_the_default(tmp_path: Path) -> None:
    out = _run(
        tmp_path,
        "import warnings\n"
        "from mpi4py import rc\n"
        "rc.thread_level = 'many'\n"
        "rc.irecv_bufsz = -1\n"
        "with warnings.catch_warnings(record=True) as seen:\n"
        "    warnings.simplefilter('always')\n"
        "    from mpi4py import MPI\n"
        "print('warned', sorted(str(w.message) for w in seen), flush=True)\n"
        "print('level', MPI.Query_thread() == MPI.THREAD_MULTIPLE, flush=True)\n",
    )
    expected = [
        "mpi4py.rc.irecv_bufsz: unexpected value -1",
        "mpi4py.rc.thread_level: unexpected value 'many'",
    ]
    assert f"[0] warned {expected}" in out
    assert "[0] level True" in out
