"""Python objects <-> ZeroMQ frames: ``encode(env, obj) -> [header, *buffers]``.

The header frame is the fixed envelope (``envelope.py``) followed by the
payload in msgpack. msgpack carries ``None``, ``bool``, ``int``, ``float``,
``str``, ``bytes``, ``list`` and ``dict`` natively; everything else is
tagged so it comes back as the same type:

- self-contained values are msgpack ext records: ``complex`` (two float64),
  ``int`` beyond 64 bits (two's complement bytes), ``bytearray``;
- composite values are msgpack arrays whose first item is an empty ext
  record, the *marker*: ``[TUPLE, *items]``, ``[SET, *items]``,
  ``[FROZENSET, *items]``, ``[ARRAY, index, dtype, shape, fortran]``,
  ``[SCALAR, dtype, raw]`` (NumPy scalars) and ``[PICKLE, first, count, data]``.
  Markers, unlike nested ext records, need no second packer on the way out
  and no second unpacker per value on the way in, and nothing is copied
  once per nesting level. The codes live in ``tags.py``.

Sets, frozensets, bytearrays and arrays or scalars of non-numeric dtypes are
beyond API.md's payload list: like any other object, they are refused unless
the job allows pickle, and then still use their tagged forms, not pickle.
The decoder refuses sets and frozensets likewise unless pickle is allowed.

Each ndarray's bytes are their own buffer frame (``index`` counts from the
first frame after the header), never copied into the header; so are the
out-of-band buffers of pickle protocol 5, used for other objects only when the
job allows pickle. The decoder trusts nothing: every malformed message raises
:class:`DecodeError`, and only that.

Decoding costs time linear in the message size. Python's ``hash`` of ints,
tuples, complex numbers and frozensets is easy to make collide
(``k * (2**61 - 1)`` all hash alike), and a dict or set of n colliding
members costs O(n**2) to build: 20,000 such dict keys took 6.8 s. Only
values the decoder makes itself (big ints, complex numbers and everything
tagged by a marker) can collide without bound: str and bytes hash with a
per-process random key, ints of up to 64 bits share a hash at most 9 at a
time, floats at most 201 and only when chosen to (``2.0**61``,
``2.0**122``, ...), and timestamps (ext -1, which msgpack reads itself) are
read as datetimes, whose hash is keyed too. So a payload with at most
:data:`MAX_SAME_HASH` such values is unpacked as it is, and one with more is
unpacked again, this time checking every dict and set of more than
``MAX_SAME_HASH`` members before building it: more members than that
sharing one hash value is a :class:`DecodeError`. The first pass stops at
the value that crosses the limit, so the two cost at most twice one.
"""

from __future__ import annotations

import pickle
from collections import Counter
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

import msgpack  # type: ignore[import-untyped]
import numpy as np

from ..errors import DecodeError
from .arrays import (
    Unsendable,
    array_from_wire,
    array_to_wire,
    byte_view,
    scalar_from_wire,
    scalar_to_wire,
)
from .envelope import ENVELOPE_SIZE, Envelope, pack_envelope, unpack_envelope
from .show import brief, describe
from .tags import (
    ARRAY,
    COMPLEX,
    EXT_BIGINT,
    EXT_BYTEARRAY,
    EXT_COMPLEX,
    FROZENSET,
    M_ARRAY,
    M_FROZENSET,
    M_PICKLE,
    M_SCALAR,
    M_SET,
    M_TUPLE,
    MARKERS,
    PICKLE,
    SCALAR,
    SCAN,
    SET,
    TUPLE,
    Boxed,
    ExtType,
    Marker,
    box_misfits,
)

__all__ = [
    "COPY_THRESHOLD",
    "MAX_SAME_HASH",
    "decode",
    "decode_payload",
    "encode",
    "encode_after",
    "payload_nbytes",
    "peek_envelope",
]

COPY_THRESHOLD = 65536
"""pyzmq's threshold: frames smaller than this are cheaper to copy than to track."""

Frame = bytes | memoryview | bytearray

_PICKLE_HINT = "allow pickle with `zmqmesh launch --pickle` or ZMQMESH_PICKLE=1"

MAX_SAME_HASH = 32
"""The most keys of one dict (members of one set) that may share a hash value.

Building a dict costs O(n * k) for n keys of which at most k share a hash;
the limit keeps k small. See the module docstring for why no real payload
comes near it."""

