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

__all__ = ["payload_sig", "signature"]


def payload_sig(obj: Any) -> tuple[Any, ...]:
    """What ranks must agree on about a reduction operand: an array's dtype
    and shape, a tuple's items' signatures, and nothing about other values."""
    if type(obj) is np.ndarray:
        return ("array", obj.dtype.str, obj.shape)
    if type(obj) is tuple:
        return ("tuple", tuple(payload_sig(x) for x in obj))
    return ("value",)


def signature(*parts: Any) -> int:
    """A stable 64-bit digest of ``parts``' repr (the same in every process,
    unlike hash())."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")
