"""Redundant computation: pairs of ranks do the same work and cross-check it.

    zmqmesh launch -n 4 examples/redundant_computation.py [--inject]

Ranks 2g and 2g+1 form group g; both compute group g's result independently
(a small deterministic simulation seeded by g) and swap results with their
partner in one ``sendrecv``. Each pair's lower rank reports agreement or the
mismatch. With an odd rank count the last rank has no partner: it computes
twice and checks against itself, and says so. ``--inject`` flips the lowest
bit of one rank's result (rank 1, or rank 0 alone): the mismatch is reported
and, after an ``allreduce`` of the mismatch count, every rank exits non-zero.
"""

import argparse

import numpy as np

import zmqmesh

CHECK = 11  # our own tag for the cross-check


def simulate(group: int, steps: int = 200) -> float:
    """A random walk of 10,000 particles in a harmonic well; their mean energy."""
    rng = np.random.default_rng(group)
    x = np.zeros(10_000)
    for _ in range(steps):
        x += -0.01 * x + 0.1 * rng.standard_normal(x.size)
    return float(np.mean(0.5 * x * x))


async def main(comm: zmqmesh.Comm) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--inject", action="store_true", help="corrupt one rank's result")
    args = parser.parse_args()
    rank, size = comm.rank, comm.size
    group, partner = rank // 2, rank ^ 1
    bad_rank = min(1, size - 1)

    mine = simulate(group)
    if args.inject and rank == bad_rank:
        mine = float(np.nextafter(mine, np.inf))  # one flipped low bit, as a faulty core gives
    if partner < size:
        theirs = await comm.sendrecv(mine, partner, sendtag=CHECK, source=partner, recvtag=CHECK)
        who = f"ranks {min(rank, partner)} and {max(rank, partner)}"
    else:  # no partner: the second, independent copy comes from this rank
        theirs = simulate(group)
        who = f"rank {rank} (no partner: computed twice, checked against itself)"
    agree = mine == theirs  # the same code on the same inputs must give the same bits
    reporter = rank < partner  # the pair's lower rank, or the rank without a partner

    if reporter:
        verdict = f"agree on {mine:.12f}" if agree else f"MISMATCH: {mine!r} vs {theirs!r}"
        print(f"group {group}: {who} {verdict}")
    mismatches = await comm.allreduce(int(reporter and not agree))
    if rank == 0:
        groups = (size + 1) // 2
        print(f"{groups - mismatches} of {groups} group(s) agree, {mismatches} mismatch(es)")
    if mismatches:
        raise SystemExit(
            f"redundant_computation: {mismatches} group(s) disagree" if rank == 0 else 1
        )


if __name__ == "__main__":
    zmqmesh.run(main)
