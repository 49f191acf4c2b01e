"""Checkpoint files: atomic writes, reads, commit markers."""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import shutil
import tempfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeAlias

import numpy as np

from zmqmesh.errors import DecodeError
from zmqmesh.wire.arrays import array_to_wire, dtype_from_wire

if TYPE_CHECKING:
    pass

from zmqmesh.checkpoint._format import (
    _FORMAT,
    _MAGIC,
    _MARKER,
    _MARKER_KIND,
    _MAX_NDIM,
    _PREFIX,
    _STEP_DIR,
    CheckpointError,
    _decoder,
    _Dir,
    _Encoder,
    _pack,
)

# -- files -------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    # Makes renames and new entries in ``path`` durable. Directories cannot be
    # opened for fsync on Windows, where NTFS journals metadata anyway.
    if os.name == "nt":  # pragma: no cover
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _makedirs(path: Path) -> None:
    """``mkdir -p`` whose new entries are durable: fsync each new dir's parent."""
    missing = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another rank made it first
            d.mkdir()
        _fsync_dir(d.parent)


def _atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Create or replace ``path`` with what ``write`` writes, atomically and
    durably: afterwards ``path`` holds the old content or the new one, whatever
    crashes. The file is created with mode 0600 (only its owner can read it)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _check_index(value: object, what: str) -> int:
    if type(value) is not int:
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if value < 0 or value >= 10**19:
        raise ValueError(f"{what} must be between 0 and 10**19 - 1, got {value}")
    return value


def _step_dir(directory: _Dir, step: int) -> Path:
    return Path(directory) / f"step-{step}"


def save(
    directory: str | os.PathLike[str], rank: int, state: Mapping[str, Any], *, step: int
) -> Path:
    """Write one rank's ``state`` as ``<directory>/step-<step>/rank-<rank>.ckpt``
    and return that path. Not collective, and it does not commit the step
    (:func:`checkpoint` does; so does :func:`commit`).

    ``state`` maps str keys to NumPy arrays (any shape, memory order and
    dtype but object or variable-width ones; contiguous arrays are written
    from their own memory), NumPy scalars, or nestings of ``None``, ``bool``,
    ``int``, ``float``, ``str``, ``bytes``, ``list``, ``tuple`` and ``dict``
    holding those. :func:`load` gives back the same types (a tuple stays a
    tuple, an ``np.memmap`` comes back as a plain array, one array object
    stored under two keys comes back as one object).

    The write is atomic (temporary file in the same directory, flush,
    ``fsync``, ``os.replace``, ``fsync`` of the directory): a crash leaves the
    previous file or the new one, and at worst a stray
    ``.rank-<rank>.ckpt.*.tmp`` that is never read.

    Raises ``TypeError`` naming the key of an unsupported value (or a non-str
    top-level key) and ``ValueError`` for state that contains itself, both
    before anything is written; ``OSError`` if the file cannot be written.
    The caller must not modify the arrays while ``save`` runs.
    """
    rank = _check_index(rank, "rank")
    step = _check_index(step, "step")
    return _write_file(directory, step, _encode_file(rank, state, step))


_Encoded: TypeAlias = "tuple[int, str, bytes, list[bytes | memoryview]]"
"""A rank file ready to write: ``(rank, file id, header, array buffers)``."""


def _encode_file(rank: int, state: Mapping[str, Any], step: int) -> _Encoded:
    """Check and encode ``state``; arrays stay views (no copy) where possible."""
    if not isinstance(state, Mapping):
        raise TypeError(f"state must be a mapping with str keys, not {type(state).__name__}")
    enc = _Encoder()
    top: dict[str, object] = {}
    for key, value in state.items():
        if type(key) is not str:
            raise TypeError(f"state keys must be str, got {key!r:.60} ({type(key).__name__})")
        top[key] = enc.encode(value, f"[{key!r}]")
    table: list[list[object]] = []
    buffers: list[bytes | memoryview] = []
    data = 0
    for a in enc.arrays:
        dtype, shape, fortran, buf = array_to_wire(a)
        nbytes = buf.nbytes if isinstance(buf, memoryview) else len(buf)
        table.append([enc.encode(dtype, ""), shape, fortran, nbytes, zlib.crc32(buf)])
        buffers.append(buf)
        data += nbytes
    file_id = secrets.token_hex(8)
    header = _pack(
        {
            "format": _FORMAT,
            "rank": rank,
            "step": step,
            "id": file_id,
            "arrays": table,
            "state": _pack(top),
            "data": data,
        }
    )
    return rank, file_id, header, buffers


def _write_file(directory: _Dir, step: int, encoded: _Encoded) -> Path:
    rank, _, header, buffers = encoded

    def write(f: IO[bytes]) -> None:
        f.write(_PREFIX.pack(_MAGIC, len(header), zlib.crc32(header)))
        f.write(header)
        for buf in buffers:
            f.write(buf)

    path = _step_dir(directory, step) / f"rank-{rank}.ckpt"
    _makedirs(path.parent)
    _atomic_write(path, write)
    return path


