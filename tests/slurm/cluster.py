"""A real SLURM cluster for tests: Debian's munged, slurmctld and slurmd.

Theory of operation. :func:`start_cluster` builds namespace hosts with
``tests.multihost.netns`` (one network namespace per host, all on one
bridge), then starts, each as a child of the test process, in the
foreground:

* ``munged`` as user ``munge`` and ``slurmctld``, in the last host's
  namespace; munged with its own key, socket, pid, log and seed files in the
  cluster's temporary directory (SLURM finds the socket through
  ``AuthInfo=socket=...``; the machine's own munge, if any, is not used);
* one ``slurmd -N <name>`` in each other host's namespace: the compute nodes.
  A node is declared with ``CPUS_PER_NODE`` CPUs whatever the machine has
  (``SlurmdParameters=config_overrides``), so small jobs of a few ranks per
  node fit on a machine of two cores.

The configuration is written by :func:`slurm_conf` into the temporary
directory and found through ``SLURM_CONF`` (clients) and ``-f`` (daemons);
state, spool, pid and log files live there too. Nothing needs systemd or
cgroups: ``ProctrackType=proctrack/linuxproc``, ``TaskPlugin=task/none``,
no accounting.

Node names (``zmh1`` ...) resolve on the nodes through
``/etc/netns/<namespace>/hosts``, which ``ip netns exec`` mounts over
``/etc/hosts`` for every process started in that namespace: the daemons and
the job's processes, so a rank finds the first node of its job by name, as
on a real cluster. Those files are removed at teardown.

Invariants: every wait is on an event (a daemon's answer, a job's state, a
file), each bounded by a deadline; :meth:`Cluster.close` stops every daemon
it started (SIGTERM, then SIGKILL), kills whatever is left in the hosts'
namespaces and removes every file and directory it made, also after a
partial start, and is idempotent.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from multihost import netns

__all__ = [
    "CPUS_PER_NODE",
    "Cluster",
    "SlurmError",
    "Unavailable",
    "missing_programs",
    "on_ci",
    "slurm_conf",
    "start_cluster",
]

CPUS_PER_NODE = 4
PROGRAMS = ("munged", "mungekey", "slurmctld", "slurmd", "srun", "sbatch", "salloc", "scontrol")
_SBIN = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")
_START_DEADLINE = 60.0
_STOP_GRACE = 10.0
_ETC_NETNS = Path("/etc/netns")
_TMP_PREFIX = "zmqmesh-slurm-"
# Job states after which a job never runs again (scontrol's JobState=).
FINAL_STATES = frozenset(
    {
        "BOOT_FAIL",
        "CANCELLED",
        "COMPLETED",
        "DEADLINE",
        "FAILED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "TIMEOUT",
    }
)


class SlurmError(RuntimeError):
    """The cluster could not be started, or a command failed."""


class Unavailable(SlurmError):
    """This machine cannot run the cluster at all (programs missing, no root)."""


def _which(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in _SBIN:
        if os.access(os.path.join(d, name), os.X_OK):
            return os.path.join(d, name)
    return None


def on_ci() -> bool:
    """Whether this is CI (``CI=true``), where these tests must run, not skip."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def missing_programs() -> list[str]:
    """The programs of :data:`PROGRAMS` that are not installed."""
    return [p for p in PROGRAMS if _which(p) is None]


