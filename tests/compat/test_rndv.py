"""Large same-host buffer messages sent by descriptor (``rndv.py``): the
reading itself in process, then every receive path on real ranks, with
the path on and off."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import launch

from zmqmesh.compat.mpi4py import rndv
from zmqmesh.wire import Envelope, Kind, encode, payload_nbytes

HERE = Path(__file__).resolve().parent


def test_a_descriptor_reads_this_process_s_bytes_into_place() -> None:
    if not rndv.enabled():
        pytest.skip("this kernel refuses cross-memory attach")
    src = np.arange(100_000, dtype=np.uint8)
    desc = rndv.descriptor(src)
    assert rndv.is_descriptor(desc)
    assert rndv.size_of(desc) == src.nbytes
    into = np.zeros(150_000, np.uint8)
    got = rndv.read(desc, into)
    assert got is not None
    assert got.ctypes.data == into.ctypes.data  # in place
    assert np.array_equal(into[: src.nbytes], src)
    small = np.zeros(10, np.uint8)
    got = rndv.read(desc, small)  # does not fit: a new array, for the caller to refuse
    assert got is not None
    assert got.ctypes.data != small.ctypes.data
    assert np.array_equal(got, src)


def test_a_descriptor_that_cannot_be_read_gives_none() -> None:
    src = np.ones(4096, np.uint8)
    other_space = rndv.descriptor(src)
    other_space[4] += 1  # from another pid namespace: its pid means another process
    assert rndv.read(other_space, None) is None
    gone = rndv.descriptor(src)
    gone[1] = 2**22 + 12345  # no such process
    assert rndv.read(gone, None) is None


def test_what_is_not_a_descriptor() -> None:
    assert not rndv.is_descriptor(np.zeros(5, np.int64))
    assert not rndv.is_descriptor(np.zeros(5, np.uint8))
    assert not rndv.is_descriptor([rndv.MAGIC, 0, 0, 0, 0])


def test_a_probe_reports_a_descriptor_message_by_its_size() -> None:
    frames = encode(Envelope(Kind.P2P, 0, 0, 0), rndv.descriptor(np.zeros(8, np.uint8)))
    assert payload_nbytes(frames) == rndv.desc_nbytes()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("cma", ["1", "0"])
def test_large_messages_on_one_host_by_every_receive_path(cma: str) -> None:
    env = {"ZMQMESH_CMA": cma}
    res = launch(2, HERE / "rndv_tour.py", timeout=80, launcher_args=("--mpi4py",), env=env)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "[0] rndv tour ok" in res.stdout
