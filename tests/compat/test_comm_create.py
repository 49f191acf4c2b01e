"""``Comm.Create`` with disjoint groups (MPI-2.2: each rank names the
group it is in; one communicator per group), as mpi4py.futures splits
a root from its workers."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import launch


@pytest.mark.timeout(60)
def test_disjoint_groups_make_one_communicator_each(tmp_path: Path) -> None:
    prog = tmp_path / "create.py"
    prog.write_text(
        "from mpi4py import MPI\n"
        "w = MPI.COMM_WORLD\n"
        "r, n = w.Get_rank(), w.Get_size()\n"
        "whole = w.Get_group()\n"
        "low = list(range(n // 2))\n"
        "half = whole.Incl(low) if r < n // 2 else whole.Excl(low)\n"
        "c = w.Create(half)\n"
        "assert c.Get_size() == (n // 2 if r < n // 2 else n - n // 2), c.Get_size()\n"
        "assert c.allgather(r) == ([*range(n // 2)] if r < n // 2 else [*range(n // 2, n)])\n"
        "alone = w.Create(whole.Incl([0]) if r == 0 else whole.Excl([0]))\n"
        "inter = alone.Create_intercomm(0, w, 1 if r == 0 else 0, tag=0)\n"
        "assert inter.Get_remote_size() == (n - 1 if r == 0 else 1)\n"
        "print('ok create', c.Get_size(), inter.Get_remote_size(), flush=True)\n"
    )
    res = launch(4, prog, timeout=50, launcher_args=("--mpi4py",))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "[0] ok create 2 3" in res.stdout
    assert "[3] ok create 2 1" in res.stdout