def slurm_conf(
    *,
    cluster: str,
    controller: tuple[str, str],
    nodes: Mapping[str, str],
    tmp: Path,
    munge_socket: Path,
    ctld_port: int,
    slurmd_port: int,
) -> str:
    """The text of slurm.conf for a controller ``(name, address)`` and
    ``nodes`` (name -> address), every file under ``tmp``."""
    names = ",".join(nodes)
    lines = [
        f"ClusterName={cluster}",
        f"SlurmctldHost={controller[0]}({controller[1]})",
        f"SlurmctldPort={ctld_port}",
        f"SlurmdPort={slurmd_port}",
        "AuthType=auth/munge",
        f"AuthInfo=socket={munge_socket}",
        "CredType=cred/munge",
        "SlurmUser=root",
        "SlurmdUser=root",
        f"StateSaveLocation={tmp}/state",
        f"SlurmdSpoolDir={tmp}/spool/%n",
        f"SlurmctldPidFile={tmp}/slurmctld.pid",
        f"SlurmdPidFile={tmp}/slurmd-%n.pid",
        f"SlurmctldLogFile={tmp}/slurmctld.log",
        f"SlurmdLogFile={tmp}/slurmd-%n.log",
        f"PlugStackConfig={tmp}/plugstack.conf",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_CPU",
        "SchedulerType=sched/builtin",
        "MpiDefault=none",
        "SwitchType=switch/none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none",
        "ReturnToService=2",
        "SlurmdParameters=config_overrides",
        # a cancelled step's processes get SIGTERM, then SIGKILL this much later
        "KillWait=5",
        # finished jobs stay visible to scontrol this long (no accounting here)
        "MinJobAge=600",
        "SlurmctldTimeout=30",
        "SlurmdTimeout=60",
        "InactiveLimit=0",
        "MessageTimeout=20",
        *(
            f"NodeName={name} NodeAddr={addr} CPUs={CPUS_PER_NODE} State=UNKNOWN"
            for name, addr in nodes.items()
        ),
        f"PartitionName=test Nodes={names} Default=YES MaxTime=30 State=UP",
    ]
    return "\n".join(lines) + "\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


