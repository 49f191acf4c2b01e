"""zmqmesh.checkpoint: files that round-trip every dtype and metadata type,
that are ignored until committed and refused when damaged; the collective
checkpoint/restore on in-process worlds of 1, 3 and 4 ranks; and the
crash-and-resume example under the launcher."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ROOT, launch

import zmqmesh
from zmqmesh.checkpoint import CheckpointError, checkpoint, commit, load, restore, save
from zmqmesh.testing import run_world


def roundtrip(d: Path, state: dict[str, Any]) -> dict[str, Any]:
    save(d, 0, state, step=1)
    commit(d, 1, size=1)
    got = load(d, 0)
    assert got is not None
    assert got[0] == 1
    return got[1]


def same_array(got: Any, want: np.ndarray) -> None:
    assert type(got) is np.ndarray
    assert (got.dtype, got.shape) == (want.dtype, want.shape)
    # exact bits (NaN payloads, -0.0, byte order), but not padding between fields
    for field in want.dtype.names or [None]:
        g, w = (got, want) if field is None else (got[field], want[field])
        assert g.tobytes() == w.tobytes()
    assert got.flags.writeable
    assert got.flags.owndata or (got.base is not None and got.base.flags.owndata)
    if want.flags.f_contiguous and not want.flags.c_contiguous:
        assert got.flags.f_contiguous


STRUCT = np.dtype(
    [("x", "<i4"), ("y", ">f8", (2,)), ("s", "S3"), ("in", [("a", "?"), ("b", "<c8")])]
)
DTYPES = [
    "?",
    "i1",
    "<u2",
    ">i4",
    "<i8",
    "u8",
    "<f2",
    ">f4",
    "<f8",
    "<c8",
    ">c16",
    "<M8[ns]",
    ">m8[s]",
    "S5",
    "<U3",
    ">U2",
    "V4",
    STRUCT,
    np.dtype({"names": ["a", "b"], "formats": ["u1", "<i4"], "offsets": [0, 8], "itemsize": 16}),
]


def sample(dt: np.dtype[Any], shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    raw = np.random.default_rng(seed).integers(0, 256, math.prod(shape) * dt.itemsize, np.uint8)
    a = raw.view(dt).reshape(shape) if dt.itemsize else np.empty(shape, dt)
    if dt.kind == "b":
        a = raw.astype(bool).reshape(shape)  # only 0 and 1 are valid bools
    if dt.kind == "U":
        a = np.full(shape, "é𝄞x"[: dt.itemsize // 4], dt)  # must be valid code points
    return a


@pytest.mark.timeout(20)
@pytest.mark.parametrize("dt", [np.dtype(d) for d in DTYPES], ids=str)
def test_every_dtype_and_layout_roundtrips(tmp_path: Path, dt: np.dtype[Any]) -> None:
    base = sample(dt, (6, 5))
    arrays = {
        "c": base,
        "f": np.asfortranarray(base),
        "strided": base[::2, 1::2],  # no single buffer: saved as a C copy
        "zero_d": sample(dt, ()),
        "empty": np.empty((3, 0, 2), dt),
        "empty_f": np.empty((0, 4), dt, order="F"),
        "three_d_f": np.asfortranarray(sample(dt, (2, 3, 4), seed=1)),
    }
    got = roundtrip(tmp_path, arrays)
    assert list(got) == list(arrays)
    for key, want in arrays.items():
        same_array(got[key], want)


@pytest.mark.timeout(20)
def test_metadata_types_roundtrip_exactly(tmp_path: Path) -> None:
    shared = np.arange(4.0)
    state: dict[str, Any] = {
        "none": None,
        "flags": [True, False],
        "ints": [0, -1, 2**63 - 1, -(2**63), 2**64 - 1, 2**64, -(2**200), 3**100],
        "floats": [0.0, -0.0, 1e308, float("inf"), float("-inf"), 5e-324],
        "nan": float("nan"),
        "str": "héllo 𝄞 \udcff",  # a lone surrogate too
        "bytes": b"\x00\xff" * 3,
        "tuple": (1, (2, (3, [4, (5,)])), ()),
        "list": [[], [[]], {}],
        "dict": {1: "int key", b"k": "bytes key", None: 0, (1, "a"): "tuple key", 2.5: 1},
        "np_scalars": [np.float32(1.5), np.int8(-3), np.bool_(True), np.str_(""), np.void(b"ab")],
        "rng": np.random.default_rng(1).bit_generator.state,
        "a": shared,
        "nested": {"again": shared, "view": shared[1:]},
    }
    got = roundtrip(tmp_path, state)
    assert got["nan"] != got["nan"]
    del got["nan"], state["nan"]
    for key in state:
        if key not in ("a", "nested", "np_scalars"):
            assert got[key] == state[key]
            assert repr(got[key]) == repr(state[key])  # tuple stays tuple, int stays int
    for g, w in zip(got["np_scalars"], state["np_scalars"], strict=True):
        assert type(g) is type(w)
        assert g == w
    assert got["nested"]["again"] is got["a"]  # one array object stays one object
    same_array(got["nested"]["view"], shared[1:])
    rng = np.random.default_rng(1)
    rng.bit_generator.state = got["rng"]
    assert rng.random() == np.random.default_rng(1).random()


@pytest.mark.timeout(20)
def test_memmap_is_saved_as_an_array(tmp_path: Path) -> None:
    mm = np.memmap(tmp_path / "mm", dtype="<i4", mode="w+", shape=(3, 2))
    mm[:] = [[1, 2], [3, 4], [5, 6]]
    got = roundtrip(tmp_path / "ck", {"mm": mm})
    same_array(got["mm"], np.asarray(mm))
    del mm


class Opaque:
    pass


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("state", "named"),
    [
        ({"a": {1, 2}}, "state['a']"),
        ({"ok": 1, "bad": Opaque()}, "state['bad']"),
        ({"deep": {"x": [0, 1, (2, 1j)]}}, "state['deep']['x'][2][1]"),
        ({"obj": np.array([1, None], dtype=object)}, "state['obj']"),
        ({"m": np.ma.masked_array([1, 2])}, "state['m']"),
        ({"ba": bytearray(b"x")}, "state['ba']"),
        ({"k": {frozenset(): 1}}, "state['k'] (a key frozenset()"),
        ({3: 1}, "got 3 (int)"),
    ],
)
def test_unsupported_value_raises_typeerror_naming_the_key(
    tmp_path: Path, state: dict[Any, Any], named: str
) -> None:
    with pytest.raises(TypeError) as info:
        save(tmp_path / "ck", 0, state, step=1)
    assert named in str(info.value)
    assert not (tmp_path / "ck").exists()  # refused before anything is written


@pytest.mark.timeout(20)
def test_self_containing_state_raises_valueerror(tmp_path: Path) -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match=r"state\['x'\]\[0\]"):
        save(tmp_path, 0, {"x": loop}, step=1)


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("kwargs", "exc"),
    [
        ({"rank": -1, "step": 0}, ValueError),
        ({"rank": 0, "step": -1}, ValueError),
        ({"rank": True, "step": 0}, TypeError),
        ({"rank": 0, "step": 1.0}, TypeError),
    ],
)
def test_bad_rank_or_step(tmp_path: Path, kwargs: dict[str, Any], exc: type[Exception]) -> None:
    with pytest.raises(exc):
        save(tmp_path, state={}, **kwargs)


@pytest.mark.timeout(20)
def test_nothing_committed_loads_none(tmp_path: Path) -> None:
    assert load(tmp_path / "missing", 0) is None
    assert load(tmp_path, 0) is None
    save(tmp_path, 0, {"x": 1}, step=3)  # saved, never committed
    assert load(tmp_path, 0) is None
    assert load(tmp_path, 0, step=3) is None


@pytest.mark.timeout(20)
def test_uncommitted_step_and_temp_files_are_ignored(tmp_path: Path) -> None:
    path = save(tmp_path, 0, {"v": np.arange(3)}, step=5)
    commit(tmp_path, 5, size=1)
    save(tmp_path, 0, {"v": np.arange(9)}, step=6)  # a crash before commit
    (tmp_path / "step-7").mkdir()
    for d in ("step-5", "step-6", "step-7"):
        (tmp_path / d / ".rank-0.ckpt.x1y2.tmp").write_bytes(b"half a file")
    (tmp_path / "step-junk").mkdir()
    got = load(tmp_path, 0)
    assert got is not None
    assert got[0] == 5
    same_array(got[1]["v"], np.arange(3))
    assert path == tmp_path / "step-5" / "rank-0.ckpt"
    older = load(tmp_path, 0, step=5)
    assert older is not None
    assert older[0] == 5
    assert sorted(p.name for p in (tmp_path / "step-5").iterdir())[-2:] == [
        "COMMITTED",
        "rank-0.ckpt",
    ]


@pytest.mark.timeout(20)
def test_failed_write_keeps_the_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save(tmp_path, 0, {"v": 1}, step=1)
    commit(tmp_path, 1, size=1)

    def crash(src: Any, dst: Any) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        save(tmp_path, 0, {"v": 2}, step=1)
    monkeypatch.undo()
    assert sorted(p.name for p in (tmp_path / "step-1").iterdir()) == ["COMMITTED", "rank-0.ckpt"]
    assert load(tmp_path, 0) == (1, {"v": 1})


def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    n = len(data)
    if how.startswith("cut"):
        keep = {"cut0": 0, "cut10": 10, "cut_header": 30, "cut_data": n - 100, "cut1": n - 1}
        data = data[: keep[how]]
    elif how == "flip_header":
        data[25] ^= 0x40
    elif how == "flip_data":
        data[-50] ^= 0x01
    elif how == "trailing":
        data += b"\0"
    elif how == "magic":
        data[:8] = b"NOTACKPT"
    path.write_bytes(bytes(data))


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "how",
    [
        "cut0",
        "cut10",
        "cut_header",
        "cut_data",
        "cut1",
        "flip_header",
        "flip_data",
        "trailing",
        "magic",
    ],
)
def test_damaged_file_raises_checkpointerror_naming_it(tmp_path: Path, how: str) -> None:
    path = save(tmp_path, 0, {"w": np.linspace(0, 1, 64), "meta": "m" * 40}, step=2)
    commit(tmp_path, 2, size=1)
    _damage(path, how)
    with pytest.raises(CheckpointError) as info:
        load(tmp_path, 0)
    assert str(path) in str(info.value)
    assert info.value.path == path
    assert isinstance(info.value, zmqmesh.MeshError)


@pytest.mark.timeout(20)
def test_missing_rewritten_or_absent_rank_file(tmp_path: Path) -> None:
    for r in range(2):
        save(tmp_path, r, {"r": r}, step=4)
    commit(tmp_path, 4, size=2)
    assert load(tmp_path, 1) == (4, {"r": 1})
    with pytest.raises(CheckpointError, match="no rank 2"):
        load(tmp_path, 2)
    save(tmp_path, 1, {"r": "new"}, step=4)  # rewritten, not yet recommitted
    with pytest.raises(CheckpointError, match=r"rank-1\.ckpt: not the file that step 4 committed"):
        load(tmp_path, 1)
    assert load(tmp_path, 0) == (4, {"r": 0})
    (tmp_path / "step-4" / "rank-1.ckpt").unlink()
    with pytest.raises(CheckpointError, match=r"rank-1\.ckpt: missing"):
        load(tmp_path, 1)
    with pytest.raises(CheckpointError, match=r"rank-1\.ckpt: missing"):
        commit(tmp_path, 4, size=2)


@pytest.mark.timeout(20)
def test_malformed_marker(tmp_path: Path) -> None:
    save(tmp_path, 0, {}, step=1)
    (tmp_path / "step-1" / "COMMITTED").write_text("{not json")
    with pytest.raises(CheckpointError, match="COMMITTED: malformed commit marker"):
        load(tmp_path, 0)


# -- collective, in one process ----------------------------------------------


def rank_state(rank: int, step: int) -> dict[str, Any]:
    return {
        "x": np.arange(10.0) * rank + step,
        "f": np.asfortranarray(np.full((3, 2), rank, np.int16)),
        "meta": {"rank": rank, "step": step, "hist": (step, [rank])},
    }


def check_state(got: dict[str, Any], rank: int, step: int) -> None:
    want = rank_state(rank, step)
    same_array(got["x"], want["x"])
    same_array(got["f"], want["f"])
    assert got["meta"] == want["meta"]


def steps_on_disk(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


@pytest.mark.timeout(30)
@pytest.mark.parametrize("n", [1, 3, 4])
def test_checkpoint_then_restore(tmp_path: Path, n: int) -> None:
    async def body(comm: zmqmesh.Comm) -> None:
        assert await restore(comm, tmp_path) is None
        for step in (1, 2, 3, 4):
            await checkpoint(comm, tmp_path, rank_state(comm.rank, step), step=step)
            # when checkpoint returns on any rank, the step is committed
            assert (tmp_path / f"step-{step}" / "COMMITTED").exists()
        got = await restore(comm, tmp_path)
        assert got is not None
        assert got[0] == 4
        check_state(got[1], comm.rank, 4)

    run_world(n, body)
    assert steps_on_disk(tmp_path) == ["step-3", "step-4"]  # keep=2
    assert steps_on_disk(tmp_path / "step-4") == ["COMMITTED"] + [
        f"rank-{r}.ckpt" for r in range(n)
    ]
    assert f'"size": {n}' in (tmp_path / "step-4" / "COMMITTED").read_text()


@pytest.mark.timeout(30)
def test_restore_ignores_other_sizes(tmp_path: Path) -> None:
    async def read(comm: zmqmesh.Comm) -> int | None:
        got = await restore(comm, tmp_path)
        if got is None:
            return None
        check_state(got[1], comm.rank, got[0])
        return got[0]

    run_world(3, _ckpt(tmp_path, 5))
    assert run_world(4, read) == [None] * 4  # written by 3 ranks: not for 4
    run_world(4, _ckpt(tmp_path, 7))
    assert run_world(3, read) == [5] * 3  # step 7 is newer, but of 4 ranks
    assert run_world(4, read) == [7] * 4
    assert run_world(1, read) == [None]
    assert load(tmp_path, 0) is not None  # non-collective load takes the newest of any size
    assert load(tmp_path, 3) is not None


def _ckpt(d: Path, step: int, keep: int = 5) -> Any:
    async def body(comm: zmqmesh.Comm) -> None:
        await checkpoint(comm, d, rank_state(comm.rank, step), step=step, keep=keep)

    return body


@pytest.mark.timeout(30)
def test_crash_mid_checkpoint_leaves_previous_step(tmp_path: Path) -> None:
    run_world(3, _ckpt(tmp_path, 10))
    # step 20: ranks 0 and 2 saved, rank 1 and the commit never happened
    for r in (0, 2):
        save(tmp_path, r, rank_state(r, 20), step=20)

    async def body(comm: zmqmesh.Comm) -> int:
        got = await restore(comm, tmp_path)
        assert got is not None
        check_state(got[1], comm.rank, got[0])
        return got[0]

    assert run_world(3, body) == [10, 10, 10]
    # resuming and checkpointing past it cleans the leftover up
    run_world(3, _ckpt(tmp_path, 30, keep=2))
    assert steps_on_disk(tmp_path) == ["step-10", "step-30"]


@pytest.mark.timeout(30)
def test_rewriting_a_committed_step(tmp_path: Path) -> None:
    run_world(3, _ckpt(tmp_path, 6))
    run_world(3, _ckpt(tmp_path, 8))
    run_world(3, _ckpt(tmp_path, 8))  # e.g. a rerun from an older step

    async def bad_rank0(comm: zmqmesh.Comm) -> None:
        state = rank_state(comm.rank, 8)
        state["bad"] = Opaque() if comm.rank == 0 else 0
        with pytest.raises((TypeError, CheckpointError)):
            await checkpoint(comm, tmp_path, state, step=8)

    run_world(3, bad_rank0)  # refused before anything was touched: step 8 stays

    async def steps(comm: zmqmesh.Comm) -> int:
        got = await restore(comm, tmp_path)
        assert got is not None
        check_state(got[1], comm.rank, got[0])
        return got[0]

    assert run_world(3, steps) == [8, 8, 8]

    async def cut_short(comm: zmqmesh.Comm) -> None:
        if comm.rank == 0:  # rank 0 drops the old marker, then the job dies
            (tmp_path / "step-8" / "COMMITTED").unlink()
        save(tmp_path, comm.rank, rank_state(comm.rank, 9), step=8)

    run_world(3, cut_short)
    assert run_world(3, steps) == [6, 6, 6]  # the previous committed step


@pytest.mark.timeout(30)
def test_damaged_file_fails_restore_on_every_rank(tmp_path: Path) -> None:
    run_world(4, _ckpt(tmp_path, 3))
    _damage(tmp_path / "step-3" / "rank-2.ckpt", "flip_data")

    async def body(comm: zmqmesh.Comm) -> str:
        with pytest.raises(CheckpointError) as info:
            await restore(comm, tmp_path)
        return str(info.value)

    messages = run_world(4, body)
    assert len(set(messages)) == 1  # every rank raised, with the same story
    assert "rank 2:" in messages[0]
    assert str(tmp_path / "step-3" / "rank-2.ckpt") in messages[0]


@pytest.mark.timeout(30)
def test_unsaveable_state_on_one_rank_fails_everywhere(tmp_path: Path) -> None:
    run_world(3, _ckpt(tmp_path, 1))

    async def body(comm: zmqmesh.Comm) -> str:
        state = rank_state(comm.rank, 2)
        if comm.rank == 1:
            state["bad"] = {1, 2}
        with pytest.raises((TypeError, CheckpointError)) as info:
            await checkpoint(comm, tmp_path, state, step=2)
        return f"{type(info.value).__name__}: {info.value}"

    out = run_world(3, body)
    assert out[1].startswith("TypeError: cannot checkpoint state['bad']")
    for msg in (out[0], out[2]):
        assert msg.startswith("CheckpointError: ")
        assert "step 2 not committed: rank 1: TypeError: cannot checkpoint state['bad']" in msg
    assert not (tmp_path / "step-2").exists()  # refused before any rank wrote
    got = load(tmp_path, 0)
    assert got is not None
    assert got[0] == 1


@pytest.mark.timeout(30)
def test_ranks_disagreeing_on_the_step(tmp_path: Path) -> None:
    async def body(comm: zmqmesh.Comm) -> str:
        with pytest.raises(CheckpointError) as info:
            await checkpoint(comm, tmp_path, {}, step=4 + (comm.rank == 2))
        return str(info.value)

    out = run_world(3, body)
    assert all("ranks passed different steps [4, 5]" in m for m in out)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())  # nothing written


# -- the example, under the launcher ------------------------------------------

EXAMPLE = ROOT / "examples" / "checkpointed_iterations.py"


def checksum(out: str) -> str:
    m = re.search(r"^\[0\] final checksum ([0-9a-f]{64})$", out, re.M)
    assert m, out
    return m[1]


@pytest.mark.timeout(60)
def test_example_crash_and_resume(tmp_path: Path) -> None:
    args = ("--steps", "40", "--every", "5")
    clean = launch(4, EXAMPLE, "--dir", str(tmp_path / "a"), *args, timeout=30)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "[0] started fresh" in clean.stdout
    want = checksum(clean.stdout)

    d = str(tmp_path / "b")
    crashed = launch(4, EXAMPLE, "--dir", d, *args, "--crash-at", "23", timeout=30)
    assert crashed.returncode != 0
    assert "final checksum" not in crashed.stdout
    assert "rank 1" in crashed.stderr
    assert "SIGKILL" in crashed.stderr

    resumed = launch(4, EXAMPLE, "--dir", d, *args, timeout=30)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    m = re.search(r"^\[0\] resumed from step (\d+)$", resumed.stdout, re.M)
    assert m, resumed.stdout
    assert int(m[1]) == 20  # the last checkpoint before step 23 committed before the crash
    assert checksum(resumed.stdout) == want
