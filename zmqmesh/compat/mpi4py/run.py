"""``python -m mpi4py`` (and ``python -m mpi4py.run``): run a program as
mpi4py does, inside a zmqmesh job.

``python -m mpi4py [options] <pyfile> | -m <mod> | -c <cmd> | - [arg] ...``
runs the program with ``sys.argv`` set as Python would. When it ends by an
uncaught exception (or ``sys.exit`` with a non-zero status, or Ctrl-C)
after it used ``MPI``, the traceback is printed and then, at exit, the job
is aborted with ``COMM_WORLD.Abort(status)`` (1 for an exception,
128 + SIGINT for Ctrl-C): the other ranks may be waiting for this one, and
a job that waits forever is worse than one that stops. Options:
``--prefix``, ``--version``, ``--mpi-library`` (zmqmesh has no MPI library:
the layer's own path), ``--mpi-std-version``, ``--mpi-lib-version``,
``-h``/``--help``, ``-rc key=value,...`` (sets ``mpi4py.rc``).
"""

from __future__ import annotations

import ast
import os
import runpy
import signal
import sys
import textwrap
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["main", "run_command_line", "set_abort_status"]

_MPI = "zmqmesh.compat.mpi4py.MPI"


def _exec_source(source: str, filename: str, argv0: str) -> None:
    """Run ``source`` as the ``__main__`` module, as ``python -c`` does."""
    code = compile(source, filename, "exec", dont_inherit=True)
    module = types.ModuleType("__main__")
    module.__dict__.update(__spec__=None, __loader__=None, __package__=None)
    sys.argv[0] = argv0
    # Code defined there (functions pickled by reference) must find itself
    # in sys.modules["__main__"], as it would under plain python.
    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = module
    try:
        exec(code, module.__dict__)
    finally:
        if saved is not None:
            sys.modules["__main__"] = saved


def run_command_line(args: Sequence[str] | None = None) -> None:
    """Run ``[pyfile | -m mod | -c cmd | -] [arg] ...`` (default: ``sys.argv[1:]``)
    as ``__main__``; ``sys.argv`` becomes what that program expects.

    Raises what the program raises (``SystemExit`` included).
    """
    sys.argv[:] = list(args) if args is not None else sys.argv[1:]
    first = sys.argv[0]
    if first == "-":
        _exec_source(sys.stdin.read(), "<stdin>", "-")
    elif first == "-c":
        source = sys.argv.pop(1)
        _exec_source(source, "<string>", "-c")
    elif first == "-m":
        del sys.argv[0]
        runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
    else:
        # The script's directory comes first on the path, as for python
        # script.py (not the directory of this module).
        if not sys.flags.isolated:
            sys.path[0] = os.path.realpath(os.path.dirname(first))
        runpy.run_path(first, run_name="__main__")


def set_abort_status(status: Any) -> None:
    """From an ``except`` block: make the job abort at exit with the status
    ``status`` stands for (a ``SystemExit``'s code; 128 + SIGINT for
    ``KeyboardInterrupt``; 1 for another non-int), if it is not 0 and the
    program loaded ``MPI``. Re-raise afterwards."""
    if isinstance(status, SystemExit):
        status = status.code
    elif isinstance(status, KeyboardInterrupt):
        status = 128 + signal.SIGINT
    if not isinstance(status, int):
        status = 0 if status is None else 1
    mpi = sys.modules.get(_MPI)
    if mpi is not None and status:
        mpi._set_abort_status(status)


def _program() -> str:
    return f"{Path(sys.executable).name} -m mpi4py"


def _usage(error: str | None = None) -> NoReturn:
    prog = _program()
    forms = textwrap.dedent(
        f"""\
        usage: {prog} [options] <pyfile> [arg] ...
           or: {prog} [options] -m <mod> [arg] ...
           or: {prog} [options] -c <cmd> [arg] ...
           or: {prog} [options] - [arg] ..."""
    )
    if error:
        print(error, file=sys.stderr)
        print(forms, file=sys.stderr)
        print(f"Try `{prog} -h` for more information.", file=sys.stderr)
        sys.exit(1)
    print(forms)
    print(
        textwrap.dedent(
            """\
            options:
              --prefix             show install path and exit
              --version            show version number and exit
              --mpi-library        show MPI library path and exit
              --mpi-std-version    show MPI standard version and exit
              --mpi-lib-version    show MPI library version and exit
              -h|--help            show this help message and exit
              -rc <key=value,...>  set 'mpi4py.rc.key=value'"""
        )
    )
    sys.exit(0)


def _show(what: str) -> NoReturn:
    from zmqmesh.compat import mpi4py

    if what == "prefix":
        print(Path(mpi4py.__file__).parent)
    elif what == "version":
        print(f"mpi4py {mpi4py.__version__}")
    else:
        from zmqmesh.compat.mpi4py import MPI
        from zmqmesh.compat.mpi4py import constants as C

        if what == "mpi-library":  # no libmpi: the module that stands for it
            print(MPI.__file__)
        elif what == "mpi-std-version":
            std = f"{C.VERSION}.{C.SUBVERSION}"
            run = ".".join(map(str, MPI.Get_version()))
            print(f"MPI {std}" + (f" (runtime: MPI {run})" if run != std else ""))
        else:
            print(MPI.Get_library_version())
    sys.exit(0)


_SHOW = ("prefix", "version", "mpi-library", "mpi-std-version", "mpi-lib-version")


def _parse(words: list[str]) -> tuple[dict[str, Any], list[str]]:
    """The ``-rc`` settings and the program's command line; exits for
    ``-h`` and the ``--show`` options and for mistakes."""
    settings: dict[str, Any] = {}
    while words and words[0].startswith("-") and words[0] not in ("-m", "-c", "-"):
        word = words.pop(0)
        if word in ("-h", "-help", "--help"):
            _usage()
        name, eq, value = word.lstrip("-").partition("=")
        if name in _SHOW and not eq:
            _show(name)
        if name != "rc":
            _usage(f"Unknown option: {word}")
        if not eq:
            if not words or words[0].startswith("-"):
                _usage(f"Argument expected for option: {word}")
            value = words.pop(0)
        for entry in value.split(","):
            key, _, text = entry.partition("=")
            if not key or not text:
                _usage(f"Cannot parse rc option: {entry}")
            try:
                settings[key] = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                settings[key] = text
    if not words:
        _usage("No path specified for execution")
    if words[0] in ("-m", "-c") and len(words) < 2:
        _usage(f"Argument expected for option: {words[0]}")
    return settings, words


def main() -> None:
    """``python -m mpi4py``: parse the options, run the program, and abort
    the job at exit if it failed (see the module's docstring)."""
    settings, args = _parse(sys.argv[1:])
    if settings:
        from zmqmesh.compat.mpi4py import rc

        rc(**settings)
    try:
        run_command_line(args)
    except SystemExit as exc:
        set_abort_status(exc)
        raise
    except KeyboardInterrupt as exc:
        set_abort_status(exc)
        raise
    except BaseException:
        set_abort_status(1)
        raise


if __name__ == "__main__":
    main()
