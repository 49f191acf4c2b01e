"""``python -m mpi4py.bench <command> [args]``: mpi4py's small benchmarks,
with its options and its output lines, on zmqmesh.

Commands: ``helloworld`` (each rank greets in rank order), ``ringtest``
(a message around the ring of ranks, timed) and ``pingpong`` (``Send``/
``Recv``, or ``send``/``recv`` with ``--pickle``, between ranks 0 and 1 for
sizes of powers of two; ``--outband`` through ``mpi4py.util.pkl5``) and
``futures`` (``mpi4py.futures``' task throughput). The program-level options ``--threads``,
``--no-threads`` and ``--thread-level`` set ``mpi4py.rc`` (which zmqmesh
accepts and ignores).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["futures", "helloworld", "main", "pingpong", "ringtest"]

Command = Callable[..., Any]
_commands: dict[str, Command] = {}


def _command(fn: Command) -> Command:
    _commands[fn.__name__] = fn
    return fn


def _parser(command: str = "", usage: str | None = None) -> argparse.ArgumentParser:
    prog = f"{Path(sys.executable).name} -m mpi4py.bench {command}".strip()
    return argparse.ArgumentParser(prog=prog, usage=usage)


def _quiet(p: argparse.ArgumentParser, verbose: bool) -> None:
    p.add_argument(
        "-q", "--quiet", action="store_false", dest="verbose", default=verbose, help="quiet output"
    )


def _int_options(p: argparse.ArgumentParser, table: Sequence[tuple[str, str, int, str]]) -> None:
    for flags, dest, default, text in table:
        names = flags.split()
        p.add_argument(*names, type=int, dest=dest, default=default, help=text or None)


def _mpi() -> Any:
    from zmqmesh.compat.mpi4py import MPI

    return MPI


@_command
def helloworld(comm: Any, args: Sequence[str] | None = None, verbose: bool = True) -> str:
    """Hello, World! using MPI: each rank prints its line, in rank order
    (a token passes from rank to rank); returns this rank's line."""
    p = _parser("helloworld")
    _quiet(p, verbose)
    opts = p.parse_args(args)
    size, rank = comm.Get_size(), comm.Get_rank()
    width = len(str(size - 1))
    line = (
        f"Hello, World! I am process {rank:{width}d} of {size} on {_mpi().Get_processor_name()}.\n"
    )
    comm.Barrier()
    if rank > 0:
        comm.Recv([None, "B"], rank - 1)
    if opts.verbose:
        sys.stdout.write(line)
        sys.stdout.flush()
    if rank < size - 1:
        comm.Send([None, "B"], rank + 1)
    comm.Barrier()
    return line


def _ring(comm: Any, nbytes: int, loop: int, skip: int) -> float:
    """Seconds for ``loop`` trips of ``nbytes`` around the ring, after ``skip``."""
    wtime = _mpi().Wtime
    size, rank = comm.Get_size(), comm.Get_rank()
    left, right = (rank - 1) % size, (rank + 1) % size
    out = array("B", [42]) * nbytes
    into = array("B", [0]) * nbytes
    start = wtime()
    for i in range(loop + skip):
        if i == skip:
            start = wtime()
        if size == 1:
            comm.Sendrecv(out, right, 0, into, left, 0)
        elif rank == 0:
            comm.Send(out, right, 0)
            comm.Recv(into, left, 0)
        else:  # pass on what came in
            comm.Recv(into, left, 0)
            comm.Send(into, right, 0)
    elapsed: float = wtime() - start
    if rank == 0 and out != into:
        print("ringtest: received message does not match!", file=sys.stderr, flush=True)
        comm.Abort(2)
    return elapsed


@_command
def ringtest(comm: Any, args: Sequence[str] | None = None, verbose: bool = True) -> float:
    """Time a message going around the ring of processes; returns the seconds."""
    p = _parser("ringtest")
    _quiet(p, verbose)
    _int_options(
        p,
        (
            ("-n --size", "size", 1, "message size"),
            ("-s --skip", "skip", 0, "number of warm-up iterations"),
            ("-l --loop", "loop", 1, "number of iterations"),
        ),
    )
    opts = p.parse_args(args)
    comm.Barrier()
    elapsed = _ring(comm, opts.size, opts.loop, opts.skip)
    if opts.verbose and comm.Get_rank() == 0:
        sys.stdout.write(
            f"time for {opts.loop} loops = {elapsed:g} seconds "
            f"({comm.Get_size()} processes, {opts.size} bytes)\n"
        )
        sys.stdout.flush()
    return elapsed