_first = itemgetter(0)


# API.md's payload: None, bool, int, float, complex, str, bytes, list, tuple,
# dict, and arrays and scalars of numeric or bool dtype. Everything else is
# sent only where the job allows pickle. Sets, frozensets, bytearrays and
# arrays of other plain-bytes dtypes (datetime, string, structured) then
# still travel in their own wire forms, not pickled, but without pickle they
# are refused like any other object.
API_KINDS = frozenset("biufc")


def _type_name(t: type) -> str:
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _other(obj: object, detail: str, buffers: list[bytes | memoryview], allow: bool) -> object:
    """Encode an object msgpack cannot carry: pickle it, or refuse (TypeError)."""
    name = f"'{_type_name(type(obj))}'" + (f" ({detail})" if detail else "")
    if not allow:
        raise TypeError(
            f"zmqmesh cannot send an object of type {name} without pickle; {_PICKLE_HINT}"
        )
    first = len(buffers)

    def out_of_band(pb: pickle.PickleBuffer) -> bool:
        try:
            buffers.append(pb.raw())
        except BufferError:  # not contiguous: let pickle copy it in-band
            return True
        return False

    try:
        data = pickle.dumps(obj, protocol=5, buffer_callback=out_of_band)
    except Exception as exc:
        # What pickle takes only by reference or not at all (a lambda, a
        # closure, a class defined in a function): cloudpickle sends it by
        # value, as Dask and Ray do. Plain pickle goes first: it is faster.
        del buffers[first:]
        try:
            import cloudpickle  # type: ignore[import-untyped]

            data = cloudpickle.dumps(obj, protocol=5, buffer_callback=out_of_band)
        except Exception as exc2:
            del buffers[first:]
            raise TypeError(
                f"zmqmesh cannot pickle an object of type {name}: {exc}; cloudpickle: {exc2}"
            ) from exc2
    return [M_PICKLE, first, len(buffers) - first, data]


# -- fast paths -------------------------------------------------------------
# Most messages are one array or one plain value. Their payloads are the same
# bytes call after call, so both ways skip the general machinery: the encoder
# keeps the packed meta of the array layouts it has sent, the decoder the
# validated layout behind each array payload it has fully decoded (never one
# it has not: a payload only ever maps to what the general path made of it).
# Either table is emptied when it reaches FAST_ENTRIES, so hostile input
# costs at most that much memory.
FAST_ENTRIES = 256
_COPY_BELOW = 1024  # arrays of up to this many bytes travel as a copy (``tobytes``)
_ArrayKey = tuple[np.dtype[Any], tuple[int, ...], bool]
_sent_layouts: dict[_ArrayKey, bytes] = {}
_seen_layouts: dict[bytes, tuple[np.dtype[Any], tuple[int, ...], bool, int]] = {}
# the head of every payload that is one array: [ARRAY, 0, dtype, shape, fortran]
_ARRAY_PAYLOAD = b"\x95" + msgpack.packb(M_ARRAY) + msgpack.packb(0)
# Scalars that msgpack packs and unpacks by itself, with no hook of ours.
_PLAIN = frozenset({bytes, str, float, bool, type(None)})
_INT_RANGE = range(-(2**63), 2**64)
# First bytes of a payload that is one such scalar: positive and negative
# fixints, fixstr, nil, false/true, bin 8/16/32, float 32/64, uint/int 8..64,
# str 8/16/32.
_PLAIN_HEADS = frozenset(
    (
        *range(0x00, 0x80),
        *range(0xA0, 0xC0),
        *(0xC0, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6),
        *range(0xCA, 0xD4),
        *(0xD9, 0xDA, 0xDB),
        *range(0xE0, 0x100),
    )
)


def _remember(table: dict[Any, Any], key: Any, value: Any) -> None:
    if len(table) >= FAST_ENTRIES:
        table.clear()
    table[key] = value


