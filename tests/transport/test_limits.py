"""Message sizes: the limit, the sender's check of it, and the receiver's
answer to a peer that breaks it (its receives fail, none hang)."""

from __future__ import annotations

import asyncio
import errno
import mmap
import struct
from typing import Any

import numpy as np
import pytest
from conftest import PROGRAMS, launch

from zmqmesh.transport import limits, shm
from zmqmesh.transport.samehost import _LAZY, LocalLinks, _frame, _Reader

from .test_samehost import FakeTransport

MIB = 2**20


def test_max_frame_defaults_to_this_hosts_memory() -> None:
    """Nothing caps a message below what memory allows (it was 4 GiB)."""
    assert limits._memory() == limits.MAX_FRAME


def test_check_size_sums_a_link_message_and_bounds_each_zeromq_frame() -> None:
    frames = [b"h" * 10, memoryview(bytes(600)), bytearray(600)]
    sizes = limits.sizes_of(frames)
    assert sizes == [10, 600, 600]
    assert limits.sizes_of([memoryview(bytes(16)).cast("Q")]) == [16]
    limits.check_size(sizes, 1210, whole=True)
    limits.check_size(sizes, 600, whole=False)
    with pytest.raises(ValueError, match=r"message of 1210 bytes .*max_frame, 1209 bytes"):
        limits.check_size(sizes, 1209, whole=True)
    with pytest.raises(ValueError, match=r"frame of 600 bytes .*max_frame, 599 bytes"):
        limits.check_size(sizes, 599, whole=False)


def test_large_frames_are_private_lazily_paged_mappings() -> None:
    small = _frame(_LAZY - 1)
    assert isinstance(small, bytearray)
    assert len(small) == _LAZY - 1
    before = _rss()
    size = limits.MAX_FRAME // 2  # half this host's memory: none of it until written
    big = _frame(size)
    assert isinstance(big, mmap.mmap)
    assert len(big) == size
    big[-1:] = b"x"
    assert big[-1:] == b"x"
    assert _rss() - before < 64 * MIB
    big.close()


def _rss() -> int:
    with open("/proc/self/status") as f:
        line = next(x for x in f if x.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def test_a_message_over_the_limit_closes_the_link_and_reports_the_pair() -> None:
    got: list[Any] = []
    broken: list[tuple[int, str]] = []
    loop = asyncio.new_event_loop()
    links = LocalLinks(
        loop,
        0,
        lambda s, h, b: got.append(h),
        max_message=MIB,
        on_broken=lambda r, why: broken.append((r, why)),
    )
    links.paths[3] = "/peer/3.link"
    r = _Reader(links)
    t = FakeTransport()
    r.transport = t  # type: ignore[assignment]
    loop.close()
    data = struct.pack("<I", 3)
    data += struct.pack("<IQ", 1, 2) + b"ok"  # a message within the limit
    data += struct.pack("<IQQ", 2, 10, MIB)  # 10 bytes over
    pos = 0
    while pos < len(data):
        buf = r.get_buffer(-1)
        n = min(len(buf), len(data) - pos)
        buf[:n] = data[pos : pos + n]
        r.buffer_updated(n)
        pos += n
    assert got == [b"ok"]
    assert t.aborted
    assert len(broken) == 1
    assert broken[0][0] == 3
    assert f"a message of {MIB + 10} bytes" in broken[0][1]


def test_send_refuses_what_the_peer_would_refuse_before_sending_anything() -> None:
    async def body() -> None:
        links = LocalLinks(asyncio.get_running_loop(), 0, lambda s, h, b: None, max_message=MIB)
        links.paths[1] = "/nowhere/1.link"
        with pytest.raises(ValueError, match=rf"of {MIB + 1} bytes .*{MIB} bytes"):
            links.send(1, [b"h", bytes(MIB)])
        assert links.links == {}  # no link opened, nothing queued
        links.close()

    asyncio.run(body())


def test_a_frame_that_does_not_fit_in_dev_shm_takes_the_socket(tmp_path, monkeypatch) -> None:
    pool = shm.ShmPool(str(tmp_path), rank=0)
    header = b"\x00" * 16
    frame = np.ones(shm.SHM_MIN, np.uint8)

    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shm.os, "posix_fallocate", full)
    out, lent = pool.swap_out([header, memoryview(frame)], peer=1)
    assert out is None
    assert lent == []
    assert pool.busy == 0
    pool.close()


def _run(mode: str, **env: str) -> str:
    forward = tuple(w for k, v in env.items() for w in ("-x", f"{k}={v}"))
    res = launch(2, PROGRAMS / "size_limits.py", mode, timeout=60, launcher_args=forward)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


@pytest.mark.timeout(80)
@pytest.mark.parametrize("links", ["1", "0"])
def test_a_message_over_max_frame_raises_at_its_sender(links: str) -> None:
    out = _run("sender", ZMQMESH_MAX_FRAME=str(MIB), ZMQMESH_LOCAL_LINKS=links)
    assert "[0] refused: a message" in out, out
    assert f"(max_frame, {MIB} bytes)" in out, out
    assert "[1] received what fits" in out, out


@pytest.mark.timeout(80)
def test_a_receiver_that_closes_a_link_fails_the_pairs_receives() -> None:
    """The receiver refuses a message over its limit (the sender's check is
    bypassed here): its pending and later receives from that rank fail with
    RankFailedError instead of waiting for what the closed link lost."""
    out = _run("violation", ZMQMESH_MAX_FRAME=str(MIB))
    assert "[1] pending receive failed: RankFailedError" in out, out
    assert "[1] later receive failed: RankFailedError" in out, out