_HEADER_FIELDS = frozenset({"format", "rank", "step", "id", "arrays", "state", "data"})


def _read_header(f: IO[bytes], size: int) -> dict[str, Any]:
    """The checked header of an open checkpoint file of ``size`` bytes, its
    dtypes and tuples decoded; the file is left at the start of the data.
    Raises DecodeError (or what msgpack may raise on garbage) if it is bad."""
    prefix = f.read(_PREFIX.size)
    if len(prefix) < _PREFIX.size:
        raise DecodeError(f"truncated: {size} bytes, not even a file header")
    magic, hlen, hcrc = _PREFIX.unpack(prefix)
    if magic != _MAGIC:
        raise DecodeError("not a zmqmesh checkpoint file (bad magic bytes)")
    if _PREFIX.size + hlen > size:
        raise DecodeError(f"truncated: the header needs {hlen} bytes, the file has {size}")
    raw = f.read(hlen)
    if zlib.crc32(raw) != hcrc:
        raise DecodeError("header checksum mismatch")
    hdr = _decoder([])(raw)  # no array may be referenced from the header itself
    if type(hdr) is not dict or set(hdr) != _HEADER_FIELDS:
        raise DecodeError("malformed header")
    if hdr["format"] != _FORMAT:
        raise DecodeError(f"unsupported format version {hdr['format']!r:.40}")
    for key, kind in (("rank", int), ("step", int), ("id", str), ("arrays", list)):
        if type(hdr[key]) is not kind:
            raise DecodeError(f"malformed header field {key!r}")
    if type(hdr["state"]) is not bytes or type(hdr["data"]) is not int:
        raise DecodeError("malformed header")
    return hdr


