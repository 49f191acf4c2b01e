"""Collective checkpoint and restore."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from zmqmesh.checkpoint._format import (
    _MARKER,
    CheckpointError,
    _Dir,
)
from zmqmesh.checkpoint._store import (
    _check_index,
    _encode_file,
    _Encoded,
    _fsync_dir,
    _newest,
    _prune,
    _step_dir,
    _write_file,
    _write_marker,
    load,
)

# -- collective --------------------------------------------------------------


class Comm(Protocol):
    """The part of a communicator's public API a checkpoint uses: any
    ``zmqmesh.Comm`` (this package sits below the runtime and never
    imports it)."""

    @property
    def rank(self) -> int: ...

    @property
    def size(self) -> int: ...

    async def bcast(self, obj: Any, root: int = 0) -> Any: ...

    async def gather(self, obj: Any, root: int = 0) -> list[Any] | None: ...

    async def allgather(self, obj: Any) -> list[Any]: ...


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (CheckpointError, OSError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


async def checkpoint(
    comm: Comm,
    directory: str | os.PathLike[str],
    state: Mapping[str, Any],
    *,
    step: int,
    keep: int = 2,
) -> None:
    """Collective: save every rank's ``state`` as step ``step`` and commit it.

    In order, with the file work in worker threads so the event loop keeps
    running:

    1. every rank encodes its ``state`` (see :func:`save`); a ``gather``
       tells rank 0 whether all succeeded with the same ``step``; if so rank
       0 removes the step's ``COMMITTED`` marker, should the step be
       committed already, and a ``bcast`` says go (or why not);
    2. every rank writes its file atomically; a ``gather`` to rank 0 is the
       barrier that proves every file durable;
    3. rank 0 writes the ``COMMITTED`` marker atomically (``comm.size`` and
       each file's id inside), then removes committed steps beyond the newest
       ``keep``; a ``bcast`` of its outcome is the final barrier.

    So when ``checkpoint`` returns on any rank, the step is committed; when
    it fails in step 1 (bad state, different steps) nothing on disk changed.
    A crash or cancellation before the marker is written leaves the previous
    committed step the newest one, and the new step's files are ignored. (A
    write already running in its thread completes even if the caller is
    cancelled.) ``directory`` must be the same directory, at the same path,
    on every rank.

    Raises on every rank, so that no rank waits forever: ``TypeError`` or
    ``ValueError`` on a rank whose own ``state`` cannot be saved (see
    :func:`save`) and :class:`CheckpointError` naming that rank on the
    others; :class:`CheckpointError` everywhere when the ranks passed
    different steps, a rank failed to write its file, or rank 0 failed to
    commit (or, the step committed, to remove old ones). The caller must not
    modify its arrays until ``checkpoint`` returns.
    """
    step = _check_index(step, "step")
    if type(keep) is not int or keep < 1:
        raise ValueError(f"keep must be a positive int, got {keep!r}")
    rank = comm.rank
    mine: Exception | None = None
    encoded: _Encoded | None = None
    try:
        encoded = await asyncio.to_thread(_encode_file, rank, state, step)
    except Exception as exc:
        mine = exc
    outcome = await _agree(comm, step, mine, "", lambda _: _uncommit(directory, step))
    if outcome is None and encoded is not None:
        try:
            await asyncio.to_thread(_write_file, directory, step, encoded)
        except Exception as exc:
            mine = exc

        def finish(ids: list[str]) -> str | None:
            _write_marker(directory, step, ids)
            try:
                _prune(directory, step, keep)
            except Exception as exc:
                return f"step {step} committed, but removing old steps failed: {_describe(exc)}"
            return None

        outcome = await _agree(comm, step, mine, encoded[1], finish)
    if mine is not None:
        raise mine
    if outcome is not None:
        raise CheckpointError(f"checkpoint in {directory}: {outcome}")


async def _agree(
    comm: Comm,
    step: int,
    mine: Exception | None,
    file_id: str,
    then: Callable[[list[str]], str | None],
) -> str | None:
    """One round of :func:`checkpoint`: rank 0 gathers every rank's step,
    problem and file id; if no rank has a problem, it runs ``then(ids)`` in
    a thread. Every rank returns what went wrong (None: nothing did), as
    rank 0 broadcast it."""
    problem = None if mine is None else f"rank {comm.rank}: {_describe(mine)}"
    reports = await comm.gather((step, problem, file_id), root=0)
    outcome: str | None = None
    if reports is not None:  # rank 0
        problems = [p for _, p, _ in reports if p is not None]
        steps = sorted({s for s, _, _ in reports})
        if len(steps) > 1:
            problems.append(f"ranks passed different steps {steps}")
        if problems:
            outcome = f"step {step} not committed: " + "; ".join(problems)
        else:
            try:
                outcome = await asyncio.to_thread(then, [i for _, _, i in reports])
            except Exception as exc:
                outcome = f"step {step} not committed: rank 0: {_describe(exc)}"
    result: str | None = await comm.bcast(outcome, root=0)
    return result


def _uncommit(directory: _Dir, step: int) -> None:
    """Remove the marker of ``step``, if any, before its files are rewritten:
    the marker must never vouch for a mix of old and new files."""
    step_dir = _step_dir(directory, step)
    with contextlib.suppress(FileNotFoundError):
        (step_dir / _MARKER).unlink()
        _fsync_dir(step_dir)


async def restore(
    comm: Comm, directory: str | os.PathLike[str]
) -> tuple[int, dict[str, Any]] | None:
    """Collective: return ``(step, state)`` of the newest committed step of
    ``directory`` written by a job of ``comm.size`` ranks, each rank getting
    its own state; None on every rank if there is none (steps committed by
    jobs of other sizes are ignored). Changes nothing on disk.

    Rank 0 picks the step and broadcasts it; every rank loads its own file
    with :func:`load` (in a worker thread); an ``allgather`` of the outcomes
    makes every rank agree on success.

    Raises :class:`CheckpointError` on every rank, naming each failed rank
    and its file, when any rank's file of the chosen step is missing,
    truncated or corrupt, or when rank 0 cannot read a commit marker.
    """
    picked: tuple[int | None, str | None] = (None, None)
    if comm.rank == 0:
        try:
            found = await asyncio.to_thread(_newest, directory, comm.size)
            picked = (None if found is None else found[0], None)
        except Exception as exc:
            picked = (None, _describe(exc))
    step, problem = await comm.bcast(picked, root=0)
    if problem is not None:
        raise CheckpointError(f"cannot restore from {directory}: rank 0: {problem}")
    if step is None:
        return None
    got: tuple[int, dict[str, Any]] | None = None
    error: str | None = None
    try:
        got = await asyncio.to_thread(load, directory, comm.rank, step)
        if got is None:
            error = f"rank {comm.rank}: step {step} is no longer committed"
    except Exception as exc:
        error = f"rank {comm.rank}: {_describe(exc)}"
    errors = [e for e in await comm.allgather(error) if e is not None]
    if errors or got is None:
        raise CheckpointError(f"cannot restore step {step} from {directory}: " + "; ".join(errors))
    return got
