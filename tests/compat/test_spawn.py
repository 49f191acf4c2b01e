"""``Comm.Spawn`` of the mpi4py layer on real processes: master/worker
programs, ``Spawn_multiple``, children that fail (a clear error in the
parents, never a hang) and children left running at the end of the job."""

from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path

import pytest
from conftest import launch

HERE = Path(__file__).resolve().parent
MPI4PY = ("--mpi4py",)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("n", "workers"), [(1, 5), (2, 2)])
def test_master_worker_computes_pi(n: int, workers: int) -> None:
    res = launch(n, HERE / "spawn_master.py", str(workers), timeout=110, launcher_args=MPI4PY)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    for rank in range(n):
        assert f"[{rank}] master {rank} pi 3.141601 from {workers} workers" in res.stdout


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", [2, 3])
def test_spawn_from_the_world_and_spawn_multiple(n: int) -> None:
    res = launch(n, HERE / "spawn_tour.py", timeout=110, launcher_args=MPI4PY)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert f"[0] spawn tour ok on {n} parents" in res.stdout


def _failing(tmp_path: Path) -> Path:
    (tmp_path / "child.py").write_text(
        "import sys\n"
        "from mpi4py import MPI\n"
        "if sys.argv[1] == 'early':\n"
        "    sys.exit(3)\n"
        "comm = MPI.Comm.Get_parent()\n"
        "if comm.Get_rank() == 1:\n"
        "    raise SystemExit(4)\n"
        "comm.Disconnect()\n"
    )
    prog = tmp_path / "parent.py"
    prog.write_text(
        "import sys\n"
        "from mpi4py import MPI\n"
        f"child = {str(tmp_path / 'child.py')!r}\n"
        "try:\n"
        "    comm = MPI.COMM_WORLD.Spawn(sys.executable, [child, sys.argv[1]], maxprocs=2)\n"
        "    print('spawned', flush=True)\n"
        "    comm.recv(source=1, tag=0)\n"
        "except Exception as exc:\n"
        "    print('failed:', type(exc).__name__, exc, flush=True)\n"
    )
    return prog


@pytest.mark.timeout(60)
def test_a_child_that_fails_before_joining_fails_spawn_everywhere(tmp_path: Path) -> None:
    res = launch(2, _failing(tmp_path), "early", timeout=50, launcher_args=MPI4PY)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    for rank in range(2):
        line = f"[{rank}] failed: Exception Spawn: spawned process 0 ("
        assert line in res.stdout, res.stdout
    assert "exited with status 3" in res.stdout


@pytest.mark.timeout(60)
def test_a_child_that_fails_later_fails_the_calls_waiting_on_it(tmp_path: Path) -> None:
    res = launch(2, _failing(tmp_path), "late", timeout=50, launcher_args=MPI4PY)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    for rank in range(2):
        assert f"[{rank}] spawned" in res.stdout
        line = f"[{rank}] failed: RankFailedError rank 3 failed: spawned process 1 ("
        assert line in res.stdout, res.stdout
    assert "exited with status 4" in res.stdout


@pytest.mark.timeout(60)
def test_a_command_that_cannot_start_raises_err_spawn(tmp_path: Path) -> None:
    prog = tmp_path / "bad.py"
    prog.write_text(
        "from mpi4py import MPI\n"
        "try:\n"
        "    MPI.COMM_WORLD.Spawn('/nonexistent/prog', maxprocs=2, root=1)\n"
        "except MPI.Exception as exc:\n"
        "    print('refused', exc.Get_error_class() == MPI.ERR_SPAWN, flush=True)\n"
    )
    res = launch(2, prog, timeout=50, launcher_args=MPI4PY)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "[0] refused True" in res.stdout
    assert "[1] refused True" in res.stdout