def _pingpong_parser(verbose: bool) -> argparse.ArgumentParser:
    p = _parser("pingpong")
    _quiet(p, verbose)
    _int_options(
        p,
        (
            ("-m --min-size", "min_size", 1, "minimum message size"),
            ("-n --max-size", "max_size", 1 << 30, "maximum message size"),
            ("-s --skip", "skip", 100, "number of warm-up iterations"),
            ("-l --loop", "loop", 10000, "number of iterations"),
        ),
    )
    p.add_argument(
        "-a",
        "--array",
        dest="array",
        default="numpy",
        choices=["numpy", "cupy", "numba", "none"],
        help="use NumPy/CuPy/Numba arrays",
    )
    p.add_argument("-p", "--pickle", action="store_true", help="use pickle-based send and receive")
    p.add_argument("--protocol", type=int, default=None, help="pickle protocol version")
    p.add_argument(
        "-o",
        "--outband",
        action="store_true",
        help="use out-of-band pickle-based send and receive",
    )
    p.add_argument(
        "--threshold", type=int, default=None, help="size threshold for out-of-band pickle buffers"
    )
    _int_options(
        p,
        (
            ("--skip-large", "skip_large", 10, ""),
            ("--loop-large", "loop_large", 1000, ""),
            ("--large-size", "large_size", 1 << 14, ""),
            ("--skip-huge", "skip_huge", 1, ""),
            ("--loop-huge", "loop_huge", 10, ""),
            ("--huge-size", "huge_size", 1 << 20, ""),
        ),
    )
    p.add_argument("--no-header", action="store_false", dest="print_header", default=True)
    p.add_argument("--no-stats", action="store_false", dest="print_stats", default=True)
    return p


def _allocator(kind: str) -> Callable[[int], Any]:
    if kind == "numpy":
        try:
            import numpy as np
        except ImportError:
            return bytearray
        return lambda n: np.empty(n, "B")
    if kind in ("cupy", "numba"):
        raise NotImplementedError(
            f"mpi4py.bench pingpong --array {kind} is not supported by zmqmesh's mpi4py layer "
            "(host buffers only)"
        )
    return bytearray


@_command
def pingpong(
    comm: Any, args: Sequence[str] | None = None, verbose: bool = True
) -> list[tuple[int, float, float]]:
    """Time messages between ranks 0 and 1 (a rank alone sends to itself):
    half a round trip, for each power of two from ``--min-size`` to
    ``--max-size``; returns ``(bytes, mean seconds, stdev)`` per size."""
    opts = _pingpong_parser(verbose).parse_args(args)
    MPI = _mpi()
    if opts.outband:  # objects, their large buffers out of band (mpi4py.util.pkl5)
        from zmqmesh.compat.mpi4py.util import pkl5

        comm, opts.pickle = pkl5.Intracomm(comm), True
        if opts.threshold is not None:
            MPI.pickle.THRESHOLD = opts.threshold
    allocate = _allocator(opts.array)
    # --protocol: accepted; zmqmesh picks its own encoding for objects.
    wtime = MPI.Wtime
    if opts.pickle:
        send, recv, sendrecv = comm.send, comm.recv, comm.sendrecv
    else:
        send, recv, sendrecv = comm.Send, comm.Recv, comm.Sendrecv
    size, rank = comm.Get_size(), comm.Get_rank()
    skip, loop = opts.skip, opts.loop
    result: list[tuple[int, float, float]] = []
    for nbytes in (1 << i for i in range(33)):
        if not opts.min_size <= nbytes <= opts.max_size:
            continue
        # Fewer iterations for large and huge messages, never more again.
        if nbytes > opts.large_size:
            skip, loop = min(skip, opts.skip_large), min(loop, opts.loop_large)
        if nbytes > opts.huge_size:
            skip, loop = min(skip, opts.skip_huge), min(loop, opts.loop_huge)
        if opts.pickle:
            smsg: Any = allocate(nbytes)
            rmsg: Any = None
        else:
            smsg = [allocate(nbytes), nbytes, MPI.BYTE]
            rmsg = [allocate(nbytes), nbytes, MPI.BYTE]
        times: list[float] = []
        comm.Barrier()
        for i in range(skip + loop):
            t0 = wtime()
            if size == 1:
                sendrecv(smsg, 0, 0, rmsg, 0, 0)
                sendrecv(smsg, 0, 0, rmsg, 0, 0)
            elif rank == 0:
                send(smsg, 1, 0)
                recv(rmsg, 1, 0)
            elif rank == 1:
                recv(rmsg, 0, 0)
                send(smsg, 0, 0)
            if i >= skip:
                times.append((wtime() - t0) / 2)
        mean = statistics.mean(times) if times else float("nan")
        stdev = statistics.stdev(times) if len(times) > 1 else 0.0
        result.append((nbytes, mean, stdev))
        if opts.verbose and rank == 0:
            _pingpong_line(opts, nbytes, mean, stdev, loop)
    return result


