"""The exception tree of zmqmesh.

Every error that zmqmesh raises on its own account derives from
:class:`MeshError`. Wrong arguments raise the built-in ``TypeError`` or
``ValueError`` at the call site instead, as Python code expects.
"""

from __future__ import annotations

__all__ = [
    "ActorDiedError",
    "AuthenticationError",
    "CollectiveMismatchError",
    "DecodeError",
    "LaunchError",
    "MeshError",
    "RankFailedError",
    "RemoteError",
]


class MeshError(Exception):
    """Base class of every zmqmesh error."""


class RankFailedError(MeshError):
    """A peer rank died or became unreachable.

    ``rank`` is the failed rank in the communicator the failing call used.
    """

    def __init__(self, rank: int, detail: str = "") -> None:
        self.rank = rank
        self.detail = detail
        if detail.startswith("finished"):  # it left normally, still awaited
            super().__init__(f"rank {rank} {detail}")
            return
        msg = f"rank {rank} failed"
        super().__init__(f"{msg}: {detail}" if detail else msg)

    def __reduce__(self) -> tuple[type[RankFailedError], tuple[int, str]]:
        return (type(self), (self.rank, self.detail))


class CollectiveMismatchError(MeshError):
    """Ranks of one communicator called different collectives (or the same
    collective with incompatible arguments) at the same point."""


class RemoteTraceback(Exception):
    """The traceback text of an exception raised on another rank, as the
    ``__cause__`` of its :class:`RemoteError`: Python prints it first, so a
    failed task shows where it failed in the user's code."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return "\n" + self.text.rstrip("\n")


class RemoteError(MeshError):
    """A task or operation raised on another rank.

    Carries the remote exception's type name, message and traceback text
    (``traceback``, also ``remote_traceback``; the user's frames, and the
    error's ``__cause__`` when it came from a task), and where that
    was: the worker's ``rank`` and the ``task`` (function name and
    abbreviated arguments), or None when not known. ``upstream`` is True
    when the error is not the task's own but that of one of its inputs (a
    future passed as an argument): the input's error, passed on unchanged
    but for this mark.
    """

    def __init__(
        self,
        type_name: str,
        message: str,
        traceback: str = "",
        rank: int | None = None,
        task: str | None = None,
        upstream: bool = False,
    ) -> None:
        self.type_name = type_name
        self.message = message
        self.traceback = traceback
        self.rank = rank
        self.task = task
        self.upstream = upstream
        where = []
        if task:
            where.append(f"task {task}")
        if rank is not None:
            where.append(f"on rank {rank}")
        text = f"{type_name}: {message}"
        text = f"{text} ({' '.join(where)})" if where else text
        if upstream:
            text += " (upstream: the failed input of a task that took it as an argument)"
        super().__init__(text)
        if traceback:
            self.__cause__ = RemoteTraceback(traceback)

    def as_upstream(self) -> RemoteError:
        """The same error, marked as that of an input of another task."""
        return type(self)(
            self.type_name, self.message, self.traceback, self.rank, self.task, upstream=True
        )

    @property
    def remote_traceback(self) -> str:
        """The remote traceback's text (the same as ``traceback``)."""
        return self.traceback

    def __reduce__(
        self,
    ) -> tuple[type[RemoteError], tuple[str, str, str, int | None, str | None, bool]]:
        return (
            type(self),
            (self.type_name, self.message, self.traceback, self.rank, self.task, self.upstream),
        )


class ActorDiedError(RemoteError):
    """An actor's worker died (or the actor was closed) before a call to it
    ran: the call's future fails with this. ``rank`` is where it lived."""


class LaunchError(MeshError):
    """The job could not be started or joined (launcher, rendezvous, hostfile)."""


class AuthenticationError(MeshError):
    """A peer failed to authenticate with the job's key."""


class DecodeError(MeshError, ValueError):
    """A set of frames is not a valid zmqmesh message.

    Raised by the wire decoder; the receive loop logs it and drops the
    message instead of crashing.
    """
