"""Checkpoints of SPMD state: one file per rank per step, committed by rank 0.

Theory of operation
-------------------
A checkpoint directory holds one subdirectory per step::

    <directory>/step-<step>/rank-<rank>.ckpt   one per rank, written by that rank
    <directory>/step-<step>/COMMITTED          written by rank 0 once all exist

A rank file is written atomically: into a temporary file of the same
directory, flushed and ``fsync``-ed, renamed over its final name with
``os.replace``, and the directory ``fsync``-ed. A reader therefore sees
either no file or a complete one, never a partial file, whatever crashes.

A step is *committed* when its ``COMMITTED`` marker exists. The marker (a
small JSON file) is written the same atomic way, by rank 0, only after every
rank's file is durable, and records the communicator size and the random id
of each rank's file, so it vouches for exactly the files it was written for.
Invariants:

- only committed steps are ever loaded or restored; a step directory without
  a marker (a crash mid-checkpoint) and stray ``*.tmp`` files are ignored;
- a crash at any moment of a checkpoint leaves the newest committed step
  intact: afterwards the newest committed step is the new one or the one
  before it. Old steps are removed only after a newer one is committed, and
  a removal starts with the marker, so a half-removed step is uncommitted;
- a rank file whose id differs from the marker's (a rewrite of a committed
  step, cut short) is refused, never silently mixed with other ranks' files.

File format (version 1), all integers little-endian::

    b"ZMQMCKPT" | u64 header length | u32 CRC-32 of the header
    header: msgpack map {format, rank, step, id, arrays, state, data}
    data:   every array's raw bytes, in the order of ``arrays``

``arrays`` lists ``[dtype, shape, fortran, nbytes, crc32]`` per array (dtype
in ``zmqmesh.wire``'s form, so any dtype that can be sent can be saved);
``state`` is the msgpack encoding of the state with each array replaced by a
reference. No pickle is used: loading never runs code, and every header field
is validated before memory is allocated for it.
"""

from zmqmesh.checkpoint._collective import checkpoint, restore
from zmqmesh.checkpoint._format import CheckpointError
from zmqmesh.checkpoint._store import commit, load, save

__all__ = ["CheckpointError", "checkpoint", "commit", "load", "restore", "save"]