def _pingpong_line(
    opts: argparse.Namespace, nbytes: int, mean: float, stdev: float, loop: int
) -> None:
    if opts.print_header:
        opts.print_header = False
        print("# MPI PingPong Test")
        stats = " | Time Mean [s] \u00b1 StdDev [s]  Samples" if opts.print_stats else ""
        print("# Size [B]  Bandwidth [MB/s]" + stats, flush=True)
    line = f"{nbytes:10d}{nbytes / mean / 1e6:18.2f}"
    if opts.print_stats:
        line += f" | {mean:.7e} \u00b1 {stdev:.4e} {loop:8d}"
    print(line, flush=True)


@_command
def futures(comm: Any, args: Sequence[str] | None = None, verbose: bool = True) -> Any:
    """mpi4py.futures' task throughput: ``--num-tasks`` tasks per worker that
    return their argument, of each power-of-two size from ``--min-size``
    to ``--max-size``, on the other ranks of ``comm`` (``--executor mpi``,
    through ``MPICommExecutor``; threads on one rank) or on local
    ``thread``/``process`` pools; returns ``(bytes, tasks per second)``
    per size (on the rank that submits)."""
    import concurrent.futures as cf

    from zmqmesh.compat.mpi4py import futures as F
    from zmqmesh.compat.mpi4py.futures._worker import identity

    p = _parser("futures")
    _quiet(p, verbose)
    p.add_argument("-e", "--executor", choices=["mpi", "process", "thread"], default="mpi",
                   help="executor backend")  # fmt: skip
    _int_options(
        p,
        (
            ("-w --num-workers", "workers", 0, "number of workers (local pools)"),
            ("-t --num-tasks", "tasks", 50, "number of tasks per worker"),
            ("-m --min-size", "min_size", 0, "minimum task data size"),
            ("-n --max-size", "max_size", 1 << 16, "maximum task data size"),
            ("-c --chunksize", "chunksize", 1, "tasks per chunk"),
        ),
    )
    opts = p.parse_args(args)
    result: list[tuple[int, float]] = []

    def measure(ex: cf.Executor, workers: int) -> None:
        sizes = [0] if opts.min_size <= 0 else []
        sizes += [1 << i for i in range(40) if opts.min_size <= 1 << i <= opts.max_size]
        for nbytes in sizes:
            data = [bytearray(nbytes)] * (opts.tasks * max(workers, 1))
            t0 = _mpi().Wtime()
            for _ in ex.map(identity, data, chunksize=opts.chunksize):
                pass
            rate = len(data) / (_mpi().Wtime() - t0)
            result.append((nbytes, rate))
            if opts.verbose:
                if len(result) == 1:
                    print(f"# MPI Futures Test ({opts.executor}, {workers} workers)")
                    print("# Size [B]  Tasks/s")
                print(f"{nbytes:10d}{rate:13.1f}", flush=True)

    if opts.executor == "mpi":
        with F.MPICommExecutor(comm, root=0) as ex:
            if ex is not None:
                measure(ex, max(comm.Get_size() - 1, 1))
    else:  # every rank measures its own pool; rank 0 says what it saw
        opts.verbose = opts.verbose and comm.Get_rank() == 0
        kind = F.ThreadPoolExecutor if opts.executor == "thread" else F.ProcessPoolExecutor
        with kind(opts.workers or None) as ex:
            measure(ex, opts.workers or 1)
    return result


def main(args: Sequence[str] | None = None) -> None:
    """``python -m mpi4py.bench``: run one command on ``COMM_WORLD``; exits 0
    after it, 2 for an unknown command (rank 0 says which)."""
    p = _parser(usage="%(prog)s [options] <command> [args]")
    p.add_argument("--threads", action="store_true", dest="threads", default=None,
                   help="initialize MPI with thread support")  # fmt: skip
    p.add_argument("--no-threads", action="store_false", dest="threads", default=None,
                   help="initialize MPI without thread support")  # fmt: skip
    p.add_argument(
        "--thread-level",
        dest="thread_level",
        default=None,
        metavar="LEVEL",
        choices=["single", "funneled", "serialized", "multiple"],
        help="initialize MPI with required thread level",
    )
    p.add_argument("command", metavar="<command>", help="benchmark command to run")
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="[args]", help="its arguments")
    opts = p.parse_args(args)
    from zmqmesh.compat.mpi4py import rc

    if opts.threads is not None:
        rc.threads = opts.threads
    if opts.thread_level is not None:
        rc.thread_level = opts.thread_level
    comm = _mpi().COMM_WORLD
    command = _commands.get(opts.command)
    if command is None:
        if comm.Get_rank() == 0:
            p.error(f"unknown command {opts.command!r}")
        p.exit(2)
    command(comm, opts.args)
    p.exit()


if __name__ == "__main__":
    main()
