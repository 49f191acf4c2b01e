"""An iterative computation that survives a crash: checkpoint, die, resume.

    zmqmesh launch -n 4 examples/checkpointed_iterations.py [--dir D] [--steps 40] [--crash-at K]

Every rank holds the same vector ``x`` and its own random generator. Each
step, every rank draws a noisy target from its generator, one ``allreduce``
averages the ranks' pulls towards their targets, and every rank applies the
same update, so the result depends on every earlier step and every rank's
random state. Every ``--every`` steps the ranks save ``x`` and their
generator's state with ``zmqmesh.checkpoint.checkpoint``; at start-up
``restore`` picks up the newest committed step. With ``--crash-at K``, rank 1
kills itself (SIGKILL) at step K and the job fails; run it again without
``--crash-at`` and it resumes from the last committed step. Rank 0 prints a
sha256 of the final state of all ranks: the same as an uninterrupted run's.
Without ``--dir`` the checkpoints go to a fresh directory under the temp
directory (for ranks on one host; give ``--dir`` a shared one across hosts),
removed at the end unless the run crashed; rank 0 says which.
"""

import argparse
import hashlib
import json
import os
import shutil
import signal
import tempfile

import numpy as np

import zmqmesh
from zmqmesh.checkpoint import checkpoint, restore


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", help="checkpoint directory (default: a fresh temp one)")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--every", type=int, default=5, help="checkpoint every N steps")
    parser.add_argument("--dim", type=int, default=1000)
    parser.add_argument("--crash-at", type=int, help="rank 1 dies at the start of this step")
    return parser.parse_args()


async def main(comm: zmqmesh.Comm) -> None:
    args = parse_args()
    fresh = args.dir is None
    if fresh:  # one directory for the whole job: rank 0 makes it, the others learn it
        made = tempfile.mkdtemp(prefix="zmqmesh-checkpoints-") if comm.rank == 0 else None
        args.dir = await comm.bcast(made)
        if comm.rank == 0:
            print(f"checkpoints in {args.dir} (after a crash, resume with --dir {args.dir})")
    x = np.zeros(args.dim)
    rng = np.random.default_rng([2024, comm.rank])  # a different stream per rank
    start = 0
    found = await restore(comm, args.dir)
    if found is None:
        if comm.rank == 0:
            print("started fresh")
    else:
        start, state = found
        x = state["x"]
        rng.bit_generator.state = state["rng"]  # a dict with 128-bit ints
        if comm.rank == 0:
            print(f"resumed from step {start}")

    for step in range(start, args.steps):
        if step == args.crash_at and comm.rank == min(1, comm.size - 1):
            os.kill(os.getpid(), signal.SIGKILL)  # no clean-up, as a lost node
        target = np.sin(x) + rng.normal(0.0, 1.0 + comm.rank, args.dim)
        pull = await comm.allreduce(target - x)  # bit-identical on every rank
        x += 0.1 * pull / comm.size
        done = step + 1
        if done % args.every == 0 or done == args.steps:
            state = {"x": x, "rng": rng.bit_generator.state}
            await checkpoint(comm, args.dir, state, step=done)

    mine = x.tobytes() + json.dumps(rng.bit_generator.state, sort_keys=True).encode()
    digests = await comm.gather(hashlib.sha256(mine).hexdigest(), root=0)
    if digests is not None:
        print(f"final checksum {hashlib.sha256(''.join(digests).encode()).hexdigest()}")
        if fresh:  # every rank has written its last checkpoint: gather waited for it
            shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    try:
        zmqmesh.run(main)
    except zmqmesh.RankFailedError as exc:
        raise SystemExit(f"{exc}; run again to resume from the last checkpoint") from None
