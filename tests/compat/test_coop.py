"""Copying a large same-host message from both ends at once (``coop.py``):
the chunking, the two copy loops racing in two real processes (every byte
arrives, whoever copied it), a sender whose writes fail, and the protocol
on real ranks through ``Waitall``, ``Wait``, blocking calls and a sender
busy outside MPI."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from conftest import launch
from hypothesis import given
from hypothesis import strategies as st

from zmqmesh.compat.mpi4py import coop, rndv

HERE = Path(__file__).resolve().parent
MiB = 1 << 20

needs_cma = pytest.mark.skipif(not rndv.enabled(), reason="this kernel refuses cross-memory attach")


@given(st.integers(min_value=1, max_value=1 << 36))
def test_chunks_cover_a_transfer_exactly_in_at_most_sixteen_pages_aligned_pieces(n: int) -> None:
    size, count = coop.chunking(n)
    assert size >= coop.CHUNK_MIN
    assert size % 4096 == 0
    assert 1 <= count <= coop.MAX_CHUNKS
    assert (count - 1) * size < n <= count * size


def _race(n: int, sender_starts: bool) -> tuple[int, int, np.ndarray, np.ndarray]:
    """The receiver's and the sender's loops on one transfer of ``n`` bytes,
    in this process and a forked child, started together: ``(chunks the
    receiver read, first chunk the sender wrote, source, destination)``,
    the destination completed as the receiver completes it."""
    src = (np.arange(n, dtype=np.uint64) * 7 % 251).astype(np.uint8)
    dst = np.zeros(n, np.uint8)
    slot = coop.slot(True)  # the sender's claim (the child's copy of it)
    claim = np.zeros(1, np.int64)  # the receiver's
    go_r, go_w = os.pipe()
    res_r, res_w = os.pipe()
    end_r, end_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the sender: writes into the parent's dst from its copy of src
        code = 1
        try:
            os.read(go_r, 1)
            first = coop.sender_copy(
                os.getppid(), dst.ctypes.data, claim.ctypes.data, src.ctypes.data, n, slot
            )
            os.write(res_w, str(first).encode())
            os.read(end_r, 1)  # alive until the receiver has read what it needs
            code = 0
        finally:
            os._exit(code)
    parent_src = src.copy()
    src[:] = 0  # the receiver reads the child's copy, never its own
    try:
        if sender_starts:
            os.write(go_w, b"x")
        mine = coop.receiver_copy(pid, src.ctypes.data, n, dst.ctypes.data, slot.ctypes.data, claim)
        if not sender_starts:
            os.write(go_w, b"x")
        first = int(os.read(res_r, 64))
        assert mine >= 0
        assert coop.rest_copy(pid, src.ctypes.data, n, dst.ctypes.data, mine, first)
    finally:
        os.write(end_w, b"x")
        os.waitpid(pid, 0)
        for fd in (go_r, go_w, res_r, res_w, end_r, end_w):
            os.close(fd)
    return mine, first, parent_src, dst


@needs_cma
@pytest.mark.timeout(60)
@pytest.mark.parametrize("n", [2 * MiB, 4 * MiB, 5 * MiB + 123, 64 * MiB + 4095])
@pytest.mark.parametrize("sender_starts", [True, False])
def test_both_loops_racing_deliver_every_byte(n: int, sender_starts: bool) -> None:
    for _ in range(3):
        mine, first, src, dst = _race(n, sender_starts)
        count = coop.chunking(n)[1]
        assert 0 <= mine <= count
        assert 0 <= first <= count
        assert np.array_equal(dst, src)


@needs_cma
def test_a_sender_whose_writes_fail_leaves_its_chunks_to_the_receiver() -> None:
    n = 4 * MiB
    src = np.full(n, 9, np.uint8)
    theirs = np.zeros(1, np.int64)  # the receiver claimed nothing
    slot = coop.slot(True)
    gone = 2**22 + 4321  # no such process: every write fails
    first = coop.sender_copy(gone, 4096, theirs.ctypes.data, src.ctypes.data, n, slot)
    assert first == coop.chunking(n)[1]  # nothing written: the receiver reads it all


def test_a_transfer_s_claim_slot_says_whether_its_sender_waits() -> None:
    assert list(coop.slot(True)) == [coop.UNCLAIMED, 1]
    assert list(coop.slot(False)) == [coop.UNCLAIMED, 0]
    if rndv.enabled():
        mine = coop.slot(True)
        assert coop.sender_waits(os.getpid(), mine.ctypes.data)
        mine[1] = 0
        assert not coop.sender_waits(os.getpid(), mine.ctypes.data)
    assert not coop.sender_waits(2**22 + 4321, 4096)  # unreadable: read alone


def test_a_descriptor_carries_its_transfer_and_claim_slot() -> None:
    mem = np.zeros(64, np.uint8)
    plain = rndv.descriptor(mem)
    assert rndv.is_descriptor(plain)
    assert (int(plain[5]), int(plain[6])) == (-1, 0)
    slot = coop.slot(False)
    desc = rndv.descriptor(mem, 17, slot.ctypes.data)
    assert rndv.is_descriptor(desc)
    assert (int(desc[5]), int(desc[6])) == (17, slot.ctypes.data)


@needs_cma
@pytest.mark.timeout(120)
def test_senders_that_wait_copy_along_and_every_byte_arrives(tmp_path: Path) -> None:
    fifo = tmp_path / "received"
    os.mkfifo(fifo)
    res = launch(
        2,
        HERE / "coop_tour.py",
        timeout=110,
        launcher_args=("--mpi4py",),
        env={"COOP_FIFO": str(fifo)},
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "[0] coop tour ok" in res.stdout
    assert "[1] coop tour ok" in res.stdout
