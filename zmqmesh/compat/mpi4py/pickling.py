"""``MPI.Pickle`` and ``MPI.pickle``: how objects become bytes, as mpi4py's.

The layer's object calls travel by zmqmesh's own encoding (arrays as frames,
other objects by pickle); ``MPI.pickle`` serves what mpi4py programs do
with it themselves, and the places where the two kinds of message meet: a
buffer message received by an object call is unpickled with it (an empty
one is None), and an object received into a buffer arrives pickled.
"""

from __future__ import annotations

import os
import pickle as _pickle
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from zmqmesh.compat.mpi4py.membuf import buffer
from zmqmesh.compat.mpi4py.sync import Packed

__all__ = ["Pickle", "bytes_of", "object_of", "pickle"]

_PROTOCOL: int | None = int(os.environ.get("MPI4PY_PICKLE_PROTOCOL", _pickle.HIGHEST_PROTOCOL))
_THRESHOLD = int(os.environ.get("MPI4PY_PICKLE_THRESHOLD", 1024**2 // 4))  # mpi4py's 0.25 MiB


class Pickle:
    """Pickle and unpickle Python objects with ``dumps``/``loads`` (the
    standard library's by default) at ``protocol``; out-of-band buffers of
    ``threshold`` bytes and more with ``dumps_oob``."""

    __slots__ = ("_dumps", "_loads", "_protocol", "_threshold")

    def __init__(
        self,
        dumps: Callable[..., bytes] | None = None,
        loads: Callable[..., Any] | None = None,
        protocol: int | None = None,
        threshold: int | None = None,
    ) -> None:
        self._dumps = _pickle.dumps if dumps is None else dumps
        self._loads = _pickle.loads if loads is None else loads
        if protocol is None and self._dumps is _pickle.dumps:
            protocol = _PROTOCOL
        self._protocol = protocol
        self._threshold = _THRESHOLD if threshold is None else int(threshold)

    def dumps(self, obj: Any) -> bytes:
        """The pickle data stream of ``obj``."""
        if self._protocol is not None:
            return self._dumps(obj, self._protocol)
        return self._dumps(obj)

    def loads(self, data: Any) -> Any:
        """The object of a pickle data stream (any buffer)."""
        return self._loads(data)

    def dumps_oob(self, obj: Any) -> tuple[bytes, list[buffer]]:
        """The data stream and the out-of-band buffers (protocol 5 and up),
        each an ``MPI.buffer`` over the object's memory, as mpi4py's."""
        buffers: list[buffer] = []

        def callback(ob: Any) -> bool:
            view = memoryview(ob.raw() if hasattr(ob, "raw") else ob)
            if view.nbytes >= self._threshold:
                buffers.append(buffer.frombuffer(view, readonly=view.readonly))
                return False
            return True

        protocol = max(self._protocol if self._protocol is not None else 5, 5)
        return self._dumps(obj, protocol, buffer_callback=callback), buffers

    def loads_oob(self, data: Any, buffers: Iterable[Any]) -> Any:
        """The object of a data stream and its out-of-band buffers."""
        return self._loads(data, buffers=buffers)

    @property
    def PROTOCOL(self) -> int | None:
        """Protocol version."""
        return self._protocol

    @PROTOCOL.setter
    def PROTOCOL(self, protocol: int | None) -> None:
        if protocol is None and self._dumps is _pickle.dumps:
            protocol = _PROTOCOL
        self._protocol = protocol

    @property
    def THRESHOLD(self) -> int:
        """Out-of-band threshold."""
        return self._threshold

    @THRESHOLD.setter
    def THRESHOLD(self, threshold: int | None) -> None:
        self._threshold = _THRESHOLD if threshold is None else int(threshold)


pickle = Pickle()


def object_of(content: Any) -> Any:
    """What an object receive gives for a message's content: a buffer
    message's bytes unpickled (None when empty), an object as it is."""
    if isinstance(content, Packed):
        return None if content.size == 0 else pickle.loads(content)
    return content


def bytes_of(content: Any) -> npt.NDArray[np.uint8]:
    """What a buffer receive gets for a message's content: a buffer
    message's bytes, an object's pickle (nothing for no message)."""
    if content is None:
        return np.zeros(0, np.uint8)
    if isinstance(content, Packed):
        return content.view(np.ndarray)
    return np.frombuffer(pickle.dumps(content), np.uint8)
