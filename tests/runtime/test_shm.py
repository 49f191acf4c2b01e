"""The shared-memory path for large frames between ranks on one host."""

from __future__ import annotations

import gc
import os

import numpy as np
import pytest
from conftest import launch

from zmqmesh.runtime.shm import ShmPool, ShmReader


def test_segments_are_reused_once_released(tmp_path) -> None:
    released: list[tuple[int, list[int]]] = []
    pending: list = []
    pool = ShmPool(str(tmp_path), rank=3)
    reader = ShmReader(str(tmp_path), lambda p, ids: released.append((p, ids)), pending.append)
    data = np.arange(300_000, dtype=np.float64)
    ident, name = pool.put(memoryview(data))
    view = reader.view(3, ident, name, data.nbytes)
    arr = np.frombuffer(view, np.float64)
    assert np.array_equal(arr, data)
    data[:] = -1  # the sender may reuse its array at once
    assert arr[5] == 5.0
    assert pool.busy == 1
    del view, arr
    gc.collect()
    for flush in pending:
        flush()
    assert released == [(3, [ident])]
    pool.release(released[0][1])
    assert pool.busy == 0
    _, name2 = pool.put(memoryview(data))
    assert name2 == name  # the same segment, no new file
    assert len(os.listdir(tmp_path)) == 1
    reader.close()
    pool.close()  # busy: a receiver may still map it; the launcher removes the dir
    assert os.listdir(tmp_path) == [name]
    pool2 = ShmPool(str(tmp_path), rank=4)
    ident2, name3 = pool2.put(memoryview(data))
    pool2.release([ident2])
    pool2.close()  # free segments are removed at once
    assert name3 not in os.listdir(tmp_path)


def test_reader_rejects_bad_names(tmp_path) -> None:
    reader = ShmReader(str(tmp_path), lambda p, ids: None, lambda f: None)
    with pytest.raises(ValueError, match="bad shared-memory segment name"):
        reader.view(0, 1, "../etc/passwd", 10)


PROGRAM = """
import os, numpy as np, zmqmesh
async def main(comm):
    peer = 1 - comm.rank
    for i in range(30):  # more messages than a pool would need without reuse
        a = np.full(1_000_000, float(i))
        await comm.send(a, peer, tag=i)
        a[:] = -1
        got = await comm.recv(peer, tag=i)
        assert got.shape == (1_000_000,) and bool((got == i).all()), i
    segs = [f for f in os.listdir(os.environ["ZMQMESH_SHM_DIR"]) if f.startswith(f"{comm.rank}-")]
    print("segments", len(segs), flush=True)
    print("shm", os.environ["ZMQMESH_SHM_DIR"], flush=True)
zmqmesh.run(main)
"""


@pytest.mark.timeout(60)
def test_large_messages_use_a_bounded_pool_and_leave_nothing(tmp_path) -> None:
    prog = tmp_path / "shm_job.py"
    prog.write_text(PROGRAM)
    res = launch(2, prog, timeout=50)
    assert res.returncode == 0, res.stdout + res.stderr
    counts = [int(line.split()[-1]) for line in res.stdout.splitlines() if " segments " in line]
    assert len(counts) == 2
    assert all(1 <= c <= 8 for c in counts), counts  # reused: not one per message (30)
    shm_dir = next(line.split()[-1] for line in res.stdout.splitlines() if " shm " in line)
    assert not os.path.exists(shm_dir)
