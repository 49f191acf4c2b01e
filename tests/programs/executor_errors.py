"""A task that raises: its RemoteError names the remote type and message,
the worker's rank, the task (function and abbreviated arguments; for a
chunk of map, the item that raised) and carries the user's traceback
(also as its __cause__), without zmqmesh's frames. With ``retries=``, a
task that raises runs again. Run on 3 ranks with a scratch directory."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import zmqmesh
from zmqmesh.errors import RemoteTraceback

SCRATCH = Path(sys.argv[1])


def check_input(x: int) -> int:
    if x == 7:
        raise ValueError(f"bad input {x}")
    return x


def flaky(name: str, fails: int) -> int:
    """Raises the first ``fails`` times it runs (on any worker), then returns
    how many runs it took."""
    with open(SCRATCH / name, "a") as f:  # one byte per run, appended atomically
        f.write("x")
    runs = (SCRATCH / name).stat().st_size
    if runs <= fails:
        raise RuntimeError(f"run {runs} fails")
    return runs


async def main(comm: zmqmesh.Comm) -> None:
    async with zmqmesh.Executor(comm) as ex:
        if ex is None:
            return
        try:
            await ex.submit(check_input, 7)
        except zmqmesh.RemoteError as exc:
            assert exc.type_name == "ValueError" and exc.message == "bad input 7", exc
            assert exc.rank in (1, 2), exc.rank
            assert exc.task == "check_input(7)", exc.task
            assert f"task check_input(7) on rank {exc.rank}" in str(exc), str(exc)
            tb = exc.remote_traceback
            assert "executor_errors.py" in tb and "in check_input" in tb, tb
            assert 'raise ValueError(f"bad input {x}")' in tb, tb
            assert f"{os.sep}zmqmesh{os.sep}" not in tb, tb  # the user's frames only
            assert isinstance(exc.__cause__, RemoteTraceback), exc.__cause__
            assert "in check_input" in str(exc.__cause__)
            print("ok error story", flush=True)
        else:
            raise AssertionError("no RemoteError")
        try:
            await ex.map(check_input, range(10), chunksize=4)
        except zmqmesh.RemoteError as exc:
            assert exc.task == "check_input(7)", exc.task
            print("ok map item", flush=True)
        try:
            await ex.submit(check_input, x=7)
        except zmqmesh.RemoteError as exc:
            assert exc.task == "check_input(x=7)", exc.task
        assert await ex.submit(flaky, "a", 2, retries=2) == 3
        try:
            await ex.submit(flaky, "b", 2, retries=1)
        except zmqmesh.RemoteError as exc:
            assert exc.message == "run 2 fails", exc
        assert await ex.map(flaky, ["c", "d"], [1, 1], retries=1) == [2, 2]
        print("ok retries", flush=True)
        for bad in (-1, 1.5, "2"):
            try:
                ex.submit(check_input, 1, retries=bad)
            except ValueError:
                pass
            else:
                raise AssertionError(f"retries={bad!r} accepted")
        print("ok bad retries", flush=True)


if __name__ == "__main__":
    zmqmesh.run(main)
