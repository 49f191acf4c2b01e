"""How ranks of an mpirun/mpiexec job on one host find rank 0's rendezvous:
the pure plan (foreign.discovery), PMI-1's wire format and a PMI exchange
against a fake Hydra, and the per-job file of Open MPI."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from zmqmesh.errors import LaunchError
from zmqmesh.job.discover import (
    KEY,
    PmiClient,
    pmi_decode,
    pmi_encode,
    remove_published,
    rendezvous_env,
)
from zmqmesh.job.foreign import Discovery, discovery

pytestmark = pytest.mark.timeout(30)

# What Hydra (MPICH 4.0, mpiexec -n 4) gives rank 1, recorded.
HYDRA = {"PMI_RANK": "1", "PMI_SIZE": "4", "PMI_FD": "8", "MPI_LOCALNRANKS": "4"}
HYDRA["MPI_LOCALRANKID"] = "1"
# What Open MPI 4.1 (mpirun -n 4) gives rank 2, the variables that matter.
OMPI = {
    "OMPI_COMM_WORLD_RANK": "2",
    "OMPI_COMM_WORLD_SIZE": "4",
    "OMPI_COMM_WORLD_LOCAL_SIZE": "4",
    "OMPI_MCA_ess_base_jobid": "934281217",
    "OMPI_MCA_orte_jobfam_session_dir": "/tmp/ompi.vm.0/pid.23374",
    "PMIX_NAMESPACE": "934281217",
    "PMIX_SERVER_TMPDIR": "/tmp/ompi.vm.0/pid.23374",
}


# -- the plan ---------------------------------------------------------------------------------


def test_hydra_on_one_host_uses_pmi() -> None:
    assert discovery(HYDRA) == Discovery("PMI", 1, 4, "", pmi_fd=8)


def test_open_mpi_on_one_host_uses_a_file_in_its_session_directory() -> None:
    path = "/tmp/ompi.vm.0/pid.23374/zmqmesh-rendezvous-934281217"
    assert discovery(OMPI) == Discovery("Open MPI", 2, 4, "mpi-934281217", path=path)


def test_open_mpi_fallbacks_for_the_directory_and_the_id() -> None:
    env = {k: v for k, v in OMPI.items() if not k.startswith("PMIX")}
    plan = discovery(env)
    assert plan is not None
    assert plan.path == "/tmp/ompi.vm.0/pid.23374/zmqmesh-rendezvous-934281217"
    env = {k: v for k, v in env.items() if "session" not in k}
    plan = discovery({**env, "TMPDIR": "/scratch/", "OMPI_MCA_ess_base_jobid": "a/b c"})
    assert plan is not None
    assert (plan.path, plan.job) == ("/scratch/zmqmesh-rendezvous-a_b_c", "mpi-a_b_c")
    plan = discovery(env)
    assert plan is not None
    assert plan.path == "/tmp/zmqmesh-rendezvous-934281217"


@pytest.mark.parametrize(
    "change",
    [
        {"ZMQMESH_RENDEZVOUS": "h:1"},  # named: nothing to find
        {"ZMQMESH_RANK": "0", "ZMQMESH_SIZE": "4"},  # our own launcher
        {"PMI_SIZE": "1", "PMI_RANK": "0", "MPI_LOCALNRANKS": "1"},  # a singleton
        {"MPI_LOCALNRANKS": "2"},  # ranks on more than one host
        {"MPI_LOCALNRANKS": ""},
        {"PMI_FD": ""},  # PMI_PORT's servers are not spoken to
    ],
)
def test_no_discovery_for_hydra(change: dict[str, str]) -> None:
    env = {k: v for k, v in {**HYDRA, **change}.items() if v != ""}
    assert discovery(env) is None


@pytest.mark.parametrize(
    "change",
    [{"OMPI_COMM_WORLD_LOCAL_SIZE": "2"}, {"PMIX_NAMESPACE": "", "OMPI_MCA_ess_base_jobid": ""}],
)
def test_no_discovery_for_open_mpi(change: dict[str, str]) -> None:
    env = {k: v for k, v in {**OMPI, **change}.items() if v != ""}
    assert discovery(env) is None


def test_nothing_to_discover_outside_mpi_and_under_srun() -> None:
    assert discovery({}) is None
    srun = {"SLURM_PROCID": "1", "SLURM_NTASKS": "4", "SLURM_STEP_ID": "0", "PMI_RANK": "1"}
    srun |= {"PMI_SIZE": "4", "PMI_FD": "3", "MPI_LOCALNRANKS": "4"}
    assert discovery(srun) is None  # SLURM's variables agree: srun started it


def test_malformed_variables_are_reported() -> None:
    with pytest.raises(LaunchError, match=r"^PMI_RANK=4 is out of range for PMI_SIZE=4$"):
        discovery({**HYDRA, "PMI_RANK": "4"})


# -- PMI-1 on the wire ------------------------------------------------------------------------


def test_pmi_encode_and_decode() -> None:
    assert pmi_encode("barrier_in") == b"cmd=barrier_in\n"
    line = pmi_encode("put", kvsname="kvs_1_0", key=KEY, value="127.0.0.1:5")
    assert line == b"cmd=put kvsname=kvs_1_0 key=zmqmesh-rendezvous value=127.0.0.1:5\n"
    assert pmi_decode(b"cmd=get_result rc=0 msg=success value=127.0.0.1:5") == {
        "cmd": "get_result", "rc": "0", "msg": "success", "value": "127.0.0.1:5",
    }  # fmt: skip
    for bad in ("a b", "a=b", "a\nb"):
        with pytest.raises(ValueError, match="PMI cannot carry"):
            pmi_encode("put", value=bad)


class FakeHydra:
    """A PMI-1 server for ``n`` ranks over socket pairs, as Hydra's proxy
    answers; ``log`` records every request."""

    def __init__(self, n: int, kvs: str = "kvs_77_0") -> None:
        self.kvs, self.n = kvs, n
        self.store: dict[str, str] = {}
        self.log: list[dict[str, str]] = []
        self.barrier = threading.Barrier(n)
        self.pairs = [socket.socketpair() for _ in range(n)]
        self.threads = [threading.Thread(target=self.serve, args=(p[0],)) for p in self.pairs]
        for t in self.threads:
            t.start()

    def fd(self, rank: int) -> int:
        return self.pairs[rank][1].fileno()

    def serve(self, sock: socket.socket) -> None:
        f = sock.makefile("rb")
        for line in f:
            req = pmi_decode(line)
            self.log.append(req)
            cmd = req["cmd"]
            if cmd == "init":
                out = "cmd=response_to_init pmi_version=1 pmi_subversion=1 rc=0"
            elif cmd == "get_my_kvsname":
                out = f"cmd=my_kvsname kvsname={self.kvs}"
            elif cmd == "put":
                self.store[req["key"]] = req["value"]
                out = "cmd=put_result rc=0 msg=success"
            elif cmd == "barrier_in":
                self.barrier.wait(10)
                out = "cmd=barrier_out"
            elif cmd == "get":
                value = self.store.get(req["key"])
                out = f"cmd=get_result rc=0 value={value}" if value else "cmd=get_result rc=-1"
            elif cmd == "finalize":
                sock.sendall(b"cmd=finalize_ack\n")
                break
            else:
                out = "cmd=unknown"
            sock.sendall(out.encode() + b"\n")
        f.close()
        sock.close()

    def close(self) -> None:
        for t in self.threads:
            t.join(10)
        for _, client in self.pairs:
            client.close()


def test_ranks_meet_through_pmi() -> None:
    hydra = FakeHydra(3)
    found: dict[int, dict[str, str]] = {}

    def rank(r: int) -> None:
        plan = Discovery("PMI", r, 3, "", pmi_fd=hydra.fd(r))
        found[r] = rendezvous_env(plan, timeout=10, port=lambda: 4711)

    threads = [threading.Thread(target=rank, args=(r,)) for r in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    hydra.close()
    expect = {"ZMQMESH_RENDEZVOUS": "127.0.0.1:4711", "ZMQMESH_JOB": "mpi-pmi-kvs_77_0"}
    assert found == {0: expect, 1: expect, 2: expect}
    assert [req["cmd"] for req in hydra.log].count("put") == 1  # rank 0 alone publishes
    assert [req["cmd"] for req in hydra.log].count("finalize") == 3


def test_a_pmi_error_is_a_launch_error() -> None:
    a, b = socket.socketpair()
    b.sendall(b"cmd=response_to_init rc=-1\n")
    with pytest.raises(LaunchError, match=r"^PMI_FD=\d+: init was answered"):
        PmiClient(a.fileno()).init()
    b.shutdown(socket.SHUT_WR)  # the server hangs up
    with pytest.raises(LaunchError, match="closed the connection"):
        PmiClient(a.fileno()).barrier()
    a.close()
    b.close()


def test_a_pmi_barrier_that_never_ends_is_a_launch_error() -> None:
    a, b = socket.socketpair()
    with pytest.raises(
        LaunchError, match=r"no answer from the PMI server within 0.1 s \(does every"
    ):
        PmiClient(a.fileno(), timeout=0.1).barrier()
    a.close()
    b.close()


# -- Open MPI: a file -------------------------------------------------------------------------


def test_ranks_meet_through_a_file(tmp_path: Path) -> None:
    path = str(tmp_path / "zmqmesh-rendezvous-9")
    plans = [Discovery("Open MPI", r, 2, "mpi-9", path=path) for r in range(2)]
    got: list[dict[str, str]] = []
    reader = threading.Thread(target=lambda: got.append(rendezvous_env(plans[1], timeout=10)))
    reader.start()  # it waits for rank 0's file
    mine = rendezvous_env(plans[0], timeout=10, port=lambda: 4712)
    reader.join(20)
    assert got == [mine] == [{"ZMQMESH_RENDEZVOUS": "127.0.0.1:4712", "ZMQMESH_JOB": "mpi-9"}]
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    remove_published(plans[1])  # only rank 0 removes it
    assert os.path.exists(path)
    remove_published(plans[0])
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_never_comes_is_a_launch_error(tmp_path: Path) -> None:
    plan = Discovery("Open MPI", 1, 2, "mpi-9", path=str(tmp_path / "f"))
    with pytest.raises(LaunchError, match=r"^rank 0 did not publish its rendezvous in .* 0.1 s$"):
        rendezvous_env(plan, timeout=0.1)


def test_the_wait_for_rank_0s_file_is_the_rendezvous_timeout() -> None:
    from zmqmesh.job.settings import RENDEZVOUS_TIMEOUT, read_rendezvous_timeout

    assert read_rendezvous_timeout({}) == RENDEZVOUS_TIMEOUT
    assert read_rendezvous_timeout({"ZMQMESH_RENDEZVOUS_TIMEOUT": "5"}) == 5.0
    with pytest.raises(LaunchError, match=r"^ZMQMESH_RENDEZVOUS_TIMEOUT="):
        read_rendezvous_timeout({"ZMQMESH_RENDEZVOUS_TIMEOUT": "0"})
