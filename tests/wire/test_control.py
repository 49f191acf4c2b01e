"""The transport's own bytes: routing ids, the flags byte, releases and goodbyes."""

from __future__ import annotations

import contextlib

import msgpack  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqmesh.errors import DecodeError
from zmqmesh.wire import ENVELOPE_SIZE, Envelope, Kind, encode, pack_envelope
from zmqmesh.wire.control import (
    FLAGS_AT,
    MAX_RELEASE_IDS,
    Flag,
    Goodbye,
    Release,
    Shared,
    decode,
    flags_of,
    mark_shared,
    pack_routing_id,
    parse_routing_id,
    release_headers,
)

PROPERTY = settings(max_examples=150, deadline=None, database=None)
FUZZ = settings(max_examples=300, deadline=None, database=None)

u64s = st.integers(0, 2**64 - 1)
KNOWN = {0, *Flag}


CTRL = Envelope(Kind.CTRL, 0, 0, 0)


def ctrl_header(flag: int, env: Envelope = CTRL) -> bytes:
    raw = bytearray(pack_envelope(env))
    raw[FLAGS_AT] = flag
    return bytes(raw)


# -- the bytes, pinned: what ranks of this version and the last one exchange --


def test_flag_values_and_position_are_fixed() -> None:
    assert FLAGS_AT == 3
    assert [int(f) for f in Flag] == [1, 2, 4, 8]
    assert pack_envelope(Envelope(Kind.P2P, 1, 2, 3))[FLAGS_AT] == 0  # the layers' own


def test_notice_headers_are_ctrl_envelopes_with_one_flag() -> None:
    base = b"Z\x01\x02\x00" + bytes(ENVELOPE_SIZE - 4)
    assert Goodbye().encode() == base[:3] + b"\x04" + base[4:]
    assert Goodbye(ack=True).encode() == base[:3] + b"\x08" + base[4:]
    assert Release((5, 2**40)).encode() == base[:3] + b"\x02" + base[4:] + msgpack.packb([5, 2**40])


def test_routing_ids_are_big_endian_u32s() -> None:
    assert pack_routing_id(1) == b"\x00\x00\x00\x01"
    assert pack_routing_id(2**32 - 1) == b"\xff" * 4
    assert parse_routing_id(b"\x01\x00\x00\x00") == 2**24


def test_mark_shared_sets_only_the_flags_byte() -> None:
    header = encode(Envelope(Kind.P2P, 7, 1, 5), [1, "two"])[0]
    marked = mark_shared(header)
    assert marked[FLAGS_AT] == Flag.SHM
    assert marked[:FLAGS_AT] == header[:FLAGS_AT]
    assert marked[FLAGS_AT + 1 :] == header[FLAGS_AT + 1 :]
    assert mark_shared(bytearray(header)) == marked == mark_shared(memoryview(header))


# -- round trips --


@PROPERTY
@given(st.lists(u64s, max_size=50))
def test_release_round_trip(ids: list[int]) -> None:
    header = Release(tuple(ids)).encode()
    assert flags_of(header) == Flag.RELEASE
    assert decode(header, 0) == Release(tuple(ids))


@pytest.mark.parametrize("ack", [False, True])
def test_goodbye_round_trip(ack: bool) -> None:
    header = Goodbye(ack).encode()
    assert decode(header, 0) == Goodbye(ack)


@PROPERTY
@given(st.integers(0, 2**32 - 1))
def test_routing_id_round_trip(rank: int) -> None:
    assert parse_routing_id(pack_routing_id(rank)) == rank


@pytest.mark.parametrize("nbuffers", [1, 2, 9])
def test_a_marked_message_with_its_descriptor_frame_is_shared(nbuffers: int) -> None:
    header = mark_shared(encode(Envelope(Kind.COLL, 1, 2, 3), None)[0])
    assert decode(header, nbuffers) == Shared()


def test_release_headers_split_what_one_release_cannot_hold() -> None:
    ids = list(range(2 * MAX_RELEASE_IDS + 3))
    headers = release_headers(ids)
    assert len(headers) == 3
    got = [i for h in headers for i in decode(h, 0).idents]  # type: ignore[union-attr]
    assert got == ids
    assert release_headers([3, 1]) == [Release((3, 1)).encode()]
    assert release_headers([]) == []


def test_release_holds_exactly_max_ids() -> None:
    ids = tuple(range(MAX_RELEASE_IDS))
    assert decode(Release(ids).encode(), 0) == Release(ids)
    with pytest.raises(ValueError, match="in one release"):
        Release((*ids, 0)).encode()


def test_flags_of_reads_byte_3_or_reports_none() -> None:
    assert flags_of(b"") == flags_of(b"Z\x01\x00") == 0
    assert flags_of(b"Z\x01\x00\x09") == 9


# -- what the encoders refuse --


@pytest.mark.parametrize("ids", [(-1,), (2**64,), (True,), (1.0,), ("1",)], ids=repr)
def test_release_encode_refuses_ids_that_are_no_u64(ids: tuple[object, ...]) -> None:
    with pytest.raises(ValueError, match="segment id is a u64"):
        Release(ids).encode()  # type: ignore[arg-type]


@pytest.mark.parametrize("rank", [-1, 2**32])
def test_pack_routing_id_refuses_what_is_no_u32(rank: int) -> None:
    with pytest.raises(ValueError, match="u32"):
        pack_routing_id(rank)


def test_mark_shared_refuses_a_flagged_or_short_header() -> None:
    with pytest.raises(ValueError, match="may flag"):
        mark_shared(Goodbye().encode())
    with pytest.raises(ValueError, match="may flag"):
        mark_shared(b"Z\x01\x00\x00")


