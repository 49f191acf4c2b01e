"""The ``zmqmesh`` command line (also ``python -m zmqmesh``).

``zmqmesh launch -n N [options] script.py [args...]`` and
``zmqmesh launch -n N [options] -m pkg.mod [args...]`` run N ranks of a Python
program on this machine. Everything after the script or module name belongs to
the program, even words that look like the launcher's options, so the command
line is split there before argparse sees the launcher's part.

Mistakes on the command line (and anything else that keeps the job from
starting) print a single ``zmqmesh: error: ...`` line and exit with status 2.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import NoReturn

from zmqmesh.errors import LaunchError
from zmqmesh.job.allocation import Allocation, find_allocation
from zmqmesh.job.hostlist import Host, parse_host_list
from zmqmesh.launcher.forkserver import for_job, hold_stdin
from zmqmesh.launcher.hostfile import is_local, parse_hostfile
from zmqmesh.launcher.jobspec import RESERVED_ENV, JobSpec
from zmqmesh.launcher.placement import (
    BIND_CHOICES,
    MAP_CHOICES,
    bindings,
    cpus_for,
    place,
    sysfs_core,
)
from zmqmesh.launcher.preflight import check_reachable
from zmqmesh.transport.limits import raise_open_files

__all__ = ["build_parser", "main", "parse_args", "split_program"]

USAGE_ERROR = 2
_THIS_MACHINE = "-n"  # the source of the one host of a job without hosts
# How long the command that lists an allocation's nodes may take (a Flux
# broker answers in well under a second; a hung one must not hang the launch).
_COMMAND_TIMEOUT = 30.0

# Launcher options that take their value as the next word; the other forms
# (--np=4, -n4, -xVAR) are one word. Needed to find where the program starts.
_OPTIONS_WITH_VALUE = frozenset(
    {
        "-n",
        "--np",
        "-x",
        "--timeout",
        "--hang-check",
        "--grace",
        "--trace",
        "--hosts",
        "--host",
        "--ssh",
        "--remote-python",
        "--wdir",
        "--spawn",
        "--map-by",
        "--bind-to",
        "-N",
        "--npernode",
    }
)

_LAUNCH_USAGE = (
    "zmqmesh launch [options] script.py [args...]\n"
    "       zmqmesh launch [options] -m MODULE [args...]"
)

_LAUNCH_EPILOG = """\
Each rank runs the same program with the launcher's Python interpreter, in a
session of its own, with stdin from /dev/null and these variables set:
ZMQMESH_RANK, ZMQMESH_SIZE, ZMQMESH_JOB, ZMQMESH_RENDEZVOUS, ZMQMESH_IPC_DIR
(a private directory removed when the job ends), ZMQMESH_PICKLE=1 with
--pickle, and PYTHONUNBUFFERED=1.

Exit status: 0 when every rank exits 0; else that of the first rank to fail
(128+N when it was killed by signal N); 124 when --timeout expires; 130, 143
or 129 when the launcher gets SIGINT, SIGTERM or SIGHUP; 2 when the job
cannot be started.

Inside an allocation (a batch script, an salloc shell), without -n and
without --hosts/--host, the ranks fill the allocation's slots, as mpirun does
there: under SLURM the task slots (SLURM_JOB_NODELIST, SLURM_TASKS_PER_NODE),
each rank started as a job step with srun; under PBS/Torque (PBS_NODEFILE),
LSF (LSB_DJOB_HOSTFILE, LSB_MCPU_HOSTS), Grid Engine (PE_HOSTFILE) and Flux
(FLUX_JOB_ID; flux resource R) the slots those name, each rank started over
ssh, or directly where the host is this one.

Hostfiles (--hosts) may be written as zmqmesh and Open MPI write them
("host slots=N [max_slots=M]"), as MPICH does ("host:N"), as Grid Engine does
("host N queue processors"), or a host per slot as PBS and LSF do: a host on
several lines has the sum of their slots.

