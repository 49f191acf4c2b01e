"""The rendezvous's messages: how ranks learn each other's endpoints.

Each is one msgpack map in one ZeroMQ frame (``transport/rendezvous.py``
moves them):

    Hello    rank -> server   {"rank": int, "size": int, "job": str, "info": any}
    Table    server -> rank   {"table": [info_0, ..., info_{size-1}]}
    Refusal  server -> rank   {"error": str}
    Failed   server -> rank   {"failed": int, "detail": str}   (after the table)
    Ask      server -> rank   {"ask": int, "stack": bool}       (after the table)
    State    rank -> server   {"state": int, "rank": int, "report": map}
    SpawnAsk rank -> server   {"spawn": int, "argvs": [[str]], "envs": [{str: str}],
                               "cwd": str, "hosts": [str]}
    SpawnNews server -> rank  {"spawned": int, "index": int, "code": int, "error": str}

After the table the launcher may ask every rank what it is blocked in
(``Ask``, numbered); a rank whose event loop is free answers with its
``State`` (``runtime/hang.py`` says what the report holds). A rank may
ask the launcher to start processes for it (``SpawnAsk`` ``n``, mpi4py's
``Spawn``: one per argv, each with the ``ZMQMESH_*`` variables in its
env, on the job's hosts or those named); the launcher answers with
``SpawnNews`` ``n``: index -1 once all have started (``error`` empty) or
could not be (``error`` says why), then index ``i`` with the exit status
``code`` of process ``i`` when it ends.

Decoders raise :class:`DecodeError` naming what is wrong; a server answers
a hello that does not decode with a :class:`Refusal` and carries on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack  # type: ignore[import-untyped]

from ..errors import DecodeError

__all__ = [
    "MAX_MESSAGE",
    "NO_LAUNCHER",
    "Ask",
    "Failed",
    "Hello",
    "Refusal",
    "SpawnAsk",
    "SpawnNews",
    "State",
    "Table",
    "decode_from_rank",
    "decode_hello",
    "decode_notice",
    "decode_reply",
    "decode_state",
]

MAX_SPAWN = 4096  # processes one SpawnAsk may ask for
NO_LAUNCHER = 1
"""A SpawnNews ``code`` with index -1: no launcher serves this rendezvous
(the asking rank is of a job that another rank serves, a spawned one):
the rank starts the processes itself."""

# A hello carries one rank's endpoints (a few hundred bytes); a table those of
# every rank. Larger input is refused before it is parsed.
MAX_MESSAGE = 64 * 2**20


@dataclass(frozen=True, slots=True)
class Hello:
    """A rank checks in: who it is, in which job, and how to reach it."""

    rank: int
    size: int
    job: str
    info: Any

    def encode(self) -> bytes:
        out: bytes = msgpack.packb(
            {"rank": self.rank, "size": self.size, "job": self.job, "info": self.info}
        )
        return out


@dataclass(frozen=True, slots=True)
class Table:
    """Every rank's ``info``, by rank: the answer once all have checked in."""

    infos: list[Any]

    def encode(self) -> bytes:
        out: bytes = msgpack.packb({"table": self.infos})
        return out


@dataclass(frozen=True, slots=True)
class Refusal:
    """The server's answer to a hello that cannot belong to the job."""

    error: str

    def encode(self) -> bytes:
        out: bytes = msgpack.packb({"error": self.error})
        return out


@dataclass(frozen=True, slots=True)
class Failed:
    """A notice after start-up: rank ``rank`` is gone, for ``detail``."""

    rank: int
    detail: str

    def encode(self) -> bytes:
        out: bytes = msgpack.packb({"failed": self.rank, "detail": self.detail})
        return out


@dataclass(frozen=True, slots=True)
class Ask:
    """The launcher asks for every rank's :class:`State` (request ``n``;
    with the Python stacks of its tasks when ``stack``)."""

    n: int
    stack: bool = False

    def encode(self) -> bytes:
        out: bytes = msgpack.packb({"ask": self.n, "stack": self.stack})
        return out


@dataclass(frozen=True, slots=True)
class State:
    """A rank's answer to :class:`Ask` ``n``: what it waits in (``report``)."""

    n: int
    rank: int
    report: dict[str, Any]

    def encode(self) -> bytes:
        out: bytes = msgpack.packb(
            {"state": self.n, "rank": self.rank, "report": self.report}, use_bin_type=True
        )
        return out


@dataclass(frozen=True, slots=True)
class SpawnAsk:
    """A rank asks the launcher to start one process per argv of
    ``argvs`` in ``cwd``, process ``i`` with the variables ``envs[i]``,
    on ``hosts`` (the job's when empty; cycled through)."""

    n: int
    argvs: list[list[str]]
    envs: list[dict[str, str]]
    cwd: str
    hosts: list[str]

    def encode(self) -> bytes:
        out: bytes = msgpack.packb(
            {
                "spawn": self.n,
                "argvs": self.argvs,
                "envs": self.envs,
                "cwd": self.cwd,
                "hosts": self.hosts,
            }
        )
        return out


