"""Typemaps: the bytes one element of an MPI datatype covers, and how to
move ``count`` elements between a buffer and a packed, contiguous message.

Theory of operation. A type is its typemap, a sequence of entries
``(base dtype, byte displacement)`` in type order, and its bounds ``lb`` and
``ub`` (``extent = ub - lb``). The entries live in two NumPy arrays
(``kinds`` indexes :data:`BASES`; ``disps`` in bytes), so every constructor
of MPI (contiguous, vector, indexed, struct, subarray, resized) is a
broadcast of its old type's arrays, never a Python loop over elements.

Element ``k`` of a message lies at ``offset + k * extent``. Packing
gathers, in typemap order, the bytes of every entry of every element;
unpacking scatters them back. A :class:`Plan` finds those bytes once per
``(type, count, offset)``:

- every element is one run of bytes and the runs touch: a slice, no copy;
- every element is ``n`` equal runs at a constant stride: a
  ``(count, n, run)`` strided view, one copy;
- otherwise: an index array of machine words (the widest of 8, 4, 2, 1
  bytes that divides every run and offset), one ``np.take``/assignment.

Invariants: ``len(kinds) == len(disps)``; ``ub >= lb`` unless a resize
asked for less; ``align`` is a power of two. As MPICH, a struct's extent
is padded to its widest member's alignment unless all its members were made
of one basic type (``basic``). Types of no data keep the bounds their blocks give (MPICH's
differ in some of those corner cases).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce
from math import gcd
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "BASES",
    "MAX_ENTRIES",
    "Plan",
    "Typemap",
    "base_kind",
    "basic",
    "contiguous",
    "elements_in",
    "external32",
    "flat",
    "hindexed",
    "hvector",
    "pack",
    "pair",
    "plan",
    "resized",
    "struct",
    "subarray",
    "unpack",
]

Ints = npt.NDArray[np.int64]

# Typemaps are arrays of one entry per basic element (10 bytes each, and
# about three times that while being built): 2**24 entries is some 0.5 GB
# at the peak, per rank; a type past it (MPI allows 2**31 and more) would
# take the machine's memory, so it is refused instead.
MAX_ENTRIES = 1 << 24

# Base dtypes, by kind number. Grows as types are made; a kind never changes.
BASES: list[np.dtype[Any]] = []
_KIND: dict[np.dtype[Any], int] = {}
_ITEMSIZE: list[int] = []


def base_kind(dt: npt.DTypeLike) -> int:
    """The kind number of base dtype ``dt`` (registered on first use)."""
    d = np.dtype(dt)
    kind = _KIND.get(d)
    if kind is None:
        kind = _KIND[d] = len(BASES)
        BASES.append(d)
        _ITEMSIZE.append(d.itemsize)
    return kind


def _sizes(kinds: npt.NDArray[np.int16]) -> Ints:
    return np.asarray(_ITEMSIZE, dtype=np.int64)[kinds] if kinds.size else np.zeros(0, np.int64)


@dataclass(frozen=True, slots=True, eq=False)
class Typemap:
    """One element of a datatype: its entries and bounds (bytes)."""

    kinds: npt.NDArray[np.int16]
    disps: Ints
    lb: int
    ub: int
    align: int = 1
    basic: int = -1  # the kind every constructor input was made of; -1: mixed
    # What is derived from the entries once (a typemap never changes): a
    # message's plan is made on every call, and a dozen small NumPy
    # operations per call were most of the cost of an 8-byte Send.
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def extent(self) -> int:
        return self.ub - self.lb

    @property
    def size(self) -> int:
        """Bytes of data in one element (what travels)."""
        size: int | None = self.memo.get("size")
        if size is None:
            size = self.memo["size"] = int(_sizes(self.kinds).sum())
        return size

    @property
    def true_lb(self) -> int:
        return int(self.disps.min()) if self.disps.size else 0

    @property
    def true_ub(self) -> int:
        if not self.disps.size:
            return 0
        return int((self.disps + _sizes(self.kinds)).max())

    @property
    def true_extent(self) -> int:
        return self.true_ub - self.true_lb

    @property
    def base(self) -> np.dtype[Any] | None:
        """The one base dtype of every entry, or None (mixed, or empty)."""
        if not self.kinds.size:
            return None
        first = int(self.kinds[0])
        return BASES[first] if bool((self.kinds == first).all()) else None

    def __repr__(self) -> str:
        return (
            f"Typemap(entries={self.kinds.size}, size={self.size}, "
            f"lb={self.lb}, ub={self.ub}, align={self.align})"
        )


def basic(dt: npt.DTypeLike, align: int | None = None) -> Typemap:
    """A predefined type of one entry of dtype ``dt`` at displacement 0."""
    d = np.dtype(dt)
    kind = base_kind(d)
    a = align if align is not None else _natural_align(d)
    return Typemap(np.array([kind], np.int16), np.zeros(1, np.int64), 0, d.itemsize, a, kind)


def _natural_align(d: np.dtype[Any]) -> int:
    if d.kind == "c":
        return min(d.itemsize // 2, 16)
    if d.kind == "S":
        return 1
    if d.kind == "U":
        return 4
    return min(d.itemsize, 16) or 1


def pair(value: npt.DTypeLike, index: npt.DTypeLike = np.intc) -> Typemap:
    """A MAXLOC/MINLOC pair type (``DOUBLE_INT`` ...): a value then an int,
    laid out as the C struct ``{value; int;}`` is."""
    v, i = np.dtype(value), np.dtype(index)
    va, ia = _natural_align(v), _natural_align(i)
    at = -(-v.itemsize // ia) * ia
    align = max(va, ia)
    ub = -(-(at + i.itemsize) // align) * align
    kinds = np.array([base_kind(v), base_kind(i)], np.int16)
    return Typemap(kinds, np.array([0, at], np.int64), 0, ub, align)


def _replicate(old: Typemap, starts: Ints, lengths: Ints, step: int) -> Typemap:
    """Blocks of ``lengths[i]`` copies of ``old``, copy ``j`` of block ``i``
    at byte ``starts[i] + j * step``; bounds from the non-empty blocks."""
    starts = np.asarray(starts, np.int64).reshape(-1)
    lengths = np.asarray(lengths, np.int64).reshape(-1)
    if starts.shape != lengths.shape:
        raise ValueError("blocklengths and displacements differ in length")
    if (lengths < 0).any():
        raise ValueError("negative blocklength")
    total = int(lengths.sum())
    if total * old.kinds.size > MAX_ENTRIES:
        raise NotImplementedError(
            f"a datatype of {total * old.kinds.size} basic entries is not supported by "
            f"zmqmesh's mpi4py layer (its typemap is kept entry by entry; at most {MAX_ENTRIES})"
        )
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)
    shifts = np.repeat(starts, lengths) + (np.arange(total, dtype=np.int64) - first) * step
    disps = (shifts[:, None] + old.disps[None, :]).reshape(-1)
    kinds = np.tile(old.kinds, total)
    if total == 0:
        return Typemap(kinds, disps, 0, 0, old.align, old.basic)
    full = lengths > 0
    lo, hi = starts[full], starts[full] + (lengths[full] - 1) * step
    lb = int(np.minimum(lo, hi).min()) + old.lb
    ub = int(np.maximum(lo, hi).max()) + old.ub
    return Typemap(kinds, disps, lb, ub, old.align, old.basic)


def contiguous(count: int, old: Typemap) -> Typemap:
    _count(count)
    return _replicate(old, np.zeros(1, np.int64), np.array([count]), old.extent)


def hvector(count: int, blocklength: int, stride: int, old: Typemap) -> Typemap:
    """``count`` blocks of ``blocklength`` elements, ``stride`` bytes apart."""
    _count(count)
    starts = np.arange(count, dtype=np.int64) * int(stride)
    return _replicate(old, starts, np.full(count, blocklength, np.int64), old.extent)


def hindexed(blocklengths: Any, displacements: Any, old: Typemap) -> Typemap:
    """Blocks of ``blocklengths[i]`` elements at ``displacements[i]`` bytes."""
    return _replicate(
        old, np.asarray(displacements, np.int64), np.asarray(blocklengths, np.int64), old.extent
    )


def struct(blocklengths: Any, displacements: Any, types: list[Typemap]) -> Typemap:
    """Blocks of ``blocklengths[i]`` elements of ``types[i]`` at
    ``displacements[i]`` bytes; the extent is padded to the widest alignment."""
    bls, dps = list(blocklengths), list(displacements)
    if not len(bls) == len(dps) == len(types):
        raise ValueError("blocklengths, displacements and datatypes differ in length")
    parts = [
        _replicate(t, np.array([d], np.int64), np.array([b], np.int64), t.extent)
        for b, d, t in zip(bls, dps, types, strict=True)
    ]
    used = [p for p, b in zip(parts, bls, strict=True) if b > 0]
    kinds = np.concatenate([p.kinds for p in parts]) if parts else np.zeros(0, np.int16)
    disps = np.concatenate([p.disps for p in parts]) if parts else np.zeros(0, np.int64)
    # As MPICH: members (of nonzero count) all made of one basic type make
    # no padding; any other mix pads to the widest member's alignment.
    counted = [t for t, b in zip(types, bls, strict=True) if b > 0]
    basics = {t.basic for t in counted}
    basic = basics.pop() if len(basics) == 1 else -1
    align = max((t.align for t in counted), default=1)
    if not used:
        return Typemap(kinds.astype(np.int16), disps, 0, 0, align, basic)
    lb = min(p.lb for p in used)
    ub = max(p.ub for p in used)
    if basic == -1:
        ub = lb + -(-(ub - lb) // align) * align
    return Typemap(kinds.astype(np.int16), disps, lb, ub, align, basic)


def subarray(sizes: Any, subsizes: Any, starts: Any, fortran: bool, old: Typemap) -> Typemap:
    """The ``subsizes`` block at ``starts`` of a ``sizes`` array of ``old``;
    its extent is the whole array's."""
    sz, sub, st = (tuple(int(x) for x in v) for v in (sizes, subsizes, starts))
    if not len(sz) == len(sub) == len(st) or not sz:
        raise ValueError("sizes, subsizes and starts differ in length")
    for n, m, s in zip(sz, sub, st, strict=True):
        if n < 1 or m < 1 or s < 0 or s + m > n:
            raise ValueError(f"subarray out of range: size {n}, subsize {m}, start {s}")
    order = "F" if fortran else "C"
    grid = np.indices(sub, dtype=np.int64) + np.asarray(st, np.int64).reshape(-1, *[1] * len(sub))
    index = tuple(g.reshape(-1, order=order) for g in grid)
    flat = np.asarray(np.ravel_multi_index(index, sz, order=order), np.int64)  # type: ignore[call-overload]
    ext = old.extent
    tm = _replicate(old, flat.astype(np.int64) * ext, np.ones(flat.size, np.int64), ext)
    whole = int(np.prod(sz)) * ext
    return Typemap(tm.kinds, tm.disps, 0, whole, old.align, old.basic)


