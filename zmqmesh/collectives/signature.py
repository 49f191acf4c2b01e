"""What ranks must agree on about a collective call, as a number.

Every collective message carries a 64-bit signature of the call that sent
it (``runtime/channel.py`` compares them): ranks that called the same
collective, algorithm, root, op and operand shapes compute the same number,
in every process. Pure.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

__all__ = ["alltoall_sig", "item_bytes", "payload_sig", "signature"]


def payload_sig(obj: Any) -> tuple[Any, ...]:
    """What ranks must agree on about a reduction operand: an array's dtype
    and shape, a tuple's items' signatures, and nothing about other values."""
    if type(obj) is np.ndarray:
        return ("array", obj.dtype.str, obj.shape)
    if type(obj) is tuple:
        return ("tuple", tuple(payload_sig(x) for x in obj))
    return ("value",)


def alltoall_sig(seq: Any) -> tuple[Any, ...]:
    """What ranks must agree on about an alltoall's items: where ``seq`` is
    one array (its rows the items), its dtype and shape; otherwise nothing,
    as each rank's items may differ (a list of arrays of any sizes)."""
    return payload_sig(seq) if type(seq) is np.ndarray else ("value",)


def item_bytes(sig: tuple[Any, ...], size: int) -> int:
    """The bytes of one item of an alltoall on ``size`` ranks whose
    :func:`alltoall_sig` is ``sig``, where every rank knows them alike: a
    row of a numeric or bool array of ``size`` rows. 0 otherwise (the items
    may differ between ranks, or are empty)."""
    if sig[0] != "array":
        return 0
    dtype, shape = np.dtype(sig[1]), sig[2]
    if dtype.kind not in "biufc" or not shape or shape[0] != size:
        return 0
    return int(dtype.itemsize) * int(np.prod(shape[1:], dtype=np.int64))


def signature(*parts: Any) -> int:
    """A stable 64-bit digest of ``parts``' repr (the same in every process,
    unlike hash())."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")