def _encode_fast(head: bytes, obj: object) -> list[bytes | memoryview] | None:
    """``encode_after`` of one plain scalar, or of one contiguous array of an
    API dtype with bytes in it; None for anything else."""
    t = type(obj)
    if t in _PLAIN or (t is int and obj in _INT_RANGE):
        return [head + msgpack.packb(obj, use_bin_type=True, unicode_errors="surrogatepass")]
    if t is not np.ndarray:
        return None
    a: np.ndarray[Any, Any] = obj  # type: ignore[assignment]
    if 0 < a.nbytes <= _COPY_BELOW and a.flags.c_contiguous:
        # small and sent before: a copy of its bytes costs less than a view
        payload = _sent_layouts.get((a.dtype, a.shape, False))
        if payload is not None:
            return [head + payload, a.tobytes()]
    if not a.nbytes or a.dtype.kind not in API_KINDS:
        return None
    flags = a.flags
    if flags.c_contiguous:
        fortran = False
    elif flags.f_contiguous:
        fortran = True
    else:
        return None
    key = (a.dtype, a.shape, fortran)
    payload = _sent_layouts.get(key)
    if payload is None:
        try:
            wire, shape, fortran, _ = array_to_wire(a)
        except Unsendable:
            return None
        payload = msgpack.packb([M_ARRAY, 0, wire, shape, fortran], use_bin_type=True)
        _remember(_sent_layouts, key, payload)
    return [head + payload, byte_view(a.T if fortran else a)]


def encode(env: Envelope, obj: object, *, allow_pickle: bool = False) -> list[bytes | memoryview]:
    """Encode a message as ZeroMQ frames ``[header, *buffers]``.

    ``header`` is one ``bytes``: the packed envelope, then the payload. Each
    array's data is its own buffer, a view of the array's memory when it is
    C- or F-contiguous (the caller must not modify the array until the frames
    are sent) and a C-contiguous copy otherwise. The whole object is encoded
    before anything is returned, so a failure sends nothing.

    Raises ``TypeError`` naming the offending type for an object outside the
    payload rules when ``allow_pickle`` is false, or one that cannot be
    pickled; ``ValueError`` for an envelope field out of range or a payload
    nested too deeply (or containing itself).
    """
    return encode_after(pack_envelope(env), obj, allow_pickle=allow_pickle)


