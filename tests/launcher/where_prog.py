"""A zmqmesh program that reports where each rank runs, for the placement
and allocation tests.

Every rank checks an allreduce and sends rank 0 its record: rank, size,
network namespace (namespace hosts share one host name), the CPUs it may
run on (``os.sched_getaffinity``) and those of each of its threads (NumPy's
BLAS threads start at import, so a rank pinned late would show them
unpinned). Rank 0 prints ``where [records in rank order]`` as JSON.
"""

from __future__ import annotations

import glob
import json
import os
import sys

import zmqmesh


def thread_cpus() -> list[str]:
    found = set()
    for status in glob.glob("/proc/self/task/*/status"):
        try:
            with open(status) as f:
                for line in f:
                    if line.startswith("Cpus_allowed_list:"):
                        found.add(line.split(":", 1)[1].strip())
        except OSError:  # a thread that ended meanwhile
            pass
    return sorted(found)


async def main(comm: zmqmesh.Comm) -> int:
    n = comm.size
    total = await comm.allreduce(comm.rank + 1)
    if total != n * (n + 1) // 2:
        print(f"check failed on rank {comm.rank}: allreduce gave {total}", flush=True)
        return 1
    me = {
        "rank": comm.rank,
        "size": n,
        "netns": os.readlink("/proc/self/ns/net"),
        "cpus": sorted(os.sched_getaffinity(0)),
        "threads": thread_cpus(),
        "bind": os.environ.get("ZMQMESH_BIND"),
    }
    records = await comm.gather(me, root=0)
    if comm.rank == 0:
        print("where " + json.dumps(records), flush=True)
    await comm.barrier()
    return 0


sys.exit(zmqmesh.run(main))
