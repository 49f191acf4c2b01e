"""Intercommunicators of the mpi4py layer on real ranks: creation, point
to point naming the remote group, the collectives in each root form,
``Merge``, ``Dup``, ``Split``, ``Create``, ``Compare`` and ``pkl5``."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import launch

HERE = Path(__file__).resolve().parent
MPI4PY = ("--mpi4py",)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", [2, 3, 4])
def test_inter_tour(n: int) -> None:
    res = launch(n, HERE / "inter_tour.py", timeout=110, launcher_args=MPI4PY)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    groups = {2: "1 + 1", 3: "2 + 1", 4: "2 + 2"}[n]
    assert f"[0] inter tour ok on {n} ranks ({groups})" in res.stdout


@pytest.mark.timeout(60)
def test_leaders_other_than_rank_0_and_merge_order(tmp_path: Path) -> None:
    # the world's first rank alone against the other three, whose leader is
    # their last rank; each group merges as low in turn
    prog = tmp_path / "leaders.py"
    prog.write_text(
        "from mpi4py import MPI\n"
        "w = MPI.COMM_WORLD\n"
        "r = w.Get_rank()\n"
        "color = 0 if r == 0 else 1\n"
        "local = w.Split(color, r)\n"
        "leader = 0 if color == 0 else local.Get_size() - 1\n"
        "peer = w.Dup()\n"
        "inter = local.Create_intercomm(leader, peer, 3 if color == 0 else 0, tag=42)\n"
        "a = inter.Merge(high=color == 0).allgather(r)\n"
        "b = inter.Merge(high=color == 1).allgather(r)\n"
        "c = inter.Merge(high=True).allgather(r)\n"
        "print('merged', a, b, c, inter.Get_remote_size(), flush=True)\n"
    )
    res = launch(4, prog, timeout=50, launcher_args=MPI4PY)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    for rank in range(4):
        remote = 3 if rank == 0 else 1
        want = f"[{rank}] merged [1, 2, 3, 0] [0, 1, 2, 3] [0, 1, 2, 3] {remote}"
        assert want in res.stdout, res.stdout


@pytest.mark.timeout(60)
def test_wrong_calls_on_an_intercommunicator_raise(tmp_path: Path) -> None:
    prog = tmp_path / "wrong.py"
    prog.write_text(
        "from mpi4py import MPI\n"
        "w = MPI.COMM_WORLD\n"
        "r = w.Get_rank()\n"
        "inter = MPI.COMM_SELF.Create_intercomm(0, w, 1 - r, tag=1)\n"
        "for call in (lambda: inter.bcast(1, root=5), lambda: inter.send(1, dest=1),\n"
        "             lambda: inter.Scan(bytearray(1), bytearray(1))):\n"
        "    try:\n"
        "        call()\n"
        "    except MPI.Exception as exc:\n"
        "        print('refused', MPI.Get_error_class(exc.Get_error_code()), flush=True)\n"
        "print('parent', MPI.Comm.Get_parent() == MPI.COMM_NULL, flush=True)\n"
    )
    res = launch(2, prog, timeout=50, launcher_args=MPI4PY)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    for code in (7, 6, 5):  # ERR_ROOT, ERR_RANK, ERR_COMM
        assert f"[0] refused {code}" in res.stdout, res.stdout
    assert "[1] parent True" in res.stdout


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", [2, 3])
def test_accept_and_connect_on_a_port(n: int) -> None:
    res = launch(n, HERE / "inter_ports.py", timeout=110, launcher_args=MPI4PY)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert f"[0] ports ok on {n} ranks" in res.stdout


@pytest.mark.timeout(60)
def test_communicators_from_groups_alone(tmp_path: Path) -> None:
    prog = tmp_path / "groups.py"
    prog.write_text(
        "from mpi4py import MPI\n"
        "w = MPI.COMM_WORLD\n"
        "r, n = w.Get_rank(), w.Get_size()\n"
        "g = w.Get_group()\n"
        "odd, even = g.Incl(list(range(1, n, 2))), g.Incl(list(range(0, n, 2)))\n"
        "mine, other = (odd, even) if r % 2 else (even, odd)\n"
        "c = MPI.Intracomm.Create_from_group(mine, 'half')\n"
        "last = mine.Get_size() - 1\n"
        "ic = MPI.Intercomm.Create_from_groups(mine, last, other, other.Get_size() - 1, 'p')\n"
        "print('made', c.allgather(r), ic.allgather(r), ic.Get_remote_size(), flush=True)\n"
    )
    res = launch(3, prog, timeout=50, launcher_args=MPI4PY)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "[0] made [0, 2] [1] 1" in res.stdout
    assert "[1] made [1] [0, 2] 2" in res.stdout
