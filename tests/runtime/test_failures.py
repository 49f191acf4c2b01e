"""A rank that dies or exits turns every wait on it into RankFailedError;
a rank that is merely busy does not."""

from __future__ import annotations

import pytest
from conftest import launch

KILLED = """
import asyncio, os, signal, numpy as np, zmqmesh
async def main(comm):
    await comm.barrier()
    # Rank 1 dies only once the others are past the barrier: its last
    # barrier message may die with it, unsent.
    if comm.rank == 1:
        await comm.recv(0, tag=8)
        await comm.recv(2, tag=8)
        os.kill(os.getpid(), signal.SIGKILL)
    await comm.send(None, 1, tag=8)
    checks = {
        "recv": lambda: comm.recv(1),
        "probe": lambda: comm.probe(1),
        "irecv": lambda: comm.irecv(1).wait(),
        "allreduce": lambda: comm.allreduce(np.ones(3)),
        "bcast": lambda: comm.bcast(None, root=1),
        "send": lambda: comm.send(b"x", 1),
    }
    for name, call in checks.items():
        try:
            await call()
            print(name, "returned", flush=True)
        except zmqmesh.RankFailedError as exc:
            print(name, "RankFailedError", exc.rank, flush=True)
    if comm.rank == 0:  # rank 2 is alive: a receive from it still works
        print("alive", await comm.recv(2, tag=9), flush=True)
    else:
        await comm.send("still here", 0, tag=9)
zmqmesh.run(main)
"""

BUSY = """
import time, zmqmesh
async def main(comm):
    await comm.barrier()
    if comm.rank == 1:
        t = time.monotonic()
        n = 0
        while time.monotonic() - t < 6:  # pure Python: holds the GIL throughout
            n += 1
        await comm.send("done", 0)
    else:
        print("got", await comm.recv(1), flush=True)
zmqmesh.run(main)
"""


@pytest.mark.timeout(60)
def test_killed_rank_fails_every_wait_on_it(tmp_path) -> None:
    prog = tmp_path / "killed.py"
    prog.write_text(KILLED)
    res = launch(3, prog, timeout=50, launcher_args=("--grace", "20"))
    assert res.returncode == 137, res.stdout + res.stderr  # the job reports the death
    assert "rank 1 (pid" in res.stderr
    assert "was killed by signal SIGKILL" in res.stderr
    for r in (0, 2):
        for name in ("recv", "probe", "irecv", "allreduce", "bcast", "send"):
            assert f"[{r}] {name} RankFailedError 1" in res.stdout, (r, name, res.stdout)
    assert "[0] alive still here" in res.stdout


@pytest.mark.timeout(60)
def test_busy_rank_is_not_declared_dead(tmp_path) -> None:
    prog = tmp_path / "busy.py"
    prog.write_text(BUSY)
    res = launch(2, prog, timeout=50, launcher_args=("-x", "ZMQMESH_FAILURE_TIMEOUT=2"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "[0] got done" in res.stdout


MID_CALL = """
import asyncio, os, signal, sys, numpy as np, zmqmesh
CALL, NEL = sys.argv[1], int(sys.argv[2])
async def main(comm):
    x = np.full(NEL, float(comm.rank + 1))
    # calls until the death: a small one may end in less than the timer's
    # half millisecond, and five of them ended before it fired
    for i in range(1, 1_000_000):
        if comm.rank == comm.size - 1 and i == 3:  # dies once the call is under way
            asyncio.get_running_loop().call_later(0.0005, os.kill, os.getpid(), signal.SIGKILL)
        try:
            if CALL == "bcast":
                await comm.bcast(x, root=0)
            else:
                await comm.allreduce(x)
        except zmqmesh.RankFailedError as exc:
            print("survivor", comm.rank, "RankFailedError", exc.rank, flush=True)
            return
zmqmesh.run(main)
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("call", "nel", "env"),
    [
        ("allreduce", 2**21, ("ZMQMESH_ALLREDUCE=rabenseifner",)),
        ("allreduce", 2**21, ("ZMQMESH_ALLREDUCE=recursive_doubling",)),
        ("allreduce", 8, ("ZMQMESH_ALLREDUCE=ring",)),
        ("bcast", 2**23, ("ZMQMESH_LOCAL_LINKS=0",)),  # zero-copy frames held by ZeroMQ
    ],
)
def test_a_rank_killed_mid_call_fails_every_survivor(
    tmp_path, call: str, nel: int, env: tuple[str, ...]
) -> None:
    # Sends to the dead rank used to wait forever: on a lost same-host link,
    # or for ZeroMQ to let go of frames queued for it.
    prog = tmp_path / "mid_call.py"
    prog.write_text(MID_CALL)
    xs = [a for e in env for a in ("-x", e)]
    res = launch(3, prog, call, str(nel), timeout=50, launcher_args=("--grace", "30", *xs))
    assert res.returncode == 137, res.stdout + res.stderr
    for r in (0, 1):
        assert f"[{r}] survivor {r} RankFailedError 2" in res.stdout, res.stdout + res.stderr
