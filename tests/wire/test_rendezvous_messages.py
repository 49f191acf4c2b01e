"""The rendezvous's messages (wire/rendezvous.py): round trips, and a clear
DecodeError for anything else."""

from __future__ import annotations

import contextlib

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from zmqmesh.errors import DecodeError
from zmqmesh.wire.rendezvous import (
    MAX_MESSAGE,
    Failed,
    Hello,
    Refusal,
    SpawnAsk,
    SpawnNews,
    State,
    Table,
    decode_from_rank,
    decode_hello,
    decode_notice,
    decode_reply,
)

pytestmark = pytest.mark.timeout(60)

ints = st.integers(min_value=-(2**63), max_value=2**64 - 1)
info = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {"host": st.text(max_size=20), "ipc": st.none() | st.text(max_size=40)},
        optional={"tcp": st.none() | st.text(max_size=40)},
    ),
)


@given(ints, ints, st.text(max_size=40), info)
def test_hello_round_trip(rank: int, size: int, job: str, what: object) -> None:
    hello = Hello(rank, size, job, what)
    assert decode_hello(hello.encode()) == hello


@given(st.lists(info, max_size=20))
def test_table_round_trip(infos: list[object]) -> None:
    assert decode_reply(Table(infos).encode()) == Table(infos)


@given(st.text(max_size=200))
def test_refusal_round_trip(error: str) -> None:
    assert decode_reply(Refusal(error).encode()) == Refusal(error)


@given(ints, st.text(max_size=200))
def test_notice_round_trip(rank: int, detail: str) -> None:
    assert decode_notice(Failed(rank, detail).encode()) == Failed(rank, detail)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"", "not msgpack"),
        (b"\xc1", "not msgpack"),
        (msgpack.packb([1, 2]), "a list, not a map"),
        (msgpack.packb({"rank": "0", "size": 2, "job": ""}), "'rank' must be an int"),
        (msgpack.packb({"rank": 0, "size": True, "job": ""}), "'size' must be an int"),
        (msgpack.packb({"rank": 0, "size": 2}), "'job' must be a str"),
        (msgpack.packb({"rank": 0, "size": 2, "job": b"j"}), "'job' must be a str"),
    ],
)
def test_malformed_hellos_are_named(raw: bytes, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        decode_hello(raw)


def test_a_message_over_the_limit_is_refused_unread() -> None:
    with pytest.raises(DecodeError, match="over the"):
        decode_hello(b"\0" * (MAX_MESSAGE + 1))


@pytest.mark.parametrize(
    "reply", [msgpack.packb({}), msgpack.packb({"table": 3}), msgpack.packb("table")]
)
def test_replies_without_table_or_error_are_refused(reply: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_reply(reply)


def test_a_notice_names_an_int_rank() -> None:
    with pytest.raises(DecodeError, match="'failed' must be an int"):
        decode_notice(msgpack.packb({"failed": "3"}))
    assert decode_notice(msgpack.packb({"failed": 3})) == Failed(3, "gone")


@given(st.binary(max_size=256))
def test_any_bytes_decode_or_raise_decode_error(raw: bytes) -> None:
    for decoder in (decode_hello, decode_reply, decode_notice, decode_from_rank):
        with contextlib.suppress(DecodeError):
            decoder(raw)


text = st.text(max_size=20)
argvs = st.lists(st.lists(text, min_size=1, max_size=3), min_size=1, max_size=4)


@given(argvs, text, st.lists(text, max_size=3), st.integers(0, 2**31))
def test_spawn_ask_round_trip(argv: list[list[str]], cwd: str, hosts: list[str], n: int) -> None:
    envs = [{"ZMQMESH_RANK": str(i)} for i in range(len(argv))]
    ask = SpawnAsk(n, argv, envs, cwd, hosts)
    assert decode_from_rank(ask.encode()) == ask


@given(st.integers(0, 2**31), st.integers(-1, 99), st.integers(-64, 255), text)
def test_spawn_news_round_trip(n: int, index: int, code: int, error: str) -> None:
    news = SpawnNews(n, index, code, error)
    assert decode_notice(news.encode()) == news


def test_a_state_still_decodes_as_what_a_rank_sends() -> None:
    state = State(3, 1, {"waits": []})
    assert decode_from_rank(state.encode()) == state


def _ask(**over: object) -> bytes:
    ask = {"spawn": 1, "argvs": [["python", "w.py"]], "envs": [{}], "cwd": "/", "hosts": []}
    ask.update(over)
    return msgpack.packb(ask)


@pytest.mark.parametrize(
    ("over", "match"),
    [
        ({"argvs": [["a"], ["b"]]}, "one length"),
        ({"argvs": "python"}, "one length"),
        ({"argvs": [], "envs": []}, "1 to 4096 processes"),
        ({"argvs": [[]]}, "an argv is empty"),
        ({"argvs": [["a", 3]]}, "each argv must be a list of str"),
        ({"envs": [{"K": 1}]}, "must map str to str"),
        ({"cwd": None}, "'cwd' must be a str"),
        ({"hosts": "h"}, "'hosts' must be a list of str"),
        ({"spawn": "1"}, "'spawn' must be an int"),
    ],
)
def test_malformed_spawn_asks_are_named(over: dict[str, object], match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        decode_from_rank(_ask(**over))


def test_a_spawn_ask_over_the_process_cap_is_refused() -> None:
    many = 4097
    with pytest.raises(DecodeError, match="1 to 4096 processes"):
        decode_from_rank(_ask(argvs=[["x"]] * many, envs=[{}] * many))