def _read_file(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(header, state)`` of the checkpoint file ``path``, every byte checked.
    Raises DecodeError (or what NumPy/msgpack may raise on garbage) for a bad
    file; OSError if it cannot be read."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        hdr = _read_header(f, size)
        metas = []
        for row in hdr["arrays"]:
            if type(row) is not list or len(row) != 5:
                raise DecodeError(f"malformed array entry {row!r:.100}")
            dt = dtype_from_wire(row[0])
            shape, fortran, nbytes, crc = row[1:]
            # Bounding the dims first keeps math.prod cheap on a forged header.
            if (
                type(shape) is not list
                or len(shape) > _MAX_NDIM
                or not all(type(d) is int and 0 <= d < 2**63 for d in shape)
            ):
                raise DecodeError(f"malformed array shape {shape!r:.100}")
            if type(fortran) is not bool or type(crc) is not int:
                raise DecodeError("malformed array entry")
            if nbytes != math.prod(shape) * dt.itemsize:
                raise DecodeError(f"an array of dtype {dt}, shape {shape} is not {nbytes} bytes")
            metas.append((dt, tuple(shape), fortran, nbytes, crc))
        end = f.tell() + sum(m[3] for m in metas)
        if hdr["data"] != end - f.tell() or end != size:
            what = "truncated" if size < end else "trailing bytes"
            raise DecodeError(f"{what}: the file has {size} bytes, its header describes {end}")
        arrays = []
        for i, (dt, shape, fortran, nbytes, crc) in enumerate(metas):
            a = np.empty(shape, dt, order="F" if fortran else "C")
            if nbytes:
                view = (a.T if fortran else a).reshape(-1).view(np.uint8).data
                _read_exact(f, view)
                if zlib.crc32(view) != crc:
                    raise DecodeError(f"checksum mismatch in the data of array {i}")
            arrays.append(a)
    state = _decoder(arrays)(hdr["state"])
    if type(state) is not dict or not all(type(k) is str for k in state):
        raise DecodeError("malformed state")
    return hdr, state


def _read_exact(f: IO[bytes], view: memoryview) -> None:
    got = 0
    while got < view.nbytes:
        n = f.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            raise DecodeError(f"truncated: data ends {view.nbytes - got} bytes early")
        got += n


def _read_marker(step_dir: Path) -> dict[str, Any] | None:
    """The checked COMMITTED marker of ``step_dir``, or None if there is none."""
    path = step_dir / _MARKER
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        marker = json.loads(text)
    except ValueError:
        marker = None
    if not (
        type(marker) is dict
        and marker.get("format") == _MARKER_KIND
        and marker.get("version") == _FORMAT
        and marker.get("step") == int(step_dir.name[5:])
        and type(marker.get("size")) is int
        and type(marker.get("files")) is list
        and len(marker["files"]) == marker["size"] >= 1
        and all(type(i) is str for i in marker["files"])
    ):
        raise CheckpointError(f"{path}: malformed commit marker", path)
    return marker


def _steps(directory: _Dir) -> list[int]:
    """The step numbers of ``directory``'s step directories, newest first."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted((int(m[1]) for m in map(_STEP_DIR.fullmatch, names) if m), reverse=True)


def _committed(directory: _Dir) -> Iterator[tuple[int, dict[str, Any]]]:
    """Every committed step of ``directory`` as ``(step, marker)``, newest first."""
    for step in _steps(directory):
        marker = _read_marker(_step_dir(directory, step))
        if marker is not None:
            yield step, marker


def _newest(directory: _Dir, size: int | None = None) -> tuple[int, dict[str, Any]] | None:
    """The newest committed step (of a job of ``size`` ranks) and its marker."""
    for step, marker in _committed(directory):
        if size is None or marker["size"] == size:
            return step, marker
    return None


def load(
    directory: str | os.PathLike[str], rank: int, step: int | None = None
) -> tuple[int, dict[str, Any]] | None:
    """Return ``(step, state)``: ``rank``'s state of the newest committed step
    of ``directory`` (whatever the size of the job that committed it), or of
    ``step``. Returns None when no step (or, given ``step``, not that one) is
    committed; uncommitted steps and temporary files are never read. Not
    collective; changes nothing on disk.

    Arrays come back writable, owning their memory, with the dtype, shape
    and memory order (C or Fortran) they were saved with.

    Raises :class:`CheckpointError` naming the file when the committed step
    has no file for ``rank``, when the file is truncated or corrupt (a CRC-32
    covers every byte), or when it is not the file the step's commit marker
    vouches for; ``OSError`` for other I/O failures.
    """
    rank = _check_index(rank, "rank")
    if step is None:
        found = _newest(directory)
        if found is None:
            return None
        step, marker = found
    else:
        step = _check_index(step, "step")
        got = _read_marker(_step_dir(directory, step))
        if got is None:
            return None
        marker = got
    path = _step_dir(directory, step) / f"rank-{rank}.ckpt"
    if rank >= marker["size"]:
        raise CheckpointError(
            f"{path}: step {step} was committed by {marker['size']} rank(s), no rank {rank}",
            path,
        )
    try:
        hdr, state = _read_file(path)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing file of committed step {step}", path) from None
    except OSError:
        raise
    except Exception as exc:  # garbage can upset msgpack and NumPy in many ways
        raise CheckpointError(f"{path}: corrupt checkpoint file: {exc}", path) from exc
    if (hdr["rank"], hdr["step"], hdr["id"]) != (rank, step, marker["files"][rank]):
        raise CheckpointError(
            f"{path}: not the file that step {step} committed (it was rewritten since)", path
        )
    return step, state


def _write_marker(directory: _Dir, step: int, ids: list[str]) -> Path:
    marker = {
        "format": _MARKER_KIND,
        "version": _FORMAT,
        "step": step,
        "size": len(ids),
        "files": ids,
    }
    text = json.dumps(marker, indent=1).encode() + b"\n"

    def write(f: IO[bytes]) -> None:
        f.write(text)

    path = _step_dir(directory, step) / _MARKER
    _atomic_write(path, write)
    return path


def commit(directory: str | os.PathLike[str], step: int, *, size: int) -> Path:
    """Mark ``step`` committed for a job of ``size`` ranks and return the
    marker's path, after checking the header of each rank's file
    ``0 .. size-1``. Not collective: call it once every rank's :func:`save`
    of the step has returned (:func:`checkpoint` does all this for you). The
    marker is written atomically, as :func:`save` writes files.

    Raises :class:`CheckpointError` naming a missing or corrupt file, and
    writes no marker then.
    """
    step = _check_index(step, "step")
    if type(size) is not int or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    ids = []
    for rank in range(size):
        path = _step_dir(directory, step) / f"rank-{rank}.ckpt"
        try:
            with open(path, "rb") as f:
                hdr = _read_header(f, os.fstat(f.fileno()).st_size)
        except FileNotFoundError:
            raise CheckpointError(f"{path}: missing, cannot commit step {step}", path) from None
        except OSError:
            raise
        except Exception as exc:
            raise CheckpointError(f"{path}: corrupt checkpoint file: {exc}", path) from exc
        if (hdr["rank"], hdr["step"]) != (rank, step):
            raise CheckpointError(f"{path}: holds rank {hdr['rank']}, step {hdr['step']}", path)
        ids.append(hdr["id"])
    return _write_marker(directory, step, ids)


def _prune(directory: _Dir, newest: int, keep: int) -> None:
    """Remove committed steps beyond the ``keep`` newest (never ``newest``)
    and uncommitted step directories older than ``newest`` (crash leftovers).
    A marker goes first, so a step half removed is no longer committed."""
    committed = [step for step, _ in _committed(directory)]
    kept = set(committed[:keep]) | {newest}
    for step in _steps(directory):
        if step in kept or (step > newest and step not in committed):
            continue  # a newer uncommitted step may be a later attempt's: not ours
        step_dir = _step_dir(directory, step)
        if step in committed:
            (step_dir / _MARKER).unlink()
            _fsync_dir(step_dir)
        shutil.rmtree(step_dir)
    _fsync_dir(Path(directory))
