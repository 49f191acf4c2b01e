"""Large buffer messages between ranks of one host, in one copy.

Theory of operation. A buffer ``Send``/``Isend`` of at least ``RNDV_MIN``
bytes to a rank on the same host does not move the bytes: it sends a
*descriptor* (this process's pid, the buffer's address and length) and
waits until the receiver answers. The receiver, when a receive matches the
descriptor, copies the bytes straight from the sender's memory into its
own buffer with Linux's cross-memory attach (``process_vm_readv``), then
answers True, and the send completes. That is one copy where the shared
memory path makes two (into a segment, out of it), as MPICH over UCX does.
A receiver that cannot read the sender's memory answers False and the
send raises ``MPI.Exception`` saying so (set ``ZMQMESH_CMA=0`` to turn
the path off); the path is off by itself where the kernel refuses to read
even this process's own memory, or where Yama allows only administrators
to attach (``ptrace_scope`` 2 or 3). A process that sends by descriptor
lets its peers attach (``PR_SET_PTRACER_ANY``, as UCX does).

A descriptor is an int64 array of seven: ``MAGIC``, pid, address,
length, the sender's pid namespace (a reader in another refuses it), and
the transfer's number and claim slot for copying from both ends at once
(``coop.py``; -1 and 0 where the sender offers none).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "DESC_LEN",
    "RNDV_MIN",
    "desc_nbytes",
    "descriptor",
    "enabled",
    "is_descriptor",
    "pid_space",
    "read",
    "readv",
    "size_of",
    "target",
    "writev",
]

RNDV_MIN = 1 << 20
DESC_LEN = 7
MAGIC = 0x7A6D716D726E6476
_PR_SET_PTRACER, _PR_SET_PTRACER_ANY = 0x59616D61, ctypes.c_ulong(-1).value


class _IOVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


_state: dict[str, Any] = {}


def _libc() -> Any:
    if "libc" not in _state:
        lib = None
        if sys.platform.startswith("linux"):
            try:
                lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
                for fn in (lib.process_vm_readv, lib.process_vm_writev):
                    fn.restype = ctypes.c_ssize_t
                    fn.argtypes = [
                        ctypes.c_int,
                        ctypes.POINTER(_IOVec),
                        ctypes.c_ulong,
                        ctypes.POINTER(_IOVec),
                        ctypes.c_ulong,
                        ctypes.c_ulong,
                    ]
            except (OSError, AttributeError):
                lib = None
        _state["libc"] = lib
    return _state["libc"]


def readv(pid: int, dst: int, src: int, n: int) -> bool:
    """Copy ``n`` bytes at ``src`` in process ``pid`` to ``dst`` here."""
    return _move(_libc().process_vm_readv, pid, dst, src, n)


def writev(pid: int, dst: int, src: int, n: int) -> bool:
    """Copy ``n`` bytes at ``src`` here to ``dst`` in process ``pid``."""
    return _move(_libc().process_vm_writev, pid, src, dst, n)


def _move(fn: Any, pid: int, here: int, there: int, n: int) -> bool:
    done = 0
    while done < n:
        local = _IOVec(here + done, n - done)
        remote = _IOVec(there + done, n - done)
        got = fn(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
        if got <= 0:
            return False
        done += got
    return True


def _yama_scope() -> int:
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def enabled() -> bool:
    """Whether large same-host buffer sends go by descriptor (decided once)."""
    on = _state.get("on")
    if on is None:
        on = False
        if os.environ.get("ZMQMESH_CMA", "1") != "0" and _libc() is not None and _yama_scope() < 2:
            probe = np.arange(64, dtype=np.uint8)
            copy = np.zeros(64, np.uint8)
            if readv(os.getpid(), copy.ctypes.data, probe.ctypes.data, 64):
                on = bool((copy == probe).all())
        if on:  # peers that are not this process's ancestors may read it
            _libc().prctl(_PR_SET_PTRACER, ctypes.c_ulong(_PR_SET_PTRACER_ANY), 0, 0, 0)
        _state["on"] = on
    return bool(on)


def pid_space() -> int:
    """This process's pid namespace (its inode): a pid means the same
    process only to a reader in the same one."""
    n = _state.get("pid_space")
    if n is None:
        try:
            n = os.stat("/proc/self/ns/pid").st_ino
        except OSError:
            n = 0
        _state["pid_space"] = n
    return int(n)


def descriptor(mem: npt.NDArray[np.uint8], ident: int = -1, slot: int = 0) -> npt.NDArray[np.int64]:
    """The descriptor of contiguous bytes ``mem`` of this process; with the
    transfer's number ``ident`` and the address of its claim ``slot`` when
    the sender offers to copy too (``coop.py``)."""
    return np.array(
        [MAGIC, os.getpid(), mem.ctypes.data, mem.nbytes, pid_space(), ident, slot], np.int64
    )


def desc_nbytes() -> int:
    """The payload size a probe reports for a descriptor message."""
    n = _state.get("desc_nbytes")
    if n is None:
        from zmqmesh.wire import Envelope, Kind, encode, payload_nbytes

        frames = encode(Envelope(Kind.P2P, 0, 0, 0), np.zeros(DESC_LEN, np.int64))
        n = _state["desc_nbytes"] = payload_nbytes(frames)
    return int(n)


def is_descriptor(got: Any) -> bool:
    return (
        type(got) is np.ndarray
        and got.dtype == np.int64
        and got.shape == (DESC_LEN,)
        and int(got[0]) == MAGIC
    )


def size_of(desc: npt.NDArray[np.int64]) -> int:
    return int(desc[3])


def target(
    desc: npt.NDArray[np.int64], into: npt.NDArray[np.uint8] | None
) -> npt.NDArray[np.uint8] | None:
    """Where the described bytes go: the start of ``into`` when they fit
    there, else a new array; None when the sender's memory cannot be read
    from here (another pid namespace: its pid may name another process)."""
    if int(desc[4]) != pid_space() or _libc() is None:
        return None
    n = size_of(desc)
    if into is not None and into.size >= n and into.flags.c_contiguous and into.flags.writeable:
        return into[:n]
    return np.empty(n, np.uint8)


def read(
    desc: npt.NDArray[np.int64], into: npt.NDArray[np.uint8] | None
) -> npt.NDArray[np.uint8] | None:
    """The described bytes, copied from the sender into the start of
    ``into`` when they fit there, else into a new array; None when the
    sender's memory cannot be read."""
    dst = target(desc, into)
    n = size_of(desc)
    if dst is None or (n and not readv(int(desc[1]), dst.ctypes.data, int(desc[2]), n)):
        return None
    return dst
