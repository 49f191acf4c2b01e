"""Threads and the mpi4py layer: the level it provides is
``THREAD_SERIALIZED`` (whatever is asked for), and several threads whose
calls never overlap (the program serialises them, as that level asks)
share the world and an intercommunicator safely."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import launch

MPI4PY = ("--mpi4py",)


@pytest.mark.timeout(60)
def test_threads_taking_turns_share_communicators(tmp_path: Path) -> None:
    prog = tmp_path / "turns.py"
    prog.write_text(
        "import threading\n"
        "from mpi4py import MPI\n"
        "provided = MPI.Init_thread(MPI.THREAD_MULTIPLE)\n"
        "assert provided == MPI.Query_thread() == MPI.THREAD_SERIALIZED\n"
        "w = MPI.COMM_WORLD\n"
        "r = w.Get_rank()\n"
        "inter = MPI.COMM_SELF.Create_intercomm(0, w, 1 - r, tag=3)\n"
        "turn = threading.Lock()  # the program serialises its calls\n"
        "errors = []\n"
        "def worker(t):\n"
        "    try:\n"
        "        for i in range(50):\n"
        "            with turn:\n"
        "                sent = [w.isend((t, i), dest=1 - r, tag=t),\n"
        "                        inter.isend((t, i, 'x'), dest=0, tag=t)]\n"
        "            got = None\n"
        "            while got is None:\n"
        "                with turn:\n"
        "                    if w.iprobe(source=1 - r, tag=t) and inter.iprobe(source=0, tag=t):\n"
        "                        got = (w.recv(source=1 - r, tag=t), inter.recv(source=0, tag=t))\n"
        "            assert got == ((t, i), (t, i, 'x')), got\n"
        "            with turn:\n"
        "                MPI.Request.Waitall(sent)\n"
        "    except BaseException as exc:\n"
        "        errors.append(repr(exc))\n"
        "threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]\n"
        "for th in threads:\n"
        "    th.start()\n"
        "for th in threads:\n"
        "    th.join()\n"
        "w.Barrier()\n"
        "print('threads', errors or 'ok', flush=True)\n"
    )
    res = launch(2, prog, timeout=50, launcher_args=MPI4PY)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "[0] threads ok" in res.stdout
    assert "[1] threads ok" in res.stdout