Placement: ranks fill each host's slots in order (--map-by slot) or go round
the hosts (--map-by node); -N K runs K ranks on every host. More ranks than
slots need --oversubscribe (extra ranks go one to each host in turn, never
past a host's max_slots). --bind-to core pins each rank to a core of its host
of its own (os.sched_setaffinity), shared only with --oversubscribe.

examples:
  zmqmesh launch -n 4 script.py --size 10
  zmqmesh launch -n 8 -x OMP_NUM_THREADS=1 --timeout 600 -m pkg.solver input.h5
  zmqmesh launch --hosts $PBS_NODEFILE --map-by node --bind-to core script.py
"""


class _UsageError(Exception):
    """A mistake on the command line; reported as one line, status 2."""


class _Parser(argparse.ArgumentParser):
    # argparse prints the usage and exits; here every error is one line that
    # main() prints, so the launcher's errors all look alike.
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _rank_count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of ranks: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"the number of ranks must be at least 1, not {n}")
    return n


def _seconds(text: str, *, allow_zero: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise argparse.ArgumentTypeError(f"seconds must be finite and {bound}, not {text!r}")
    return value


def _timeout(text: str) -> float:
    return _seconds(text, allow_zero=False)


def _grace(text: str) -> float:
    return _seconds(text, allow_zero=True)


def _env_item(text: str) -> tuple[str, str | None]:
    name, sep, value = text.partition("=")
    if not name or "\0" in text:
        raise argparse.ArgumentTypeError(f"expected VAR or VAR=value, not {text!r}")
    if name in RESERVED_ENV:
        hint = " (use --pickle)" if name == "ZMQMESH_PICKLE" else ""
        raise argparse.ArgumentTypeError(f"{name} is set by the launcher{hint}")
    return name, (value if sep else None)


def build_parser() -> argparse.ArgumentParser:
    """The parser of the ``zmqmesh`` command and its subcommands."""
    parser = _Parser(
        prog="zmqmesh",
        description="MPI-style message passing for asyncio Python over ZeroMQ.",
        allow_abbrev=False,
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="show the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="command", required=True)
    commands.add_parser(
        "stack",
        help="print what each rank of a running job waits in: zmqmesh stack LAUNCHER_PID",
        description="Ask the launcher of a running job (its process id) what each rank "
        "waits in, with its stack, and print the answer (kill -USR1 of the launcher prints "
        "the same on the job's stderr). The job goes on.",
    )
    launch = commands.add_parser(
        "launch",
        help="run N ranks of a Python program on this machine",
        description="Run N ranks of a Python program on this machine and wait for them.",
        usage=_LAUNCH_USAGE,
        epilog=_LAUNCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    launch.add_argument(
        "-n",
        "--np",
        dest="size",
        type=_rank_count,
        default=None,
        metavar="N",
        help="number of ranks to start (default: every slot of --hosts/--host; inside an "
        "allocation (SLURM, PBS, LSF, Grid Engine, Flux), one rank per slot of it; "
        "else 1)",
    )
    launch.add_argument(
        "--hosts",
        metavar="FILE",
        help="hostfile: one host a line, `host [slots=N] [max_slots=M]`, `host:N` or "
        "`host N ...`, a host on several lines adds up (PBS_NODEFILE, PE_HOSTFILE and "
        "LSB_DJOB_HOSTFILE are hostfiles), # comments; local names start directly, "
        "others over ssh",
    )
    launch.add_argument(
        "--host",
        metavar="LIST",
        help="hosts on the command line, e.g. a,b:2 (host[:slots], comma-separated)",
    )
    launch.add_argument(
        "--oversubscribe",
        action="store_true",
        help="allow more ranks than slots (or -N more than a host's slots); the "
        "extra ranks go one to each host in turn, up to its max_slots",
    )
    launch.add_argument(
        "--map-by",
        choices=MAP_CHOICES,
        default="slot",
        help="slot (default): fill each host's slots before the next host's; "
        "node: one rank to each host in turn",
    )
    launch.add_argument(
        "-N",
        "--npernode",
        type=_rank_count,
        default=None,
        metavar="K",
        help="K ranks on every host (default -n: K times the hosts)",
    )
    launch.add_argument(
        "--bind-to",
        choices=BIND_CHOICES,
        default="none",
        help="core: pin each rank to one core of its host (os.sched_setaffinity: the "
        "core's hardware threads), a core of its own unless --oversubscribe; none "
        "(default): no pinning",
    )
    launch.add_argument(
        "--ssh",
        default="ssh",
        metavar="CMD",
        help='the command that reaches a host, e.g. "ssh -F cfg" or "ssh -p 2222" '
        "(default: ssh, with your ~/.ssh/config, agent and jump hosts)",
    )
    launch.add_argument(
        "-x",
        dest="env",
        action="append",
        type=_env_item,
        default=[],
        metavar="VAR[=VALUE]",
        help="give the ranks VAR: VALUE, or without =VALUE the launcher's own value "
        "(an error when unset); repeatable",
    )
    launch.add_argument(
        "--timeout",
        type=_timeout,
        metavar="S",
        help="stop every rank after S seconds and exit with status 124 (default: no limit)",
    )
    launch.add_argument(
        "--hang-check",
        type=_grace,
        default=10.0,
        metavar="S",
        help="when every rank has waited S seconds in zmqmesh calls with no message on "
        "its way, report the deadlock (each rank's call and line, the wait-for cycle) and "
        "stop the job (default: 10; 0: never). kill -USR1 of the launcher prints what "
        "each rank waits in at any time",
    )
    launch.add_argument(
        "--grace",
        type=_grace,
        default=10.0,
        metavar="S",
        help="after the first rank fails, let the others run S more seconds before "
        "stopping them (default: 10)",
    )
    launch.add_argument(
        "--remote-python",
        metavar="PATH",
        help="the Python interpreter remote ranks run (default: this launcher's own path)",
    )
    launch.add_argument(
        "--wdir",
        metavar="DIR",
        help="the working directory of remote ranks (default: the launcher's)",
    )
    launch.add_argument(
        "--insecure",
        action="store_true",
        help="no CURVE encryption or authentication between hosts: for benchmarks on a "
        "trusted network only (see the README's security section)",
    )
    launch.add_argument(
        "--verbose",
        action="store_true",
        help="a rank that raises prints every frame of its traceback, zmqmesh's, "
        "asyncio's and uvloop's too (sets ZMQMESH_TRACEBACK=full)",
    )
    launch.add_argument(
        "--no-prefix",
        dest="prefix",
        action="store_false",
        help="do not start each output line with [rank]",
    )
    launch.add_argument(
        "--pickle",
        action="store_true",
        help="let the ranks send arbitrary objects with pickle (sets ZMQMESH_PICKLE=1)",
    )
    launch.add_argument(
        "--mpi4py",
        action="store_true",
        help="run an mpi4py program unchanged: 'from mpi4py import MPI' gets zmqmesh's "
        "mpi4py layer (zmqmesh.compat.mpi4py) in the ranks",
    )
    launch.add_argument(
        "--report",
        action="store_true",
        help="at the end, print what each rank did: messages and bytes per peer, time "
        "in each call, waiting against computing, peak RSS, load imbalance",
    )
    launch.add_argument(
        "--trace",
        metavar="FILE",
        help="write a Chrome/Perfetto trace (one track per rank, one span per "
        "blocking point-to-point or collective call) to FILE",
    )
    launch.add_argument(
        "--spawn",
        choices=("fork", "exec"),
        default="fork",
        help="how local ranks start: forked from one process that loaded zmqmesh "
        "(fork, the default on Linux: fast, and they share its memory) or each as a new "
        "interpreter (exec)",
    )
    launch.add_argument(
        "-m",
        dest="module",
        metavar="MODULE",
        help="run library module MODULE as the program, like python -m",
    )
    launch.add_argument("script", nargs="?", help="the Python script each rank runs")
    launch.add_argument("args", nargs=argparse.REMAINDER, help="passed to the program as they are")
    return parser


def split_program(argv: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
    """Split the words after ``launch`` into the launcher's options, the
    program (``["-m", module]``, ``["--", script]`` or ``[]`` when absent)
    and the program's arguments, taken verbatim."""
    words = list(argv)
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--":
            return words[:i], words[i : i + 2], words[i + 2 :]
        if word == "-m":
            return words[:i], words[i : i + 2], words[i + 2 :]
        if word.startswith("-m"):  # -mpkg.mod, as python takes it
            return words[:i], ["-m", word[2:]], words[i + 1 :]
        if word == "-" or not word.startswith("-"):
            return words[:i], ["--", word], words[i + 1 :]
        i += 2 if word in _OPTIONS_WITH_VALUE else 1
    return words, [], []


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse a ``zmqmesh launch`` command line (without the program name).

    Raises ``_UsageError`` for a mistake; ``SystemExit(0)`` after printing
    ``--help`` or ``--version``.
    """
    parser = build_parser()
    if argv and argv[0] == "launch":
        options, program, args = split_program(argv[1:])
        ns = parser.parse_args(["launch", *options, *program])
        ns.args = args
        if ns.module is None and ns.script is None:
            raise _UsageError("no program to run: give a script or -m module")
        return ns
    parser.parse_args(list(argv))  # prints help or raises for anything but launch
    raise _UsageError(f"unknown command line: {' '.join(argv)}")


def job_spec(ns: argparse.Namespace, environ: Mapping[str, str]) -> JobSpec:
    """The job that a parsed ``launch`` command line asks for. ``-x VAR`` takes
    its value from ``environ``. Raises ``LaunchError`` when the program or a
    forwarded variable does not exist."""
    env: dict[str, str] = {}
    for name, value in ns.env:
        if value is None:
            if name not in environ:
                raise LaunchError(f"-x {name}: {name} is not set in the environment")
            value = environ[name]
        env[name] = value
    if ns.verbose:
        env["ZMQMESH_TRACEBACK"] = "full"
    if ns.module is not None:
        if not ns.module:
            raise LaunchError("-m needs a module name")
        program = ("-m", ns.module, *ns.args)
    else:
        script: str = ns.script
        if script == "-":
            raise LaunchError("the program cannot be read from stdin: ranks' stdin is /dev/null")
        if not os.path.exists(script):
            raise LaunchError(f"{script}: no such file")
        program = (script, *ns.args)
    ssh = tuple(shlex.split(ns.ssh))
    if not ssh:
        raise LaunchError("--ssh needs a command")
    entries, srun = _hosts(ns, environ)
    names = place(
        entries,
        ns.size,
        map_by=ns.map_by,
        npernode=ns.npernode,
        oversubscribe=ns.oversubscribe or entries[0].source == _THIS_MACHINE,
    )
    size = len(names)
    login = 0.0
    if srun is not None:
        hosts: tuple[str | None, ...] = tuple(names)
    else:
        hosts = tuple(None if is_local(name) else name for name in names)
        login = check_reachable(ssh, [h for h in entries if not is_local(h.name)])
    bind: tuple[str, ...] = ()
    if ns.bind_to == "core":
        bind = tuple(bindings(hosts, share=ns.oversubscribe))
        local = [b for h, b in zip(hosts, bind, strict=True) if h is None]
        if local:
            try:  # the ranks here: refused now rather than each failing to start
                cpus_for(local[0], os.sched_getaffinity(0), sysfs_core)
            except ValueError as exc:
                raise LaunchError(str(exc)) from None
    if not any(hosts):  # every rank on this machine
        hosts = ()
    return JobSpec(
        program=program,
        size=size,
        hosts=hosts,
        ssh=ssh,
        ssh_login=login,
        srun=srun,
        insecure=ns.insecure,
        remote_python=ns.remote_python,
        remote_wdir=ns.wdir,
        env=env,
        timeout=ns.timeout,
        hang_check=ns.hang_check,
        grace=ns.grace,
        prefix=ns.prefix,
        pickle=ns.pickle,
        report=ns.report,
        trace=ns.trace,
        live=ns.report and sys.stderr.isatty(),
        terminal=sys.stderr.isatty(),
        mpi4py=ns.mpi4py,
        fork=ns.spawn == "fork",
        bind=bind,
    )


def _hosts(ns: argparse.Namespace, environ: Mapping[str, str]) -> tuple[list[Host], str | None]:
    """The hosts the job's ranks are placed on, and the srun to start them
    with inside a SLURM allocation (None: local or ssh). Without hosts, one
    host, this machine, with a slot per rank asked for (its ``source``
    ``-n``: it takes any number of ranks)."""
    if ns.hosts is not None or ns.host is not None:
        if ns.hosts is not None and ns.host is not None:
            raise LaunchError("give --hosts or --host, not both")
        entries = parse_hostfile(ns.hosts) if ns.hosts is not None else parse_host_list(ns.host)
        return entries, None
    if ns.size is None:
        allocation = find_allocation(environ, _read_file, _run_command(environ))
        if allocation is not None:
            return list(allocation.hosts), _srun(allocation, environ)
    return [Host("localhost", ns.size or ns.npernode or 1, _THIS_MACHINE)], None


def _srun(allocation: Allocation, environ: Mapping[str, str]) -> str | None:
    """Inside SLURM, as mpirun does there: the ranks start through srun."""
    if allocation.who != "SLURM":
        return None
    srun = shutil.which("srun", path=environ.get("PATH"))
    if srun is None:
        raise LaunchError(
            f"inside SLURM job {allocation.job}, but srun is not on PATH: "
            "give -n N for ranks on this machine, or --hosts"
        )
    return srun


def _read_file(var: str, path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise LaunchError(f"{var}={path}: cannot read it: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise LaunchError(f"{var}={path}: not a text file (it is not UTF-8)") from None


def _run_command(environ: Mapping[str, str]) -> Callable[[tuple[str, ...]], str]:
    def run(argv: tuple[str, ...]) -> str:
        program = shutil.which(argv[0], path=environ.get("PATH"))
        if program is None:
            raise LaunchError(f"inside a Flux job, but {argv[0]} is not on PATH")
        try:
            res = subprocess.run(
                [program, *argv[1:]],
                capture_output=True,
                text=True,
                timeout=_COMMAND_TIMEOUT,
                env=dict(environ),
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise LaunchError(f"{' '.join(argv)}: {exc}") from None
        if res.returncode != 0:
            why = res.stderr.strip().splitlines()[-1:] or [f"exit status {res.returncode}"]
            raise LaunchError(f"{' '.join(argv)} failed: {why[0]}")
        return res.stdout

    return run


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``zmqmesh`` command with ``argv`` (default ``sys.argv[1:]``) and
    return its exit status; the console script passes it to ``sys.exit``."""
    words = sys.argv[1:] if argv is None else list(argv)
    if words[:1] == ["stack"]:
        from zmqmesh.launcher.stack import stack_command

        return stack_command(words[1:])
    forks = None
    try:
        spec = job_spec(parse_args(words), os.environ)
        raise_open_files()  # before the fork server starts: its ranks inherit it
        hold_stdin()  # rank 0 reads it: not a descriptor the launcher opens later
        # The fork server starts loading zmqmesh now, while this process
        # imports the job's machinery (asyncio, ZeroMQ): on two cores or
        # more, the two take no longer than the slower of them.
        forks = for_job(spec, signal.pthread_sigmask(signal.SIG_BLOCK, []))
        from zmqmesh.launcher.spawn import run_job

        return run_job(spec, forks=forks)
    except (_UsageError, LaunchError) as exc:
        print(f"zmqmesh: error: {exc}", file=sys.stderr, flush=True)
        return USAGE_ERROR
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:  # only outside the job, which handles SIGINT itself
        return 130
    finally:
        if forks is not None:
            forks.close()


class _Version(argparse.Action):
    # argparse's own version action wants the text when the parser is built;
    # looking the version up costs importlib.metadata (tens of ms) at every
    # launch, so it is looked up only when asked for.
    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> NoReturn:
        print(f"{parser.prog} {_version()}")
        parser.exit()


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("zmqmesh")
    except metadata.PackageNotFoundError:
        return "(not installed)"


if __name__ == "__main__":
    sys.exit(main())