# -- malformed input: DecodeError naming what is wrong --


@pytest.mark.parametrize("raw", [b"", b"\x00", b"\x00\x00\x01", b"\x00k\x8bEg", bytes(8)])
def test_a_routing_id_of_another_length_names_no_rank(raw: bytes) -> None:
    with pytest.raises(DecodeError, match=f"routing id of {len(raw)} bytes"):
        parse_routing_id(raw)


@pytest.mark.parametrize("flags", sorted(set(range(1, 256)) - KNOWN))
def test_unknown_flags_are_rejected(flags: int) -> None:
    with pytest.raises(DecodeError, match=f"unknown transport flags {flags:#04x}"):
        decode(ctrl_header(flags), 0)


def test_combined_flags_are_unknown() -> None:
    # a release never carries shared-memory frames, and so on
    for flags in (Flag.SHM | Flag.RELEASE, Flag.BYE | Flag.BYE_ACK, 0xFF):
        with pytest.raises(DecodeError, match="unknown transport flags"):
            decode(ctrl_header(flags) + msgpack.packb([1]), 1)


def test_a_shared_memory_message_needs_its_descriptor_frame() -> None:
    with pytest.raises(DecodeError, match="without its descriptor frame"):
        decode(ctrl_header(Flag.SHM), 0)


@pytest.mark.parametrize("flag", [Flag.RELEASE, Flag.BYE, Flag.BYE_ACK])
def test_notices_are_ctrl_envelopes(flag: Flag) -> None:
    body = msgpack.packb([1]) if flag == Flag.RELEASE else b""
    for kind in (Kind.P2P, Kind.COLL):
        with pytest.raises(DecodeError, match="not CTRL"):
            decode(ctrl_header(flag, Envelope(kind, 0, 0, 0)) + body, 0)
    bad_magic = b"X" + ctrl_header(flag)[1:]
    with pytest.raises(DecodeError, match="magic"):
        decode(bad_magic + body, 0)
    bad_version = ctrl_header(flag)[:1] + b"\x07" + ctrl_header(flag)[2:]
    with pytest.raises(DecodeError, match="version"):
        decode(bad_version + body, 0)
    with pytest.raises(DecodeError, match="too short"):
        decode(ctrl_header(flag)[: FLAGS_AT + 1], 0)


@pytest.mark.parametrize("flag", [Flag.RELEASE, Flag.BYE, Flag.BYE_ACK])
def test_notices_have_no_buffer_frames(flag: Flag) -> None:
    body = msgpack.packb([1]) if flag == Flag.RELEASE else b""
    with pytest.raises(DecodeError, match="with 2 buffer frames"):
        decode(ctrl_header(flag) + body, 2)


@pytest.mark.parametrize("flag", [Flag.BYE, Flag.BYE_ACK])
def test_a_goodbye_has_no_payload(flag: Flag) -> None:
    with pytest.raises(DecodeError, match="goodbye with 1 bytes of payload"):
        decode(ctrl_header(flag) + b"\xc0", 0)


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (b"", "does not decode"),  # truncated: no payload at all
        (b"\x93\x01\x02", "does not decode"),  # truncated: 3 items announced, 2 there
        (msgpack.packb([1]) + b"\x01", "does not decode"),  # trailing bytes
        (b"\xc1", "does not decode"),  # a byte msgpack never uses
        (b"\x91" * 3000 + b"\x90", "does not decode"),  # nested deeper than msgpack goes
        (b"\xdd\x7f\xff\xff\xff\x00", "does not decode"),  # claims 2**31 ids
        (msgpack.packb(list(range(MAX_RELEASE_IDS + 1))), "does not decode"),  # over the limit
        (msgpack.packb(7), "list of segment ids, not 7"),
        (msgpack.packb("12"), "list of segment ids"),
        (msgpack.packb({"a": 2}), "list of segment ids"),
        (msgpack.packb([1, -1]), "u64, not -1"),
        (msgpack.packb([True]), "u64, not True"),
        (msgpack.packb([1.0]), "u64, not 1.0"),
        (msgpack.packb(["1"]), "u64, not '1'"),
        (msgpack.packb([[1]]), r"u64, not \[1\]"),
        (msgpack.packb([None]), "u64, not None"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_malformed_releases_are_rejected(payload: bytes, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        decode(ctrl_header(Flag.RELEASE) + payload, 0)


def test_an_empty_release_is_well_formed() -> None:
    assert decode(ctrl_header(Flag.RELEASE) + msgpack.packb([]), 0) == Release(())


@FUZZ
@given(
    flags=st.integers(0, 255),
    kind=st.integers(0, 255),
    tail=st.binary(max_size=40),
    nbuffers=st.integers(0, 3),
)
def test_any_header_decodes_or_raises_decode_error(
    flags: int, kind: int, tail: bytes, nbuffers: int
) -> None:
    raw = bytearray(ctrl_header(0))
    raw[2], raw[FLAGS_AT] = kind, flags
    header = bytes(raw) + tail
    if flags == 0:
        return  # not the transport's: the codec's
    try:
        what = decode(header, nbuffers)
    except DecodeError:
        return
    assert isinstance(what, (Release, Goodbye, Shared))
    if not isinstance(what, Shared):
        assert flags in (Flag.RELEASE, Flag.BYE, Flag.BYE_ACK)
        assert kind == Kind.CTRL
        assert nbuffers == 0


@FUZZ
@given(st.binary(max_size=60), st.integers(0, 3))
def test_any_bytes_decode_or_raise_decode_error(header: bytes, nbuffers: int) -> None:
    if flags_of(header):
        with contextlib.suppress(DecodeError):
            decode(header, nbuffers)
