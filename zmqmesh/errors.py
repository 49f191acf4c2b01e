"""The exception tree of zmqmesh.

Every error that zmqmesh raises on its own account derives from
:class:`MeshError`. Wrong arguments raise the built-in ``TypeError`` or
``ValueError`` at the call site instead, as Python code expects.
"""

from __future__ import annotations

__all__ = [
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
        msg = f"rank {rank} failed"
        super().__init__(f"{msg}: {detail}" if detail else msg)

    def __reduce__(self) -> tuple[type[RankFailedError], tuple[int, str]]:
        return (type(self), (self.rank, self.detail))


class CollectiveMismatchError(MeshError):
    """Ranks of one communicator called different collectives (or the same
    collective with incompatible arguments) at the same point."""


class RemoteError(MeshError):
    """A task or operation raised on another rank.

    Carries the remote exception's type name, message and traceback text.
    """

    def __init__(self, type_name: str, message: str, traceback: str = "") -> None:
        self.type_name = type_name
        self.message = message
        self.traceback = traceback
        super().__init__(f"{type_name}: {message}")

    def __reduce__(self) -> tuple[type[RemoteError], tuple[str, str, str]]:
        return (type(self), (self.type_name, self.message, self.traceback))


class LaunchError(MeshError):
    """The job could not be started or joined (launcher, rendezvous, hostfile)."""


class AuthenticationError(MeshError):
    """A peer failed to authenticate with the job's key."""


class DecodeError(MeshError, ValueError):
    """A set of frames is not a valid zmqmesh message.

    Raised by the wire decoder; the receive loop logs it and drops the
    message instead of crashing.
    """
