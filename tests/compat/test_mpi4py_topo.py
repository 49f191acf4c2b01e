"""Process topologies on real ranks: every call of the topology tour, and
a stencil program whose output is what it prints under MPICH."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import launch

HERE = Path(__file__).resolve().parent

# what ``topo_heat.py`` printed on 4 ranks under mpi4py 4.1.2 and MPICH 4.0.2,
# each rank's lines in their order
MPICH_HEAT = (HERE / "topo_heat.mpich.txt").read_text().splitlines()


@pytest.mark.timeout(150)
@pytest.mark.parametrize("n", [2, 3, 4])
def test_topologies_and_neighborhood_collectives_on_real_ranks(n: int, tmp_path: Path) -> None:
    res = launch(n, HERE / "topo_tour.py", str(tmp_path), timeout=140, launcher_args=("--mpi4py",))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert f"[0] topo tour ok on {n} ranks" in res.stdout


@pytest.mark.timeout(120)
def test_a_stencil_program_prints_what_it_prints_under_mpich() -> None:
    res = launch(4, HERE / "topo_heat.py", timeout=110, launcher_args=("--mpi4py",))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    mine = [
        line.split("] ", 1)[1]
        for r in range(4)
        for line in res.stdout.splitlines()
        if line.startswith(f"[{r}] ")
    ]
    assert mine == MPICH_HEAT