class Cluster:
    """A running cluster; see the module docstring.

    ``nodes``: the compute nodes' names, in order; ``ips``: name ->
    address; ``conf``: slurm.conf's path; ``env``: the environment of a
    client command (this process's, with ``SLURM_CONF``); ``tmp``: the
    cluster's directory; ``hosts``: the namespace hosts (the last one runs
    slurmctld).
    """

    def __init__(self, hosts: netns.Hosts, n_nodes: int) -> None:
        self.hosts = hosts
        self.nodes = hosts.names[:n_nodes]
        self.ctl = hosts.names[-1]
        self.ips = dict(hosts.ips)
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{hosts.tag}-"))
        os.chmod(self.tmp, 0o755)
        self.conf = self.tmp / "slurm.conf"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM", "ZMQMESH"))}
        self.env["SLURM_CONF"] = str(self.conf)
        self._daemons: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._etc: list[Path] = []
        self._closed = False

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- start --

    def _start(self) -> None:
        munge_dir = self.tmp / "munge"
        munge_dir.mkdir(mode=0o700)
        munge = pwd.getpwnam("munge")
        key = munge_dir / "munge.key"
        _check([_exe("mungekey"), "--create", f"--keyfile={key}"], "mungekey")
        os.chown(munge_dir, munge.pw_uid, munge.pw_gid)
        os.chown(key, munge.pw_uid, munge.pw_gid)
        os.chmod(key, 0o600)
        sock = munge_dir / "munge.socket.2"
        # in the controller's namespace, so that the clean-up of a crashed
        # run (which kills what is left in its namespaces) stops it too; its
        # socket is a file, which every namespace reaches
        self._spawn_in(
            self.ctl,
            "munged",
            [
                "setpriv",
                f"--reuid={munge.pw_uid}",
                f"--regid={munge.pw_gid}",
                "--init-groups",
                _exe("munged"),
                "--foreground",
                "--force",
                f"--socket={sock}",
                f"--key-file={key}",
                f"--pid-file={munge_dir}/munged.pid",
                f"--log-file={munge_dir}/munged.log",
                f"--seed-file={munge_dir}/munged.seed",
            ],
        )
        _wait_for(lambda: sock.exists(), "munged's socket", self._daemons)
        (self.tmp / "state").mkdir()
        (self.tmp / "spool").mkdir()
        (self.tmp / "plugstack.conf").write_text("")
        # next to slurm.conf, where slurmd looks for it: no cgroup version
        # detection, which wants systemd's hierarchy mounted
        (self.tmp / "cgroup.conf").write_text("CgroupPlugin=cgroup/v1\nCgroupAutomount=no\n")
        self.conf.write_text(
            slurm_conf(
                cluster=f"zmh{self.hosts.tag}",
                controller=(socket.gethostname().split(".")[0], self.ips[self.ctl]),
                nodes={n: self.ips[n] for n in self.nodes},
                tmp=self.tmp,
                munge_socket=sock,
                ctld_port=_free_port(),
                slurmd_port=_free_port(),
            )
        )
        self._write_etc_hosts()
        self._spawn_in(self.ctl, "slurmctld", [_exe("slurmctld"), "-D", "-f", str(self.conf)])
        _wait_for(
            lambda: self.run(["scontrol", "ping"], timeout=20).stdout.count("UP") > 0,
            "slurmctld",
            self._daemons,
        )
        for name in self.nodes:
            (self.tmp / "spool" / name).mkdir()
            # ip netns exec mounts a fresh /sys without /sys/fs/cgroup, and
            # slurmd stops when it finds no cgroup file system there. A
            # tmpfs, private to the namespace's mount namespace, reads as
            # cgroup v1; with proctrack/linuxproc and task/none slurmd uses
            # no controller from it.
            slurmd = [_exe("slurmd"), "-D", "-N", name, "-f", str(self.conf)]
            self._spawn_in(
                name,
                f"slurmd {name}",
                [
                    "sh",
                    "-c",
                    'mount -t tmpfs -o mode=755 zmqmesh-cgroup /sys/fs/cgroup && exec "$@"',
                    "sh",
                    *slurmd,
                ],
            )
        _wait_for(self._nodes_idle, "the slurmd nodes to be idle", self._daemons)

    def _nodes_idle(self) -> bool:
        out = self.run(["sinfo", "-h", "-N", "-o", "%N %t"], timeout=20).stdout.split()
        states = dict(zip(out[::2], out[1::2], strict=False))
        return all(states.get(n) == "idle" for n in self.nodes)

    def _write_etc_hosts(self) -> None:
        base = Path("/etc/hosts").read_text()
        extra = "".join(f"{self.ips[n]}\t{n}\n" for n in self.hosts.names)
        for name in self.hosts.names:
            d = _ETC_NETNS / self.hosts.namespaces[name]
            d.mkdir(parents=True, exist_ok=True)
            self._etc.append(d)
            (d / "hosts").write_text(base + "\n# zmqmesh SLURM test cluster\n" + extra)

    def _spawn(self, what: str, argv: Sequence[str]) -> None:
        log = open(self.tmp / f"{what.replace(' ', '-')}.out", "wb")  # noqa: SIM115
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        finally:
            log.close()
        self._daemons.append((what, proc))

    def _spawn_in(self, host: str, what: str, argv: Sequence[str]) -> None:
        self._spawn(what, ["ip", "netns", "exec", self.hosts.namespaces[host], *argv])

    # -- use --

    def run(
        self,
        argv: Sequence[str],
        *,
        host: str | None = None,
        timeout: float = 60,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        check: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run a client command (``srun``, ``sbatch``, ...) to its end, in
        the root namespace or with ``host`` in that host's namespace, with
        :attr:`env` plus ``env``; output captured as text."""
        full = {**self.env, **(env or {})}
        cmd = (
            list(argv)
            if host is None
            else ["ip", "netns", "exec", self.hosts.namespaces[host], *argv]
        )
        res = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full,
            cwd=cwd,
        )
        if check and res.returncode != 0:
            raise SlurmError(f"{' '.join(argv)}: exit {res.returncode}\n{res.stdout}\n{res.stderr}")
        return res

    def job_info(self, job_id: str) -> dict[str, str]:
        """``scontrol show job -o`` of ``job_id`` as a dict ({} when unknown)."""
        res = self.run(["scontrol", "show", "job", "-o", job_id], timeout=20)
        info: dict[str, str] = {}
        if res.returncode != 0:
            return info
        for word in res.stdout.split():
            k, sep, v = word.partition("=")
            if sep and k not in info:
                info[k] = v
        return info

    def wait_job(
        self, job_id: str, states: frozenset[str] = FINAL_STATES, timeout: float = 60
    ) -> dict[str, str]:
        """Wait until job ``job_id``'s state is one of ``states``; its
        ``scontrol`` record. Raises :class:`SlurmError` past ``timeout``."""
        deadline = time.monotonic() + timeout
        info: dict[str, str] = {}
        delay = 0.05
        while time.monotonic() < deadline:
            info = self.job_info(job_id)
            if info.get("JobState") in states:
                return info
            time.sleep(delay)  # polling scontrol: SLURM has no event to wait on here
            delay = min(0.5, delay * 2)
        raise SlurmError(f"job {job_id} is not {sorted(states)} after {timeout} s: {info}")

    def steps(self, job_id: str) -> list[str]:
        """The job's running steps, as squeue lists them (``<job>.<step>``)."""
        res = self.run(["squeue", "-h", "-s", "-j", job_id, "-o", "%i"], timeout=20)
        return res.stdout.split()

    def log(self, what: str = "slurmctld", lines: int = 30) -> str:
        """The last ``lines`` of a daemon's log file, for failure messages."""
        path = self.tmp / f"{what}.log"
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- stop --

    def close(self) -> None:
        """Stop the daemons (slurmd first, munged last), kill what is left in
        the hosts' namespaces, remove every file made; idempotent."""
        if self._closed:
            return
        self._closed = True
        errors: list[BaseException] = []
        for what, proc in reversed(self._daemons):
            try:
                _stop(proc)
            except Exception as exc:
                errors.append(SlurmError(f"stopping {what}: {exc}"))
        try:
            self.hosts.close()
        except Exception as exc:
            errors.append(exc)
        for d in self._etc:
            shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(self.tmp, ignore_errors=True)
        if errors:
            raise SlurmError(f"teardown failed: {errors[0]}") from errors[0]


def _exe(name: str) -> str:
    path = _which(name)
    if path is None:
        raise Unavailable(f"{name} is not installed")
    return path


def _check(argv: Sequence[str], what: str) -> None:
    res = subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=False)
    if res.returncode != 0:
        raise SlurmError(f"{what}: exit {res.returncode}: {res.stderr.strip()}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(_STOP_GRACE)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(_STOP_GRACE)


def _wait_for(ready: object, what: str, daemons: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    assert callable(ready)
    deadline = time.monotonic() + _START_DEADLINE
    delay = 0.02
    while time.monotonic() < deadline:
        for name, proc in daemons:
            if proc.poll() is not None:
                raise SlurmError(
                    f"{name} exited with status {proc.returncode} while waiting for {what}"
                )
        if ready():
            return
        time.sleep(delay)  # the daemons give no readiness event; poll, bounded
        delay = min(0.5, delay * 2)
    raise SlurmError(f"timed out waiting for {what}")


def _remove_stale() -> None:
    """Remove the ``/etc/netns`` entries and temporary directories of
    clusters whose namespace hosts no longer exist: a crashed run's (the
    namespaces' own clean-up has killed its daemons)."""
    live = set(netns_names())
    if _ETC_NETNS.is_dir():
        for d in _ETC_NETNS.glob(f"{netns.PREFIX}*"):
            if d.name not in live:
                shutil.rmtree(d, ignore_errors=True)
    tags = {name[len(netns.PREFIX) :][:8] for name in live if name.startswith(netns.PREFIX)}
    for d in Path(tempfile.gettempdir()).glob(f"{_TMP_PREFIX}*"):
        if d.name[len(_TMP_PREFIX) :][:8] not in tags:
            shutil.rmtree(d, ignore_errors=True)


def netns_names() -> list[str]:
    res = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, timeout=30, check=False
    )
    return [line.split()[0] for line in res.stdout.splitlines() if line.strip()]


@contextlib.contextmanager
def start_cluster(n_nodes: int = 2) -> Iterator[Cluster]:
    """A cluster of ``n_nodes`` compute nodes and a controller, closed on
    exit. Raises :class:`Unavailable` when this machine cannot run one
    (programs missing, not root, namespaces refused)."""
    missing = missing_programs()
    if missing:
        raise Unavailable(f"not installed: {', '.join(missing)} (run tests/slurm/install.sh)")
    try:
        pwd.getpwnam("munge")
    except KeyError:
        raise Unavailable("no user munge (install the munge package)") from None
    try:
        hosts = netns.start_hosts(n_nodes + 1)
    except netns.Unsupported as exc:
        raise Unavailable(f"cannot build namespace hosts: {exc}") from exc
    _remove_stale()
    cluster = Cluster(hosts, n_nodes)
    try:
        cluster._start()
    except BaseException as exc:
        logs = "\n".join(
            cluster.log(w, 15) for w in ("slurmctld", *(f"slurmd-{n}" for n in cluster.nodes))
        )
        with contextlib.suppress(Exception):
            cluster.close()
        if isinstance(exc, SlurmError):
            raise SlurmError(f"{exc}\n{logs}") from exc
        raise
    try:
        yield cluster
    finally:
        cluster.close()
