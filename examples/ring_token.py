"""A token travels K laps around a ring topology; every rank adds its rank.

    zmqmesh launch -n 4 examples/ring_token.py [--laps K]

``comm.create_topology("ring")`` gives each rank ``.left`` and ``.right``
(and opens connections to those two only). Rank 0 starts the token at 0;
each rank receives it from the left, adds its rank and sends it right. After
K laps rank 0 holds K * (0 + 1 + ... + size-1), which it checks and prints
with the time per hop. With one rank the ring is rank 0 sending to itself.
"""

import argparse
import time

import zmqmesh

TOKEN = 7  # a tag of our own, so the token never matches any other message


async def main(comm: zmqmesh.Comm) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--laps", type=int, default=100)
    args = parser.parse_args()
    ring = await comm.create_topology("ring")

    await ring.barrier()
    t0 = time.perf_counter()
    token = 0
    for _ in range(args.laps):
        if ring.rank == 0:
            # Rank 0 sends first: if every rank began by receiving, each
            # would wait for its left neighbour forever.
            await ring.send(token, ring.right, tag=TOKEN)
            token = await ring.recv(ring.left, tag=TOKEN)
        else:
            token = await ring.recv(ring.left, tag=TOKEN)
            await ring.send(token + ring.rank, ring.right, tag=TOKEN)
    elapsed = time.perf_counter() - t0

    if ring.rank == 0:
        expected = args.laps * sum(range(ring.size))
        hops = args.laps * ring.size
        peers = ring.connections  # a ring connects each rank to its two neighbours only
        print(
            f"ring of {ring.size}: rank 0 has left={ring.left} right={ring.right}, {peers} peer(s)"
        )
        print(f"after {args.laps} laps the token is {token} (expected {expected})")
        print(f"{hops} hops in {elapsed:.3f} s: {elapsed / hops * 1e6:.1f} us per hop")
        if token != expected:
            raise SystemExit("ring_token: wrong token value")


if __name__ == "__main__":
    zmqmesh.run(main)