@pytest.mark.timeout(60)
def test_children_still_running_end_with_the_job(tmp_path: Path) -> None:
    (tmp_path / "stay.py").write_text(
        "import os, time\n"
        "from mpi4py import MPI\n"
        "MPI.Comm.Get_parent()\n"
        "print(f'child pid {os.getpid()}', flush=True)\n"
        "while True:\n"
        "    time.sleep(0.2)\n"
    )
    prog = tmp_path / "parent.py"
    prog.write_text(
        "import sys\n"
        "from mpi4py import MPI\n"
        f"MPI.COMM_SELF.Spawn(sys.executable, [{str(tmp_path / 'stay.py')!r}], maxprocs=2)\n"
        "print('spawned', flush=True)\n"
    )
    res = launch(1, prog, timeout=50, launcher_args=MPI4PY)
    assert "spawned" in res.stdout, res.stdout[-3000:] + res.stderr[-3000:]
    pids = [int(p) for p in re.findall(r"child pid (\d+)", res.stdout)]
    assert len(pids) == 2, res.stdout
    for pid in pids:  # gone (or a zombie nobody waits for) once the launcher is done
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        with open(f"/proc/{pid}/stat") as f:
            assert f.read().split()[2] == "Z", f"spawned process {pid} outlived the job"
        os.kill(pid, signal.SIGKILL)


def test_sys_executable_is_a_python() -> None:
    assert os.path.basename(sys.executable).startswith("python")


@pytest.mark.timeout(120)
def test_mpipoolexecutor_outside_the_futures_command_spawns_its_workers(tmp_path: Path) -> None:
    prog = tmp_path / "pool.py"
    prog.write_text(
        "import os\n"
        "from mpi4py.futures import MPIPoolExecutor\n"
        "print('as', __name__, flush=True)\n"
        "def square(x):\n"
        "    return x * x, os.getpid()\n"
        "def set_base(b):\n"
        "    global base\n"
        "    base = b\n"
        "def shifted(x):\n"
        "    return base + x\n"
        "if __name__ == '__main__':\n"
        "    with MPIPoolExecutor(max_workers=3) as ex:\n"
        "        got = list(ex.map(square, range(10)))\n"
        "    pids = {p for _, p in got}\n"
        "    print('squares', [v for v, _ in got], len(pids) <= 3, os.getpid() in pids)\n"
        "    with MPIPoolExecutor(2, initializer=set_base, initargs=(100,)) as ex:\n"
        "        print('shifted', list(ex.map(shifted, [1, 2, 3])), flush=True)\n"
    )
    res = launch(1, prog, timeout=110, launcher_args=MPI4PY)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "squares [0, 1, 4, 9, 16, 25, 36, 49, 64, 81] True False" in res.stdout
    assert "shifted [101, 102, 103]" in res.stdout
    assert res.stdout.count("as __worker__") == 5, res.stdout


@pytest.mark.timeout(60)
def test_a_child_that_never_joins_fails_spawn(tmp_path: Path) -> None:
    prog = tmp_path / "nompi.py"
    prog.write_text(
        "import sys\n"
        "from mpi4py import MPI\n"
        "try:\n"
        "    MPI.COMM_SELF.Spawn(sys.executable, ['-c', 'pass'], maxprocs=2)\n"
        "except MPI.Exception as exc:\n"
        "    print('refused', exc.Get_error_class() == MPI.ERR_SPAWN, flush=True)\n"
    )
    res = launch(1, prog, timeout=50, launcher_args=MPI4PY)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "[0] refused True" in res.stdout


@pytest.mark.timeout(90)
def test_the_launcher_starts_the_children_in_the_wdir_the_info_names(tmp_path: Path) -> None:
    (tmp_path / "child.py").write_text(
        "import os\n"
        "from mpi4py import MPI\n"
        "parent = MPI.Comm.Get_parent()\n"
        "parent.gather((os.getppid(), os.getcwd()), root=0)\n"
        "parent.Disconnect()\n"
    )
    work = tmp_path / "work"
    work.mkdir()
    prog = tmp_path / "parent.py"
    prog.write_text(
        "import os, sys\n"
        "from mpi4py import MPI\n"
        "info = MPI.Info.Create()\n"
        f"info.Set('wdir', {str(work)!r})\n"
        f"kids = MPI.COMM_SELF.Spawn(sys.executable, [{str(tmp_path / 'child.py')!r}],"
        " maxprocs=2, info=info)\n"
        "got = kids.gather(None, root=MPI.ROOT)\n"
        "print('same parent', all(p == os.getppid() for p, _ in got), flush=True)\n"
        "print('in', sorted({w for _, w in got}), flush=True)\n"
        "kids.Disconnect()\n"
        "info.Set('host', 'nowhere.invalid')\n"
        "try:\n"
        f"    MPI.COMM_SELF.Spawn(sys.executable, [{str(tmp_path / 'child.py')!r}], info=info)\n"
        "except MPI.Exception as exc:\n"
        "    print('refused', exc.Get_error_class() == MPI.ERR_SPAWN, exc, flush=True)\n"
    )
    res = launch(1, prog, timeout=80, launcher_args=MPI4PY)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    # the children are the launcher's, as the ranks are
    assert "[0] same parent True" in res.stdout, res.stdout
    assert f"[0] in [{str(work)!r}]" in res.stdout
    assert "[0] refused True" in res.stdout
    assert "'nowhere.invalid' is not one of the job's hosts" in res.stdout