@dataclass(frozen=True, slots=True)
class SpawnNews:
    """The launcher on :class:`SpawnAsk` ``n``: started (``index`` -1,
    ``error`` empty) or not (``error``), or process ``index`` ended with
    status ``code``."""

    n: int
    index: int
    code: int = 0
    error: str = ""

    def encode(self) -> bytes:
        out: bytes = msgpack.packb(
            {"spawned": self.n, "index": self.index, "code": self.code, "error": self.error}
        )
        return out


def _map(raw: bytes, what: str) -> dict[Any, Any]:
    if len(raw) > MAX_MESSAGE:
        raise DecodeError(f"{what} of {len(raw)} bytes is over the {MAX_MESSAGE}-byte limit")
    try:
        obj = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several types for bad input
        raise DecodeError(f"{what} is not msgpack: {exc}") from None
    if not isinstance(obj, dict):
        raise DecodeError(f"{what} is a {type(obj).__name__}, not a map")
    return obj


def _int(obj: dict[Any, Any], key: str, what: str) -> int:
    value = obj.get(key)
    if type(value) is not int:
        raise DecodeError(f"{what}: {key!r} must be an int, got {value!r}")
    return value


def decode_hello(raw: bytes) -> Hello:
    """The :class:`Hello` in ``raw``; raises :class:`DecodeError`."""
    obj = _map(raw, "hello")
    job = obj.get("job")
    if type(job) is not str:
        raise DecodeError(f"hello: 'job' must be a str, got {job!r}")
    return Hello(_int(obj, "rank", "hello"), _int(obj, "size", "hello"), job, obj.get("info"))


def decode_reply(raw: bytes) -> Table | Refusal:
    """The server's answer to a hello; raises :class:`DecodeError`."""
    obj = _map(raw, "rendezvous reply")
    if "error" in obj:
        return Refusal(str(obj["error"]))
    table = obj.get("table")
    if type(table) is not list:
        raise DecodeError("rendezvous reply has neither 'table' (a list) nor 'error'")
    return Table(table)


def decode_notice(raw: bytes) -> Failed | Ask | SpawnNews:
    """A notice sent after the table; raises :class:`DecodeError`."""
    obj = _map(raw, "notice")
    if "ask" in obj:
        return Ask(_int(obj, "ask", "notice"), obj.get("stack") is True)
    if "spawned" in obj:
        n, index, code = (_int(obj, k, "spawn news") for k in ("spawned", "index", "code"))
        return SpawnNews(n, index, code, str(obj.get("error", "")))
    return Failed(_int(obj, "failed", "notice"), str(obj.get("detail", "gone")))


def _strings(value: Any, what: str) -> list[str]:
    if type(value) is not list or not all(type(v) is str for v in value):
        raise DecodeError(f"spawn: {what} must be a list of str")
    return value


def decode_from_rank(raw: bytes) -> State | SpawnAsk:
    """What a rank sends after the table: a :class:`State` or a
    :class:`SpawnAsk`; raises :class:`DecodeError`."""
    obj = _map(raw, "message from a rank")
    if "spawn" not in obj:
        return _state(obj)
    argvs, envs = obj.get("argvs"), obj.get("envs")
    if type(argvs) is not list or type(envs) is not list or len(argvs) != len(envs):
        raise DecodeError("spawn: 'argvs' and 'envs' must be lists of one length")
    if not 0 < len(argvs) <= MAX_SPAWN:
        raise DecodeError(f"spawn: 1 to {MAX_SPAWN} processes, not {len(argvs)}")
    for env in envs:
        if type(env) is not dict or not all(
            type(k) is str and type(v) is str for k, v in env.items()
        ):
            raise DecodeError("spawn: each of 'envs' must map str to str")
    cwd = obj.get("cwd")
    if type(cwd) is not str:
        raise DecodeError("spawn: 'cwd' must be a str")
    commands = [_strings(a, "each argv") for a in argvs]
    if any(not a for a in commands):
        raise DecodeError("spawn: an argv is empty")
    hosts = _strings(obj.get("hosts", []), "'hosts'")
    return SpawnAsk(_int(obj, "spawn", "spawn"), commands, envs, cwd, hosts)


def decode_state(raw: bytes) -> State:
    """A rank's answer to an :class:`Ask`; raises :class:`DecodeError`."""
    return _state(_map(raw, "state"))


def _state(obj: dict[Any, Any]) -> State:
    report = obj.get("report")
    if not isinstance(report, dict):
        raise DecodeError(f"state: 'report' must be a map, got {type(report).__name__}")
    return State(_int(obj, "state", "state"), _int(obj, "rank", "state"), report)