def encode_after(
    head: bytes, obj: object, *, allow_pickle: bool = False
) -> list[bytes | memoryview]:
    """``encode`` with the envelope already packed (``head``, from
    ``pack_envelope``): a sender that sends with one envelope again and
    again keeps its bytes."""
    fast = _encode_fast(head, obj)
    if fast is not None:
        return fast
    buffers: list[bytes | memoryview] = []

    def default(o: Any) -> object:
        t = type(o)
        if t is tuple:
            return [M_TUPLE, *o]
        if t is np.ndarray:
            if o.dtype.kind not in API_KINDS and not allow_pickle:
                return _other(o, f"dtype {o.dtype}", buffers, False)
            try:
                dtype, shape, fortran, buf = array_to_wire(o)
            except Unsendable as exc:
                return _other(o, exc.detail, buffers, allow_pickle)
            buffers.append(buf)
            return [M_ARRAY, len(buffers) - 1, dtype, shape, fortran]
        if t is complex:
            return ExtType(EXT_COMPLEX, COMPLEX.pack(o.real, o.imag))
        if t is int:  # msgpack handles -2**63 .. 2**64-1 itself
            return ExtType(EXT_BIGINT, o.to_bytes(o.bit_length() // 8 + 1, "little", signed=True))
        if t is set or t is frozenset:
            if not allow_pickle:
                return _other(o, "", buffers, False)
            return [M_SET if t is set else M_FROZENSET, *o]
        if isinstance(o, np.generic):
            if o.dtype.kind not in API_KINDS and not allow_pickle:
                return _other(o, f"dtype {o.dtype}", buffers, False)
            try:
                return [M_SCALAR, *scalar_to_wire(o)]
            except Unsendable as exc:
                return _other(o, exc.detail, buffers, allow_pickle)
        if t is Boxed:
            if type(o.obj) is bytearray and allow_pickle:
                return ExtType(EXT_BYTEARRAY, bytes(o.obj))
            return _other(o.obj, "", buffers, allow_pickle)
        return _other(o, "", buffers, allow_pickle)

    if type(obj) in SCAN:
        obj = box_misfits(obj, 0)
    packer = msgpack.Packer(
        default=default, strict_types=True, use_bin_type=True, unicode_errors="surrogatepass"
    )
    return [head + packer.pack(obj), *buffers]


def peek_envelope(frames: Sequence[Frame]) -> Envelope:
    """Return the envelope of a message without decoding its payload.

    Raises :class:`DecodeError` if there is no valid header frame.
    """
    if not frames:
        raise DecodeError("empty message: no header frame")
    return unpack_envelope(frames[0])


def payload_nbytes(frames: Sequence[Frame]) -> int:
    """Bytes of the message beyond the envelope: header payload plus all buffers."""
    return sum(f.nbytes if type(f) is memoryview else len(f) for f in frames) - ENVELOPE_SIZE


def decode(
    frames: Sequence[Frame], *, copy: bool = False, allow_pickle: bool = False
) -> tuple[Envelope, object]:
    """Decode the frames of one message into ``(envelope, object)``.

    Arrays are read-only views of their frames unless the frames are writable
    (a ``bytearray``); with ``copy=True`` every array, including those inside
    pickled objects, is a writable copy that owns its memory. Pickled objects
    are loaded only when ``allow_pickle`` is true.

    Raises :class:`DecodeError`, and nothing else, for any malformed message:
    a bad envelope, a payload that is not valid msgpack, an unknown tag, bad
    array meta, a buffer frame referenced twice or never, pickled data when
    pickle is not allowed, ...
    """
    env = peek_envelope(frames)
    return env, decode_payload(frames, copy=copy, allow_pickle=allow_pickle)


def decode_payload(
    frames: Sequence[Frame], *, copy: bool = False, allow_pickle: bool = False
) -> object:
    """The object of ``decode``, for a message whose envelope was read
    already (``peek_envelope``, when it arrived); raises like ``decode``."""
    try:
        header = frames[0]
        # Slicing small bytes copies less than a memoryview costs to set up.
        small = type(header) is bytes and len(header) <= COPY_THRESHOLD
        body = header[ENVELOPE_SIZE:] if small else memoryview(header)[ENVELOPE_SIZE:]
        if small and body:
            if len(frames) == 1 and body[0] in _PLAIN_HEADS:
                # one scalar: msgpack makes it without any hook of ours
                try:
                    return msgpack.unpackb(body, unicode_errors="surrogatepass")
                except Exception as exc:
                    raise DecodeError(f"invalid payload: {describe(exc)}") from exc
            if len(frames) == 2:
                layout = _seen_layouts.get(body)  # type: ignore[arg-type]
                if layout is not None:
                    arr = _array_fast(layout, frames[1], copy)
                    if arr is not None:
                        return arr
        try:
            obj = _unpack(frames, body, copy, allow_pickle, False)
        except _Crowded:
            obj = _unpack(frames, body, copy, allow_pickle, True)
        if (
            small
            and type(obj) is np.ndarray
            and len(frames) == 2
            and body[: len(_ARRAY_PAYLOAD)] == _ARRAY_PAYLOAD
            and obj.nbytes
        ):
            fortran = obj.flags.f_contiguous and not obj.flags.c_contiguous
            _remember(_seen_layouts, bytes(body), (obj.dtype, obj.shape, fortran, obj.nbytes))
        return obj
    except DecodeError:
        raise
    except Exception as exc:  # garbage can upset NumPy, pickle, ... in many ways
        raise DecodeError(f"malformed zmqmesh message: {describe(exc)}") from exc


def _check_hashes(keys: list[Any], what: str) -> None:
    """Raise DecodeError if more than MAX_SAME_HASH of ``keys`` share a hash.

    Hash values are 64-bit ints, at most 9 of which share a hash of their
    own, so counting them costs O(len(keys)) whatever the keys are.
    """
    hashes = list(map(hash, keys))
    if len(set(hashes)) == len(hashes):  # the usual case: no two alike
        return
    value, count = Counter(hashes).most_common(1)[0]
    if count > MAX_SAME_HASH:
        raise DecodeError(
            f"{what} has {count} members sharing the hash value {value}: at most "
            f"{MAX_SAME_HASH} may share one (such collisions make decoding quadratic)"
        )


def _checked_dict(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    if len(pairs) > MAX_SAME_HASH:
        _check_hashes(list(map(_first, pairs)), "dict")
    return dict(pairs)


class _Crowded(Exception):
    """The payload holds more than MAX_SAME_HASH values whose hash a sender
    can choose: unpack it again with every dict and set checked."""


def _array_fast(
    layout: tuple[np.dtype[Any], tuple[int, ...], bool, int], frame: Frame, copy: bool
) -> np.ndarray[Any, Any] | None:
    """The array a payload already decoded once describes, over ``frame``;
    None when the frame does not have its bytes (the general path says why)."""
    dt, dims, fortran, nbytes = layout
    if type(frame) is bytearray:  # what the links read: no view needed
        if len(frame) != nbytes:
            return None
        arr = np.frombuffer(frame, dt)
    else:
        view = memoryview(frame)
        if view.nbytes != nbytes:
            return None
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        arr = np.frombuffer(view, dt)
    if len(dims) != 1:
        arr = arr.reshape(dims[::-1]).T if fortran else arr.reshape(dims)
    return arr.copy(order="K") if copy else arr


def _unpack(
    frames: Sequence[Frame], body: Frame, copy: bool, allow_pickle: bool, checked: bool
) -> object:
    nbuf = len(frames) - 1
    claimed = [False] * nbuf
    unconsumed = 0  # markers seen minus markers heading an array
    chosen = 0  # values made here, whose hash a sender can choose (see the docstring)

    def claim(first: object, count: object) -> list[memoryview]:
        if type(first) is not int or type(count) is not int or count < 0:
            raise DecodeError(f"invalid buffer reference {brief(first, 50)}, {brief(count, 50)}")
        if first < 0 or first + count > nbuf:
            raise DecodeError(
                f"payload references buffer frames {brief(first)}..{brief(first + count - 1)}, "
                f"but the message has {nbuf} buffer frame(s)"
            )
        views = []
        for i in range(first, first + count):
            if claimed[i]:
                raise DecodeError(f"buffer {i} is referenced twice")
            claimed[i] = True
            view = memoryview(frames[i + 1])
            views.append(view if view.format == "B" and view.ndim == 1 else view.cast("B"))
        return views

    def ext_hook(code: int, data: bytes) -> object:
        nonlocal unconsumed, chosen
        if code == EXT_BYTEARRAY:  # unhashable
            return bytearray(data)
        chosen += 1
        if chosen > MAX_SAME_HASH and not checked:
            raise _Crowded
        if code == EXT_COMPLEX and len(data) == COMPLEX.size:
            return complex(*COMPLEX.unpack(data))
        if code == EXT_BIGINT:
            return int.from_bytes(data, "little", signed=True)
        marker = MARKERS.get(code)
        if marker is None or data:
            raise DecodeError(f"unknown ext record: code {code}, {len(data)} bytes")
        unconsumed += 1
        return marker

    def list_hook(items: list[Any]) -> object:
        nonlocal unconsumed
        if not items or type(items[0]) is not Marker:
            return items
        unconsumed -= 1
        code = items[0].code
        if code == TUPLE:
            return tuple(items[1:])
        if code in (SET, FROZENSET):
            if not allow_pickle:
                raise DecodeError(
                    f"message carries a set, which needs pickle to be allowed; {_PICKLE_HINT}"
                )
            members = items[1:]
            if checked and len(members) > MAX_SAME_HASH:
                _check_hashes(members, "set")
            return set(members) if code == SET else frozenset(members)
        if code == ARRAY and len(items) == 5:
            (buf,) = claim(items[1], 1)
            return array_from_wire(items[2], items[3], items[4], buf, copy=copy)
        if code == SCALAR and len(items) == 3:
            return scalar_from_wire(items[1], items[2])
        if code == PICKLE and len(items) == 4:
            if not allow_pickle:
                raise DecodeError(
                    f"message carries pickled data, but pickle is off; {_PICKLE_HINT}"
                )
            views = claim(items[1], items[2])
            data = items[3]
            if type(data) is not bytes:
                raise DecodeError("pickled data is not bytes")
            return pickle.loads(data, buffers=[bytearray(v) for v in views] if copy else views)
        raise DecodeError(f"malformed tagged value (marker {code}, {len(items) - 1} items)")

    try:
        obj = msgpack.unpackb(
            body,
            ext_hook=ext_hook,
            list_hook=list_hook,
            object_pairs_hook=_checked_dict if checked else None,
            strict_map_key=False,
            timestamp=3,  # datetimes, not msgpack.Timestamp: their hash is keyed
            unicode_errors="surrogatepass",
        )
    except (DecodeError, _Crowded):
        raise
    except Exception as exc:
        raise DecodeError(f"invalid payload: {describe(exc)}") from exc
    if unconsumed:
        raise DecodeError("payload has a type marker outside the head of an array")
    if nbuf and not all(claimed):
        raise DecodeError(
            f"message has {nbuf} buffer frames but the payload references {sum(claimed)}"
        )
    return obj