@pytest.mark.timeout(60)
def test_a_spawn_asked_of_a_rendezvous_without_a_launcher_is_answered_with_why() -> None:
    from zmqmesh.transport.rendezvous import RendezvousServer, exchange, notice_reader
    from zmqmesh.wire.rendezvous import NO_LAUNCHER, SpawnAsk, SpawnNews

    server = RendezvousServer(1, "job")
    try:
        kept: list[object] = []
        exchange(server.endpoint, 0, 1, "job", {}, keep=kept)  # type: ignore[arg-type]
        sock = kept[0]
        sock.send(SpawnAsk(7, [["true"]], [{}], "/", []).encode())  # type: ignore[attr-defined]
        got: list[object] = []
        read = notice_reader(sock, lambda notice: got.append(notice))  # type: ignore[arg-type,func-returns-value]
        assert sock.poll(30_000)  # type: ignore[attr-defined]
        read()
        assert len(got) == 1
        news = got[0]
        assert isinstance(news, SpawnNews)
        assert (news.n, news.index, news.code) == (7, -1, NO_LAUNCHER)  # start them yourself
        assert "not started by zmqmesh launch" in news.error
        sock.close()  # type: ignore[attr-defined]
    finally:
        server.close()


@pytest.mark.timeout(90)
def test_a_spawned_process_spawns_in_turn(tmp_path: Path) -> None:
    # the child's rendezvous is its parent's, which no launcher serves:
    # the child starts the grandchild itself
    prog = tmp_path / "nest.py"
    prog.write_text(
        "import sys\n"
        "from mpi4py import MPI\n"
        "parent = MPI.Comm.Get_parent()\n"
        "depth = int(sys.argv[1])\n"
        "if depth < 2:\n"
        f"    kids = MPI.COMM_SELF.Spawn(sys.executable, [{str(prog)!r}, str(depth + 1)])\n"
        "    below = kids.recv(source=0)\n"
        "    kids.Disconnect()\n"
        "else:\n"
        "    below = 'bottom'\n"
        "if parent != MPI.COMM_NULL:\n"
        "    parent.send(f'{depth}>{below}', dest=0)\n"
        "    parent.Disconnect()\n"
        "else:\n"
        "    print('chain', f'{depth}>{below}', flush=True)\n"
    )
    res = launch(1, prog, "0", timeout=80, launcher_args=MPI4PY)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "[0] chain 0>1>2>bottom" in res.stdout


@pytest.mark.timeout(90)
def test_a_spawned_process_cannot_place_what_it_spawns(tmp_path: Path) -> None:
    prog = tmp_path / "place.py"
    prog.write_text(
        "import sys\n"
        "from mpi4py import MPI\n"
        "parent = MPI.Comm.Get_parent()\n"
        "if parent == MPI.COMM_NULL:\n"
        f"    kids = MPI.COMM_SELF.Spawn(sys.executable, [{str(prog)!r}])\n"
        "    print('child said', kids.recv(source=0), flush=True)\n"
        "    kids.Disconnect()\n"
        "else:\n"
        "    info = MPI.Info.Create()\n"
        "    info.Set('host', 'localhost')\n"
        "    try:\n"
        f"        MPI.COMM_SELF.Spawn(sys.executable, [{str(prog)!r}], info=info)\n"
        "        said = 'spawned'\n"
        "    except MPI.Exception as exc:\n"
        "        said = f'{exc.Get_error_class() == MPI.ERR_SPAWN} {exc}'\n"
        "    parent.send(said, dest=0)\n"
        "    parent.Disconnect()\n"
    )
    res = launch(1, prog, timeout=80, launcher_args=MPI4PY)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "[0] child said True" in res.stdout
    assert "only a job that zmqmesh launch started can place processes" in res.stdout
