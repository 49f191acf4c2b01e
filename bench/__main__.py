"""``python -m bench <suite> [options]``: run one benchmark suite."""

from __future__ import annotations

import sys

from bench import bigmsg, coll, compat, curve, fuzz, mpi4py_suite, p2p, scale, scale_ranks
from bench import exec as exec_suite  # (the module's name shadows the builtin)

SUITES = {
    "p2p": p2p.main,
    "coll": coll.main,
    "curve": curve.main,
    "exec": exec_suite.main,
    "scale": scale.main,
    "scale-ranks": scale_ranks.main,
    "compat": compat.main,
    "bigmsg": bigmsg.main,
    "fuzz": fuzz.main,
    "mpi4py-suite": mpi4py_suite.main,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in SUITES:
        print(f"usage: python -m bench {{{','.join(SUITES)}}} [--help]", file=sys.stderr)
        return 2
    return SUITES[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
