"""Hello from every rank, then a ring of greetings.

zmqmesh launch -n 4 examples/hello.py
"""

import zmqmesh


async def main(comm: zmqmesh.Comm) -> None:
    print(f"hello from rank {comm.rank} of {comm.size}")
    right, left = (comm.rank + 1) % comm.size, (comm.rank - 1) % comm.size
    greeting = await comm.sendrecv(f"greetings from {comm.rank}", dest=right, source=left)
    print(f"rank {comm.rank} got {greeting!r}")
    ranks = await comm.gather(comm.rank, root=0)
    if comm.rank == 0:
        print(f"all {comm.size} ranks checked in: {ranks}")


if __name__ == "__main__":
    zmqmesh.run(main)
