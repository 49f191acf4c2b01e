"""Point-to-point over real processes and sockets, through the launcher."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import PROGRAMS, ROOT, job_env, launch

CHECKS = [
    "roundtrip",
    "ordering",
    "tag_selection",
    "probes",
    "nonblocking",
    "sendrecv",
    "big_reuse",
    "writable",
    "bad_arguments",
    "self_send",
    "cancelled_recv",
    "collectives",
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", [2, 3, 5])
def test_conformance(n: int) -> None:
    res = launch(n, PROGRAMS / "p2p_conformance.py")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    for rank in range(n):
        passed = re.findall(rf"^\[{rank}\] ok (\w+)$", res.stdout, re.M)
        assert passed == CHECKS, (rank, passed)
        assert f"[{rank}] done" in res.stdout


def run_alone(code: str) -> subprocess.CompletedProcess[str]:
    """``python -c code`` with no launcher: a singleton job."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=50,
        env=job_env(), cwd=ROOT,
    )  # fmt: skip


@pytest.mark.timeout(60)
def test_singleton_without_launcher() -> None:
    code = (
        "import asyncio, numpy as np, zmqmesh\n"
        "async def main():\n"
        "    comm = await zmqmesh.init()\n"
        "    assert await zmqmesh.init() is comm\n"
        "    assert (comm.rank, comm.size) == (0, 1)\n"
        "    await comm.send(np.arange(3), 0, tag=1)\n"
        "    st = zmqmesh.Status()\n"
        "    got = await comm.recv(status=st)\n"
        "    assert got.tolist() == [0, 1, 2] and (st.source, st.tag) == (0, 1)\n"
        "    assert await comm.bcast('x') == 'x'\n"
        "    assert await comm.gather(5) == [5]\n"
        "    await comm.barrier()\n"
        "    print('singleton ok', comm.rank, comm.size)\n"
        "asyncio.run(main())\n"
    )
    res = run_alone(code)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "singleton ok 0 1"


@pytest.mark.timeout(60)
def test_run_helper_returns_main_result() -> None:
    code = (
        "import zmqmesh\n"
        "async def main(comm, k):\n"
        "    return comm.size * k\n"
        "print(zmqmesh.run(main, 21))\n"
    )
    res = run_alone(code)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "21"


@pytest.mark.timeout(60)
def test_pickle_is_opt_in(tmp_path) -> None:
    prog = tmp_path / "pickled.py"
    prog.write_text(
        "import fractions, zmqmesh\n"
        "async def main(comm):\n"
        "    if comm.rank == 0:\n"
        "        await comm.send(fractions.Fraction(1, 3), 1)\n"
        "    else:\n"
        "        print('got', await comm.recv(0))\n"
        "zmqmesh.run(main)\n"
    )
    refused = launch(2, prog, timeout=40, launcher_args=("--grace", "1"))
    assert refused.returncode != 0
    assert "Fraction" in refused.stdout + refused.stderr
    assert "TypeError" in refused.stdout + refused.stderr
    allowed = launch(2, prog, timeout=40, launcher_args=("--pickle",))
    assert allowed.returncode == 0, allowed.stderr
    assert "[1] got 1/3" in allowed.stdout


@pytest.mark.timeout(120)
def test_a_leaving_sender_loses_nothing() -> None:
    for n in (1000, 5000):
        res = launch(2, PROGRAMS / "burst_exit.py", str(n), timeout=60)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
        assert f"[1] got all {n}" in res.stdout


@pytest.mark.timeout(60)
def test_leaving_without_finalize_after_asyncio_run_is_quiet(tmp_path) -> None:
    prog = tmp_path / "nofinalize.py"
    prog.write_text(
        "import asyncio, zmqmesh\n"
        "async def main():\n"
        "    comm = await zmqmesh.init()\n"
        "    await comm.send(comm.rank, (comm.rank + 1) % comm.size)\n"
        "    print('sum', await comm.allreduce(await comm.recv()), flush=True)\n"
        "asyncio.run(main())\n"  # the stdlib loop, closed before the exit hook runs
    )
    res = launch(3, prog, timeout=40)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("sum 3") == 3
    assert "Traceback" not in res.stderr, res.stderr
    assert "Exception ignored" not in res.stderr, res.stderr


WAIT_INPUT = """
import asyncio, zmqmesh

async def main(comm):
    await comm.sendrecv("hello", 1 - comm.rank, source=1 - comm.rank)  # both links open
    if comm.rank == 0:
        coro = comm.recv(1, tag=3)  # driven by hand, as the mpi4py layer does
        fut = coro.send(None)  # posted: rank 1 sends only once told to
        assert not fut.done()
        assert not comm.wait_input(asyncio.get_running_loop().create_future(), 5.0)
        comm.start_send("go", 1)
        assert comm.wait_input(fut, 30.0)  # slept in the kernel, read it
        try:
            coro.send(None)
        except StopIteration as stop:
            assert stop.value == "reply", stop.value
        else:
            raise AssertionError("the receive did not complete")
        print("kernel wait ok", flush=True)
    else:
        assert await comm.recv(0) == "go"
        await comm.send("reply", 0, tag=3)

zmqmesh.run(main)
"""


@pytest.mark.timeout(60)
def test_a_receive_can_wait_in_the_kernel_without_the_loop(tmp_path) -> None:
    """``wait_input``: a caller that drives a receive by hand (no event loop
    running while it waits) sleeps on the same-host links until the message
    comes; a future that is no zmqmesh wait returns False at once."""
    prog = tmp_path / "wait_input.py"
    prog.write_text(WAIT_INPUT)
    res = launch(2, prog)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "[0] kernel wait ok" in res.stdout