# MPI_Type_create_darray's distributions (the constants' values)
BLOCK, CYCLIC, NONE, DFLT_DARG = 121, 122, 123, -49767


def _owned(g: int, dist: int, darg: int, p: int, c: int) -> npt.NDArray[np.int64]:
    """The indices of a dimension of ``g`` elements that grid coordinate
    ``c`` of ``p`` owns, ascending (the MPI standard's darray rules)."""
    if dist == NONE:
        if p != 1:
            raise ValueError(f"DISTRIBUTE_NONE needs 1 process in its dimension, not {p}")
        return np.arange(g, dtype=np.int64)
    if darg != DFLT_DARG and darg < 1:
        raise ValueError(f"a distribution argument must be positive, not {darg}")
    if dist == BLOCK:
        b = -(-g // p) if darg == DFLT_DARG else darg
        if b * p < g:
            raise ValueError(f"blocks of {b} on {p} processes cannot hold {g} elements")
        return np.arange(c * b, min((c + 1) * b, g), dtype=np.int64)
    if dist == CYCLIC:
        b = 1 if darg == DFLT_DARG else darg
        idx = np.arange(g, dtype=np.int64)
        mine: npt.NDArray[np.int64] = idx[(idx // b) % p == c]
        return mine
    raise ValueError(f"unknown distribution {dist}")


def darray(size: int, rank: int, dims: Any, fortran: bool, old: Typemap) -> Typemap:
    """The part of an array of ``old`` that process ``rank`` of ``size``
    owns, ``dims`` giving ``(gsize, distrib, darg, psize)`` per dimension
    (the process grid numbered row-major), in the array's memory order;
    its extent is the whole array's. ``ValueError`` for arguments MPI calls
    erroneous."""
    dims = [tuple(int(x) for x in d) for d in dims]
    if not dims or any(len(d) != 4 for d in dims):
        raise ValueError("gsizes, distribs, dargs and psizes differ in length")
    gs, ps = tuple(d[0] for d in dims), tuple(d[3] for d in dims)
    if any(n < 1 for n in gs) or any(n < 1 for n in ps):
        raise ValueError(f"gsizes {list(gs)} and psizes {list(ps)} must be positive")
    if int(np.prod(ps)) != size or not 0 <= rank < size:
        raise ValueError(f"rank {rank} of {size} processes on a {list(ps)} grid")
    coords = np.unravel_index(rank, ps)  # the process grid is always row-major
    owned = [
        _owned(g, dist, darg, p, int(c)) for (g, dist, darg, p), c in zip(dims, coords, strict=True)
    ]
    order: Literal["C", "F"] = "F" if fortran else "C"
    if any(o.size == 0 for o in owned):
        flat = np.zeros(0, np.int64)
    else:
        grid = np.meshgrid(*owned, indexing="ij")
        index = tuple(g.reshape(-1, order=order) for g in grid)
        flat = np.asarray(np.ravel_multi_index(index, gs, order=order), np.int64)
    ext = old.extent
    tm = _replicate(old, flat * ext, np.ones(flat.size, np.int64), ext)
    return Typemap(tm.kinds, tm.disps, 0, int(np.prod(gs)) * ext, old.align, old.basic)


def resized(old: Typemap, lb: int, extent: int) -> Typemap:
    return Typemap(old.kinds, old.disps, int(lb), int(lb) + int(extent), old.align, old.basic)


def _count(count: int) -> None:
    if count < 0:
        raise ValueError(f"negative count {count}")


def elements_in(tm: Typemap, nbytes: int) -> int | None:
    """How many basic entries ``nbytes`` of packed data hold (None when the
    bytes end inside an entry)."""
    size = tm.size
    if size == 0:
        return 0 if nbytes == 0 else None
    whole, rest = divmod(nbytes, size)
    ends = np.cumsum(_sizes(tm.kinds))
    part = int(np.searchsorted(ends, rest, side="right"))
    if rest and (part == 0 or int(ends[part - 1]) != rest):
        return None
    return whole * tm.kinds.size + part


# -- packing ---------------------------------------------------------------------------


def _runs(tm: Typemap) -> tuple[Ints, Ints]:
    """Byte runs of one element, in typemap order, touching entries merged."""
    runs: tuple[Ints, Ints] | None = tm.memo.get("runs")
    if runs is None:
        runs = tm.memo["runs"] = _find_runs(tm)
    return runs


def _one_run(tm: Typemap) -> tuple[int, int] | None:
    """``(start, length)`` of an element that is one run of bytes, else None."""
    if "one" not in tm.memo:
        starts, lengths = _runs(tm)
        tm.memo["one"] = (int(starts[0]), int(lengths[0])) if starts.size == 1 else None
    one: tuple[int, int] | None = tm.memo["one"]
    return one


def flat(tm: Typemap) -> int | None:
    """Bytes of one element when elements lie back to back as one run from
    byte 0 (one run each, no gap, lower bound 0: ``MPI.BYTE``, ``MPI.DOUBLE``,
    a contiguous type of them): then ``count`` elements are the first
    ``count`` times that many bytes. None for any other type."""
    if "flat" not in tm.memo:
        one = _one_run(tm) if tm.size else None
        simple = one is not None and one == (0, tm.size) and tm.lb == 0 and tm.extent == tm.size
        tm.memo["flat"] = tm.size if simple else None
    got: int | None = tm.memo["flat"]
    return got


def _find_runs(tm: Typemap) -> tuple[Ints, Ints]:
    if not tm.disps.size:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    ends = tm.disps + _sizes(tm.kinds)
    brk = np.flatnonzero(tm.disps[1:] != ends[:-1]) + 1
    head = np.concatenate(([0], brk))
    tail = np.concatenate((brk - 1, [tm.disps.size - 1]))
    return tm.disps[head], ends[tail] - tm.disps[head]


_WORD = {8: np.uint64, 4: np.uint32, 2: np.uint16, 1: np.uint8}


@dataclass(frozen=True, slots=True)
class Plan:
    """Where the packed bytes of ``count`` elements lie in a buffer.

    ``kind`` is ``"slice"`` (``start``, ``nbytes``), ``"strided"``
    (``start``, ``shape``, ``strides`` in bytes, words of ``word`` bytes) or
    ``"index"`` (``index``, word numbers, words of ``word`` bytes); ``low``
    and ``high`` bound the bytes touched.
    """

    kind: str
    nbytes: int
    word: int
    low: int
    high: int
    start: int = 0
    shape: tuple[int, ...] = ()
    strides: tuple[int, ...] = ()
    index: Ints | None = None


def plan(tm: Typemap, count: int, offset: int = 0) -> Plan:
    """How to move ``count`` elements of ``tm`` whose first starts at byte
    ``offset`` of a buffer."""
    _count(count)
    ext, nbytes = tm.extent, tm.size * count
    if count == 0 or nbytes == 0:
        return Plan("slice", 0, 1, offset, offset, start=offset)
    one = _one_run(tm)
    if one is not None and (count == 1 or one[1] == ext):  # the usual case, in ints only
        low = offset + min(0, (count - 1) * ext) + one[0]
        high = offset + max(0, (count - 1) * ext) + one[0] + one[1]
        return Plan("slice", nbytes, 1, low, high, start=offset + one[0])
    starts, lengths = _runs(tm)
    low = offset + min(0, (count - 1) * ext) + int(starts.min())
    high = offset + max(0, (count - 1) * ext) + int((starts + lengths).max())
    if starts.size == 1 and (count == 1 or lengths[0] == ext):
        return Plan("slice", nbytes, 1, low, high, start=offset + int(starts[0]))
    word = reduce(gcd, [8, offset, ext, *starts.tolist(), *lengths.tolist()])
    word = word & -word  # a power of two dividing all of them
    same = bool((lengths == lengths[0]).all())
    step = np.diff(starts)
    if same and (starts.size == 1 or bool((step == step[0]).all())):
        stride = int(step[0]) if starts.size > 1 else int(lengths[0])
        shape = (count, starts.size, int(lengths[0]) // word)
        return Plan(
            "strided",
            nbytes,
            word,
            low,
            high,
            start=offset + int(starts[0]),
            shape=shape,
            strides=(ext, stride, word),
        )
    first = np.repeat(np.cumsum(lengths // word) - lengths // word, lengths // word)
    within = np.arange(nbytes // count // word, dtype=np.int64) - first
    one = np.repeat(starts // word, lengths // word) + within
    index = ((np.arange(count, dtype=np.int64) * (ext // word))[:, None] + one).reshape(-1)
    return Plan("index", nbytes, word, low, high, index=index + offset // word)


def _check(p: Plan, mem: npt.NDArray[np.uint8]) -> None:
    if p.nbytes and (p.low < 0 or p.high > mem.size):
        raise ValueError(f"datatype reaches bytes {p.low}..{p.high} of a {mem.size}-byte buffer")


def _words(mem: npt.NDArray[np.uint8], word: int) -> npt.NDArray[Any]:
    usable = mem.size - mem.size % word
    return mem[:usable].view(_WORD[word])


def pack(mem: npt.NDArray[np.uint8], p: Plan) -> npt.NDArray[np.uint8]:
    """The packed bytes of plan ``p`` over the 1-D bytes ``mem``: a view when
    they are contiguous there, else one new array."""
    _check(p, mem)
    if p.kind == "slice":
        return mem[p.start : p.start + p.nbytes]
    if p.kind == "strided":
        view = np.ndarray(p.shape, _WORD[p.word], buffer=mem, offset=p.start, strides=p.strides)
        return np.ascontiguousarray(view).reshape(-1).view(np.uint8)
    assert p.index is not None
    return np.take(_words(mem, p.word), p.index).view(np.uint8)


def unpack(mem: npt.NDArray[np.uint8], p: Plan, data: npt.NDArray[np.uint8]) -> None:
    """Scatter the packed bytes ``data`` into ``mem`` where plan ``p`` says;
    ``data`` may be shorter than the plan (a short message fills the first
    bytes in type order), never longer."""
    _check(p, mem)
    n = data.size
    if n > p.nbytes:
        raise ValueError(f"message truncated: {n} bytes into a {p.nbytes}-byte receive")
    if n == 0:
        return
    if p.kind == "slice":
        if n >= 4096 and data.ctypes.data == mem.ctypes.data + p.start:
            return  # read into place already (a large same-host message)
        mem[p.start : p.start + n] = data
        return
    if n == p.nbytes and p.kind == "strided":
        view = np.ndarray(p.shape, _WORD[p.word], buffer=mem, offset=p.start, strides=p.strides)
        view[...] = np.ascontiguousarray(data).view(_WORD[p.word]).reshape(p.shape)
        return
    index = p.index if p.index is not None else _strided_index(p)
    if n % p.word:  # a short message that ends inside a word: go by bytes
        b = (index[:, None] * p.word + np.arange(p.word)).reshape(-1)[:n]
        mem[b] = data
        return
    words = _words(mem, p.word)
    words[index[: n // p.word]] = np.ascontiguousarray(data).view(_WORD[p.word])


def _strided_index(p: Plan) -> Ints:
    c, r, w = p.shape
    e, s, _ = p.strides
    grid = (
        np.arange(c, dtype=np.int64)[:, None, None] * e
        + np.arange(r, dtype=np.int64)[None, :, None] * s
        + np.arange(w, dtype=np.int64)[None, None, :] * p.word
    )
    return ((grid + p.start) // p.word).reshape(-1)


def external32(
    tm: Typemap, data: npt.NDArray[np.uint8], back: bool = False
) -> npt.NDArray[np.uint8]:
    """Packed elements of ``tm`` in external32's byte order (big-endian),
    or, ``back``, from it to this machine's; sizes stay the native ones."""
    if not data.size or not tm.kinds.size:
        return np.array(data, copy=True)
    raw = np.ascontiguousarray(data)
    base = tm.base
    if base is not None:
        here, there = base, base.newbyteorder(">")
    else:
        fmts = [BASES[int(k)] for k in tm.kinds]
        names = [f"f{i}" for i in range(len(fmts))]
        here = np.dtype({"names": names, "formats": fmts})
        there = np.dtype({"names": names, "formats": [f.newbyteorder(">") for f in fmts]})
    src, dst = (there, here) if back else (here, there)
    out: npt.NDArray[np.uint8] = np.frombuffer(raw, src).astype(dst).view(np.uint8)
    return out
