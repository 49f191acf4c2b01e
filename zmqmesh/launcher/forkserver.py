"""The fork server: local ranks forked from a process that loaded zmqmesh once.

Theory of operation. Starting a rank as a new interpreter costs its
interpreter start and its imports (NumPy, asyncio, ZeroMQ and zmqmesh's
runtime), several hundred ms of CPU per rank: with many ranks on few cores
that was most of a job's start-up (64 ranks on 2 cores: about 20 s). So the
launcher starts one server process per job, at once, which imports the
runtime while the launcher sets the job up, then forks every local rank
from that state: a rank starts with everything loaded, and shares its
parent's pages until it writes them.

Protocol, over a ``SOCK_SEQPACKET`` pair: the server says ``{"ready": true}``
once loaded (or ``{"error": text}`` and exits); for each
``{"rank", "set", "unset"}`` with the rank's stdout, stderr and lifeline
descriptors attached, it forks the rank and answers ``{"rank", "pid"}`` (or
``{"rank", "error"}``); ``{"go": true}`` ends a batch of ranks. The ranks of
a batch wait for it before they run: on a machine with fewer cores than
ranks, ranks that ran at once would starve the server of the CPU it needs
to fork the rest (128 ranks on 2 cores: 3.7 s to fork them, instead of
well under a second). End of stream on the socket, the launcher closing
it or dying, ends the server at once.

The launcher closes its end once the batch is forked and waits for the
server to exit: its ranks, orphaned, are then adopted by the launcher, a
child subreaper, which waits for them, signals their process groups and
reads their exit statuses exactly as for ranks it started itself
(:class:`Forked` is that handle).

A rank runs as ``python script.py`` or ``python -m module`` would: the
server's interpreter was started with the ranks' shared environment (so
what Python reads at start-up, ``PYTHONPATH`` and the like, is the same)
and the rank's ``sys.path[0]``; the rank then takes its own variables, a
session of its own, stdin from /dev/null (rank 0: the launcher's, as
``stdin_of`` says), its pipes, ``sys.argv``, a fresh
``__main__`` and a fresh NumPy seed, and leaves by the interpreter's normal
exit (threads joined, ``atexit`` run). An exception that ends the program
prints as Python prints it, without the server's frames. Differences that
remain: the ranks of a job share one string hash seed, and an uncaught
``KeyboardInterrupt`` exits with status 130 instead of by SIGINT.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any, NoReturn

from zmqmesh.launcher.groups import become_subreaper
from zmqmesh.launcher.jobspec import JobSpec, shared_environ
from zmqmesh.launcher.placement import bind_self

__all__ = ["ForkServer", "Forked", "for_job", "hold_stdin", "serve", "stdin_of"]

_BOOT = (
    "import sys; sys.path[0] = sys.argv[1]; from zmqmesh.launcher.forkserver import serve; serve()"
)
_MAX_MESSAGE = 1 << 20


class Forked:
    """A rank forked by the server and adopted by the launcher: the parts of
    ``subprocess.Popen`` that the launcher uses."""

    stdin: IO[bytes] | None = None

    def __init__(self, pid: int, stdout: int, stderr: int) -> None:
        self.pid = pid
        self.stdout: IO[bytes] = io.FileIO(stdout, "r")  # the read ends of its pipes
        self.stderr: IO[bytes] = io.FileIO(stderr, "r")
        self.returncode: int | None = None

    def __repr__(self) -> str:
        return f"<Forked pid={self.pid} returncode={self.returncode}>"

    def poll(self) -> int | None:
        """The exit status once the rank has exited (reaping it), else None;
        negative for a signal, as ``Popen.returncode``."""
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: as Popen, status unknown
                self.returncode = 0
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the exit status; ``subprocess.TimeoutExpired`` after ``timeout`` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0.0)
            time.sleep(0.005)  # no event to wait on but SIGCHLD, which the loop owns
        return code


def for_job(spec: JobSpec, mask: Iterable[int]) -> ForkServer | None:
    """A fork server for ``spec``'s local ranks, which start with the signal
    mask ``mask``; None where they start as new interpreters: when asked to
    (``--spawn exec``), when none is local, or where the launcher cannot
    adopt the ranks it forks (not Linux)."""
    local = any(spec.host_of(r) is None for r in range(spec.size))
    if not spec.fork or not local or not become_subreaper():
        return None
    try:
        return ForkServer(spec.program, shared_environ(spec, os.environ), mask=list(mask))
    except OSError:
        return None


def main_path(program: Sequence[str]) -> str:
    """``sys.path[0]`` of ``python *program``: the script's directory
    (symbolic links resolved), or the working directory for ``-m``."""
    if program[0] == "-m":
        return os.getcwd()
    return os.path.dirname(os.path.realpath(program[0]))


class ForkServer:
    """The launcher's end of one job's fork server.

    ``program`` is what follows the interpreter on a rank's command line,
    ``env`` the environment every local rank shares (their own variables
    come with :meth:`spawn`) and ``mask`` the signal mask the ranks start
    with. The server starts loading at once.
    """

    def __init__(
        self, program: Sequence[str], env: Mapping[str, str], *, mask: Sequence[int] = ()
    ) -> None:
        self.env = dict(env)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._sock = ours
        self.error: str | None = None
        self._ready = False
        try:
            cmd = [sys.executable, "-c", _BOOT, main_path(program), str(theirs.fileno())]
            cmd += [json.dumps(sorted(mask)), *program]
            self.proc = subprocess.Popen(
                cmd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()

    def __repr__(self) -> str:
        state = "ready" if self._ready else self.error or "loading"
        return f"<ForkServer pid={self.proc.pid} {state}>"

    def ready(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the server to have loaded; False, with
        :attr:`error` saying why, when it cannot fork ranks."""
        if self._ready or self.error is not None:
            return self._ready
        got = self._recv(timeout)
        if got is None:
            self.error = self.error or f"not loaded within {timeout:g} s"
        elif "error" in got:
            self.error = str(got["error"])
        else:
            self._ready = True
        return self._ready

    def spawn(
        self, ranks: Sequence[tuple[int, Mapping[str, str], Sequence[int]]]
    ) -> dict[int, int]:
        """Fork ``(rank, env, (stdout, stderr, lifeline[, stdin]))`` for each
        rank (the descriptors its stdout, stderr, lifeline and, when given,
        stdin are to be; else /dev/null); returns rank
        -> pid, without the ranks it could not fork (:attr:`error` says why).
        The descriptors stay the caller's to close."""
        for rank, env, fds in ranks:
            change = {k: v for k, v in env.items() if self.env.get(k) != v}
            unset = [k for k in self.env if k not in env]
            body = json.dumps({"rank": rank, "set": change, "unset": unset}).encode()
            try:
                socket.send_fds(self._sock, [body], list(fds))
            except OSError as exc:
                self.error = f"the fork server is gone ({exc})"
                break
        with contextlib.suppress(OSError):  # gone: the replies say so
            self._sock.send(b'{"go": true}')
        pids: dict[int, int] = {}
        for _ in range(len(ranks)):
            got = self._recv(30.0)
            if got is None:
                break
            if "pid" in got:
                pids[int(got["rank"])] = int(got["pid"])
            else:
                self.error = str(got.get("error"))
        return pids

    def _recv(self, timeout: float) -> dict[str, Any] | None:
        poller = select.poll()  # not select(): the socket's number may be past 1023
        poller.register(self._sock, select.POLLIN)
        if not poller.poll(timeout * 1000):
            return None
        data = self._sock.recv(_MAX_MESSAGE)
        if not data:
            self.error = f"the fork server exited ({self.proc.poll()})"
            return None
        got: dict[str, Any] = json.loads(data)
        return got

    def close(self, *, wait: bool = True) -> None:
        """Stop the server (idempotent); the ranks it forked live on, the
        launcher's children once it has exited. With ``wait``, wait for
        that (killing it after 5 s)."""
        self._sock.close()
        if not wait:
            return
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- the server process ---------------------------------------------------------------


