"""bigmsg suite: one-way transfer rate of very large messages between two
ranks on one host (a NumPy uint8 array; rank 1 answers each with a small
acknowledgement once it holds the whole array).

``python -m bench bigmsg [--sizes 1073741824,5368709120] [--reps 3]``
prints one line per size: the median and best rate over the repetitions,
in MiB/s (2**20 bytes a second), and the rate of the first transfer and
the median of the others apart. The sender and the receiver each hold a
message at a time, so the largest size needs about twice its bytes of memory.

The first transfer of a size is often several times slower than the next
ones, and not for the transport's sake: the receiver's buffer is memory its
process has never touched, and each fresh page costs a fault (on a virtual
machine, memory the guest has not used since it booted costs the host's
fault too: measured here, 5 GiB took 20.3 s the first time and 1.9 s the
second, the same code path). Later transfers reuse pages the process gave
back, so the "others" column is the transport's own rate per byte.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import zmqmesh

HERE = Path(__file__).resolve()
SIZES = "1073741824,5368709120"


async def _ranks(comm: zmqmesh.Comm) -> None:
    sizes = [int(s) for s in sys.argv[1].split(",")]
    reps = int(sys.argv[2])
    out: dict[int, list[float]] = {}
    for size in sizes:
        buf = np.ones(size, np.uint8) if comm.rank == 0 else None
        for _ in range(reps):
            await comm.barrier()
            t0 = time.perf_counter()
            if comm.rank == 0:
                await comm.send(buf, 1)
                assert await comm.recv(1) is True
                out.setdefault(size, []).append(time.perf_counter() - t0)
            else:
                got = await comm.recv(0)
                ok = got.nbytes == size and bool(got[-1] == 1)
                del got
                await comm.send(ok, 0)
        del buf
    if comm.rank == 0:
        print(json.dumps({str(s): t for s, t in out.items()}), flush=True)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench bigmsg", description=__doc__)
    p.add_argument("--sizes", default=SIZES, help=f"bytes, comma-separated (default {SIZES})")
    p.add_argument("--reps", type=int, default=3, help="transfers per size (default 3)")
    p.add_argument("--timeout", type=float, default=900, help="seconds for the job")
    a = p.parse_args(argv)
    cmd = [sys.executable, "-m", "zmqmesh", "launch", "-n", "2", "--no-prefix"]
    cmd += ["--timeout", str(a.timeout), str(HERE), a.sizes, str(a.reps)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout + 30)
    if res.returncode != 0:
        print(res.stdout + res.stderr, file=sys.stderr)
        return 1
    times = json.loads(res.stdout.strip().splitlines()[-1])
    print(f"python -m bench bigmsg {' '.join(argv)}".rstrip())
    print("| bytes | median MiB/s | best MiB/s | first MiB/s | others, median MiB/s | times (s) |")
    print("|---:|---:|---:|---:|---:|---|")
    for size, ts in times.items():
        n = int(size)
        med, best = n / statistics.median(ts) / 2**20, n / min(ts) / 2**20
        first = n / ts[0] / 2**20
        rest = f"{n / statistics.median(ts[1:]) / 2**20:.0f}" if len(ts) > 1 else "n/a"
        print(
            f"| {n} | {med:.0f} | {best:.0f} | {first:.0f} | {rest} "
            f"| {', '.join(f'{t:.2f}' for t in ts)} |"
        )
    return 0


if __name__ == "__main__":
    zmqmesh.run(_ranks)
