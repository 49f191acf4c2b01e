"""Threads and the mpi4py layer (``THREAD_MULTIPLE``): threads whose calls
take turns share the world and an intercommunicator, and threads whose
blocking calls overlap and need each other (a receive in one thread for
what another sends, on this rank or the other) all complete."""

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
        "assert provided == MPI.Query_thread() == MPI.THREAD_MULTIPLE\n"
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


OVERLAP = """
import threading
import numpy as np
from mpi4py import MPI
assert MPI.Init_thread(MPI.THREAD_MULTIPLE) == MPI.THREAD_MULTIPLE
w = MPI.COMM_WORLD
r, peer = w.Get_rank(), 1 - w.Get_rank()
errors = []

def across(t):  # blocking calls to the other rank's thread t, both ways
    buf = np.zeros(4, 'i')
    for i in range(40):
        if r == 0:
            w.Send(np.full(4, t * 100 + i, 'i'), peer, tag=t)
            w.Recv(buf, peer, tag=t)
        else:
            w.Recv(buf, peer, tag=t)
            w.Send(buf, peer, tag=t)
        assert buf[0] == t * 100 + i, (t, i, buf)
        assert w.sendrecv((t, i), peer, 50 + t, None, peer, 50 + t) == (t, i)

def here(t):  # a receive in one thread for what another thread sends, this rank
    for i in range(40):
        if t % 2:
            assert w.recv(source=r, tag=90 + t // 2) == i
        else:
            w.send(i, dest=r, tag=90 + t // 2)

def run(fn, t):
    try:
        fn(t)
    except BaseException as exc:
        errors.append(repr(exc))

threads = [threading.Thread(target=run, args=(across, t)) for t in range(4)]
threads += [threading.Thread(target=run, args=(here, t)) for t in range(4)]
for th in threads:
    th.start()
w.Barrier()  # the main thread too, meanwhile
for th in threads:
    th.join()
w.Barrier()
print('overlap', errors or 'ok', flush=True)
"""


@pytest.mark.timeout(90)
def test_overlapping_blocking_calls_from_several_threads(tmp_path: Path) -> None:
    prog = tmp_path / "overlap.py"
    prog.write_text(OVERLAP)
    res = launch(2, prog, timeout=80, launcher_args=MPI4PY)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "[0] overlap ok" in res.stdout
    assert "[1] overlap ok" in res.stdout


@pytest.mark.timeout(90)
def test_threads_whose_first_calls_overlap_join_the_job_once() -> None:
    program = Path(__file__).resolve().parent / "threads_first_call.py"
    for _ in range(3):  # the threads race differently each run
        res = launch(2, program, timeout=50, launcher_args=MPI4PY)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        assert res.stdout.count("ok threads") == 2