def serve() -> None:
    """The server's main (``sys.argv``: path0, socket fd, signal mask, program)."""
    sock = socket.socket(fileno=int(sys.argv[2]))
    signal.pthread_sigmask(signal.SIG_SETMASK, [signal.Signals(s) for s in json.loads(sys.argv[3])])
    program = sys.argv[4:]
    try:
        _load()
    except BaseException as exc:  # anything: the launcher starts the ranks by exec instead
        sock.send(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
        return
    sock.send(b'{"ready": true}')
    # The loaded objects' pages stay shared with every rank: no collection
    # in a rank scans them (and writes to their pages) once frozen.
    gc.collect()
    gc.freeze()
    gate: tuple[int, int] | None = None  # a batch's ranks wait for its end of file
    while True:
        msg, fds, _, _ = socket.recv_fds(sock, _MAX_MESSAGE, 4)
        if not msg:
            # The launcher closed its end (or died): exit at once, so that it
            # adopts the ranks. Nothing here needs the interpreter's exit.
            os._exit(0)
        request = json.loads(msg)
        if request.get("go"):
            if gate is not None:
                os.close(gate[0])
                os.close(gate[1])
            gate = None
            continue
        if gate is None:
            gate = os.pipe()
        if _fork(sock, request, fds):
            _become_rank(sock, program, request, fds, gate)


def _load() -> None:
    """Import what every rank of a zmqmesh program imports."""
    import importlib

    face = importlib.import_module("zmqmesh")
    for name in face.__all__:
        getattr(face, name)
    with contextlib.suppress(ImportError):
        importlib.import_module("uvloop")  # zmqmesh.run uses it when installed


def hold_stdin() -> None:
    """Point a closed stdin at /dev/null before anything else can take
    descriptor 0 (which ``stdin_of`` hands to rank 0)."""
    try:
        os.fstat(0)
    except OSError:
        fd = os.open(os.devnull, os.O_RDONLY)
        if fd != 0:
            os.dup2(fd, 0)
            os.close(fd)


def stdin_of(rank: int) -> tuple[int, ...]:
    """The descriptor rank ``rank`` reads as stdin, if not /dev/null: the
    launcher's own for rank 0, when it has one, as ``mpiexec`` forwards
    it (``echo 100 | zmqmesh launch ...``); none for the others."""
    if rank != 0:
        return ()
    try:
        os.fstat(0)
    except OSError:
        return ()
    return (0,)


def _fork(sock: socket.socket, request: dict[str, Any], fds: list[int]) -> bool:
    """Fork the rank; True in the rank itself, False in the server once it
    has answered with the rank's pid (or the error)."""
    rank = request["rank"]
    try:
        if len(fds) not in (3, 4):
            raise OSError(f"got {len(fds)} descriptors, not 3 or 4")
        with warnings.catch_warnings():
            # Python 3.12+ warns about forking a process with threads (NumPy's
            # BLAS keeps some); those threads hold no lock a rank needs.
            warnings.filterwarnings("ignore", ".*fork.*", DeprecationWarning)
            pid = os.fork()
    except OSError as exc:
        for fd in fds:
            os.close(fd)
        sock.send(json.dumps({"rank": rank, "error": f"cannot fork: {exc}"}).encode())
        return False
    if pid == 0:
        return True
    for fd in fds:
        os.close(fd)
    sock.send(json.dumps({"rank": rank, "pid": pid}).encode())
    return False


def _become_rank(
    sock: socket.socket,
    program: list[str],
    request: dict[str, Any],
    fds: list[int],
    gate: tuple[int, int],
) -> NoReturn:
    """Turn this fresh fork into the rank and run the program once its batch
    is forked; leaves only by ``SystemExit``, through the interpreter's
    normal exit."""
    sock.close()
    os.close(gate[1])
    os.read(gate[0], 1)  # end of file: the server closed the gate, or died
    os.close(gate[0])
    os.setsid()
    stdin = fds[3] if len(fds) == 4 else os.open(os.devnull, os.O_RDONLY)
    for fd, target in ((stdin, 0), (fds[0], 1), (fds[1], 2)):
        os.dup2(fd, target)
        os.close(fd)
    for k in request["unset"]:
        os.environ.pop(k, None)
    os.environ.update(request["set"])
    try:  # --bind-to core: before the program can start a thread
        bind_self(os.environ)
    except (ValueError, OSError) as exc:
        print(f"zmqmesh: cannot bind the rank to a core: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    from zmqmesh.job import lifeline

    if not lifeline.watch(os.environ, fd=fds[2]):
        os.close(fds[2])
    if "numpy.random" in sys.modules:  # else every rank draws the same numbers
        sys.modules["numpy.random"].seed()
    try:
        _run(program)
    except SystemExit:
        raise
    except BaseException as exc:
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename in (__file__, "<frozen runpy>"):
            tb = tb.tb_next
        # the hook prints the exception's own traceback when it has one
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)
        raise SystemExit(130 if isinstance(exc, KeyboardInterrupt) else 1) from None
    raise SystemExit(0)


def _run(program: list[str]) -> None:
    """Run ``program`` as ``python *program`` runs it in ``__main__``."""
    import runpy
    import types
    from importlib.machinery import SourceFileLoader

    as_main = runpy._run_module_as_main  # type: ignore[attr-defined]  # what python -m runs
    if program[0] == "-m":
        sys.argv = ["-m", *program[2:]]
        as_main(program[1], True)
        return
    sys.argv = list(program)
    path = os.path.abspath(program[0])
    if not os.path.isfile(path) or _is_zip(path):  # a directory or zip with __main__.py
        sys.path[0] = program[0]
        as_main("__main__", False)
        return
    main = types.ModuleType("__main__")
    main.__file__ = path
    main.__loader__ = SourceFileLoader("__main__", path)
    main.__dict__.update(__builtins__=__builtins__, __cached__=None)
    sys.modules["__main__"] = main
    with open(path, "rb") as f:
        code = compile(f.read(), path, "exec", dont_inherit=True)
    exec(code, main.__dict__)


def _is_zip(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"
