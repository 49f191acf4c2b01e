"""``mpi4py.util.pkl5`` on real ranks: the point-to-point and collective
object calls with out-of-band buffers, and an object past 2 GiB."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import launch

HERE = Path(__file__).resolve().parent
MPI4PY = ("--mpi4py",)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", [2, 3])
def test_pkl5_calls_on_real_ranks(n: int) -> None:
    res = launch(n, HERE / "pkl5_tour.py", timeout=110, launcher_args=MPI4PY)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert f"[0] pkl5 tour ok on {n} ranks" in res.stdout


@pytest.mark.timeout(240)
def test_an_object_past_two_gib_travels_whole_and_broadcasts(tmp_path: Path) -> None:
    prog = tmp_path / "big.py"
    prog.write_text(
        "import numpy as np\n"
        "from mpi4py import MPI\n"
        "from mpi4py.util import pkl5\n"
        "comm = pkl5.Intracomm(MPI.COMM_WORLD)\n"
        "n = (1 << 31) + 16\n"
        "a = None\n"
        "if comm.rank == 0:\n"
        "    a = np.empty(n, np.uint8); a[:8] = 1; a[-8:] = 2\n"
        "    comm.send({'big': a}, 1, tag=5)\n"
        "else:\n"
        "    st = MPI.Status()\n"
        "    b = comm.recv(None, 0, 5, st)['big']\n"
        "    print('big', b.nbytes == n, int(b[:8].sum()), int(b[-8:].sum()),\n"
        "          b.flags.writeable, st.Get_source(), st.Get_tag())\n"
        "    del b\n"
        "c = comm.bcast(a, 0)\n"
        "print('bcast', c.nbytes == n, int(c[:8].sum()), int(c[-8:].sum()), c.flags.writeable)\n"
    )
    res = launch(2, prog, timeout=230, launcher_args=MPI4PY)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "[1] big True 8 16 True 0 5" in res.stdout
    assert "[0] bcast True 8 16 True" in res.stdout
    assert "[1] bcast True 8 16 True" in res.stdout
