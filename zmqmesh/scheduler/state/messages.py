"""The state machine's events (what happened) and instructions (what to do).

Every one is a frozen, slotted dataclass of plain data; values and errors
are opaque objects the machine only carries. See the package docstring for
what each means and when it comes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ActorCall",
    "ActorClose",
    "ActorClosed",
    "ActorEnded",
    "ActorNew",
    "ActorSend",
    "Event",
    "Fail",
    "Fetch",
    "Fetched",
    "Finished",
    "Free",
    "FutureGone",
    "HandleSeen",
    "InputLost",
    "Instruction",
    "Kept",
    "Moved",
    "Place",
    "Released",
    "Reopen",
    "Resolve",
    "Submit",
    "Wanted",
    "WorkerLost",
]

Path = tuple[Any, ...]


# -- events --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Submit:
    """A task was submitted here. ``args``/``kwargs`` hold None where each
    of ``inputs`` (``(path, input tid)``) was; ``handles`` are actor handles
    as they travel (``[path, -2, [aid, rank, name]]``); ``done`` gives
    ``(tid, ok, value)`` for inputs whose futures are done but that the
    machine may no longer hold. ``retries``: runs again when it raises."""

    tid: int
    ref: Any
    args: Any
    kwargs: dict[str, Any]
    retries: int = 0
    inputs: tuple[tuple[Path, int], ...] = ()
    handles: tuple[list[Any], ...] = ()
    done: tuple[tuple[int, bool, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Finished:
    """Task or actor call ``tid`` finished on ``source`` with ``value`` (or,
    not ``ok``, the exception ``value``); ``nbytes`` > 0: the value stays
    on ``source`` and is that large."""

    tid: int
    ok: bool
    value: Any
    source: int = -1
    nbytes: int = 0


@dataclass(frozen=True, slots=True)
class InputLost:
    """Dependent ``tid`` did not run: its input ``input_tid`` could not be
    fetched (its holder is lost or no longer has it)."""

    tid: int
    input_tid: int


@dataclass(frozen=True, slots=True)
class Moved:
    """Victim ``victim`` (-1: unknown) gave tasks ``tids`` to ``thief``."""

    tids: tuple[int, ...]
    thief: int
    victim: int = -1


@dataclass(frozen=True, slots=True)
class WorkerLost:
    rank: int
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Released:
    """The caller no longer needs ``tid``'s result (its future is cancelled)."""

    tid: int


@dataclass(frozen=True, slots=True)
class FutureGone:
    """The future of kept result ``tid`` was garbage-collected."""

    tid: int


@dataclass(frozen=True, slots=True)
class Wanted:
    """Someone waits on the future of kept result ``tid``."""

    tid: int


@dataclass(frozen=True, slots=True)
class Fetched:
    """The value of kept result ``tid`` came (not ``ok``: ``holder`` no
    longer has it; -1: whoever held it)."""

    tid: int
    ok: bool
    value: Any = None
    holder: int = -1


@dataclass(frozen=True, slots=True)
class ActorNew:
    """``make`` is the actor's "new" message, to send again on a restart."""

    aid: int
    name: str
    make: list[Any]
    restart: bool


@dataclass(frozen=True, slots=True)
class ActorCall:
    """A method call ``tid`` of actor ``aid``; the arguments as for Submit."""

    tid: int
    aid: int
    method: str
    args: Any
    kwargs: dict[str, Any]
    inputs: tuple[tuple[Path, int], ...] = ()
    handles: tuple[list[Any], ...] = ()
    done: tuple[tuple[int, bool, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class ActorClose:
    """The caller closes actor ``aid`` (after the calls made before)."""

    aid: int


@dataclass(frozen=True, slots=True)
class ActorClosed:
    """Actor ``aid``'s worker says it has dropped the instance."""

    aid: int


@dataclass(frozen=True, slots=True)
class HandleSeen:
    """A handle of another rank's actor arrived in a task's arguments."""

    aid: int
    rank: int
    name: str


Event = (
    Submit
    | Finished
    | InputLost
    | Moved
    | WorkerLost
    | Released
    | FutureGone
    | Wanted
    | Fetched
    | ActorNew
    | ActorCall
    | ActorClose
    | ActorClosed
    | HandleSeen
)


# -- instructions ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Place:
    """Send ``spec`` (``[tid, fn, args, kwargs]``, or with ``inputs`` to
    fetch first) to worker ``where``; ``lone``: it is alone in flight and
    cores are spare, so the worker polls for the next one when done."""

    spec: list[Any]
    where: int
    lone: bool = False


@dataclass(frozen=True, slots=True)
class Resolve:
    tid: int
    value: Any


@dataclass(frozen=True, slots=True)
class Fail:
    """Fail ``tid``'s future with ``error``; ``passed_on``: dependents took
    the error too, so it is not lost if nobody awaits this future."""

    tid: int
    error: BaseException
    passed_on: bool = False


@dataclass(frozen=True, slots=True)
class Kept:
    """``tid``'s result stays on ``holder``: its future waits until wanted
    (:class:`Wanted`) and is watched for garbage (:class:`FutureGone`)."""

    tid: int
    holder: int


@dataclass(frozen=True, slots=True)
class Reopen:
    """The kept result ``tid`` is made again: its future, if alive and not
    done, is pending again."""

    tid: int


@dataclass(frozen=True, slots=True)
class Fetch:
    """Get kept result ``tid`` from ``holder`` for this rank's future."""

    tid: int
    holder: int


@dataclass(frozen=True, slots=True)
class Free:
    """``holder`` may drop kept result ``tid``: nobody needs it."""

    holder: int
    tid: int


@dataclass(frozen=True, slots=True)
class ActorSend:
    """An actor message (``["new", ...]``, ``["call", aid, spec, lone]``,
    ``["del", aid]``) for worker ``rank``, in order."""

    rank: int
    item: list[Any] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ActorEnded:
    """Actor ``aid`` is closed or dead: its ``close()`` returns."""

    aid: int


Instruction = Place | Resolve | Fail | Kept | Reopen | Fetch | Free | ActorSend | ActorEnded
