"""docs/kubernetes.md's Indexed Job, run without a cluster: each pod is a
process in a network namespace of its own (the multi-host tests' namespace
hosts) with what Kubernetes gives a pod of that manifest.

Per pod: its own address, its host name ``<job>-<index>`` (a UTS namespace
of its own), an ``/etc/hosts`` that resolves every pod's
``<job>-<index>.<service>`` as the cluster DNS would (``ip netns exec``
mounts ``/etc/netns/<namespace>/hosts`` there), ``JOB_COMPLETION_INDEX``,
the manifest's variables with ``status.podIP`` filled in, and the Secret's
key file where the manifest mounts it. The program is tests/slurm's
mesh_prog.py (collectives and point-to-point, each result checked).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import zmq

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "kubernetes.md"
PROG = ROOT / "tests" / "slurm" / "mesh_prog.py"


def on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def unavailable(reason: str) -> None:
    if on_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@dataclass
class Manifest:
    """What the test takes from the documented manifest."""

    job: str
    service: str
    completions: int
    command: list[str]
    env: list[dict[str, Any]]
    mounts: dict[str, str]  # mount path -> secret name


def read_manifest() -> Manifest:
    try:
        import yaml
    except ImportError:
        unavailable("PyYAML is not installed: it reads the manifest in docs/kubernetes.md")
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 1, "docs/kubernetes.md has one yaml block: the manifest"
    docs = {d["kind"]: d for d in yaml.safe_load_all(blocks[0])}
    service, job = docs["Service"], docs["Job"]
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    name = job["metadata"]["name"]
    # what makes the documented names work, as Kubernetes needs it
    assert spec["completionMode"] == "Indexed"
    assert spec["parallelism"] == spec["completions"]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == {"job-name": name}
    assert pod["subdomain"] == service["metadata"]["name"]
    (container,) = pod["containers"]
    env = container["env"]
    values = {e["name"]: e.get("value") for e in env}
    assert values["JOB_COMPLETIONS"] == str(spec["completions"])
    port = next(p["containerPort"] for p in container["ports"])
    assert values["ZMQMESH_RENDEZVOUS"] == f"{name}-0.{pod['subdomain']}:{port}"
    volumes = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
    return Manifest(name, pod["subdomain"], spec["completions"], container["command"], env, mounts)


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    return read_manifest()


@pytest.fixture(scope="module")
def nodes(manifest: Manifest) -> Iterator[Any]:
    """A namespace host per pod, each with the pods' names in its /etc/hosts."""
    from multihost import netns

    if shutil.which("unshare") is None:
        unavailable("unshare (util-linux) is not installed: it gives each pod its host name")
    try:
        hosts = netns.start_hosts(manifest.completions)
    except netns.Unsupported as exc:
        unavailable(f"cannot build namespace hosts here: {exc}")
    made: list[Path] = []
    try:
        names = [f"{manifest.job}-{i}" for i in range(manifest.completions)]
        for i, host in enumerate(hosts.names):
            etc = Path("/etc/netns") / hosts.namespaces[host]
            etc.mkdir(parents=True)
            made.append(etc)
            lines = ["127.0.0.1 localhost"]
            # the kubelet's line for the pod itself, then the cluster DNS's names
            fqdn = f"{names[i]}.{manifest.service}.default.svc.cluster.local"
            lines.append(f"{hosts.ips[host]} {fqdn} {names[i]}")
            for j, other in enumerate(hosts.names):
                lines.append(f"{hosts.ips[other]} {names[j]}.{manifest.service}")
            (etc / "hosts").write_text("\n".join(lines) + "\n")
        yield hosts
    finally:
        for etc in made:
            shutil.rmtree(etc, ignore_errors=True)
        hosts.close()


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """The Secret's volume: job.key, mode 0400 (defaultMode)."""
    public, secret_key = zmq.curve_keypair()
    volume = tmp_path / "secret"
    volume.mkdir()
    key = volume / "job.key"
    key.write_text(json.dumps({"public": public.decode(), "secret": secret_key.decode()}))
    key.chmod(0o400)
    return volume


def pod_env(manifest: Manifest, index: int, ip: str, secret: Path) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["PYTHONPATH"] = str(ROOT)
    env["HOSTNAME"] = f"{manifest.job}-{index}"
    env["JOB_COMPLETION_INDEX"] = str(index)  # what Kubernetes adds to an Indexed Job's pod
    for item in manifest.env:
        if "value" in item:
            value = str(item["value"])
        else:
            path = item["valueFrom"]["fieldRef"]["fieldPath"]
            assert path == "status.podIP", f"the test fills in no {path}"
            value = ip
        for mount in manifest.mounts:  # the volume is where the test put it
            if value.startswith(mount + "/"):
                value = str(secret) + value[len(mount) :]
        env[item["name"]] = value
    return env


def start_pods(
    manifest: Manifest, nodes: Any, secret: Path, *args: str
) -> dict[int, subprocess.Popen[str]]:
    """Every pod of the job, index 0 last (the others wait for its
    rendezvous, as when its image is the last to be pulled)."""
    assert manifest.command[0] == "python"  # the container runs the program with python
    pods: dict[int, subprocess.Popen[str]] = {}
    for index in reversed(range(manifest.completions)):
        host = nodes.names[index]
        cmd = [
            "ip", "netns", "exec", nodes.namespaces[host],
            "unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', f"{manifest.job}-{index}",
            sys.executable, str(PROG), *args,
        ]  # fmt: skip
        pods[index] = subprocess.Popen(
            cmd,
            env=pod_env(manifest, index, nodes.ips[host], secret),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd="/",
            start_new_session=True,
        )
    return pods


def wait_pods(pods: dict[int, subprocess.Popen[str]], timeout: float) -> dict[int, tuple[int, str]]:
    """index -> (exit status, output); pods still running at the end are killed."""
    out: dict[int, tuple[int, str]] = {}
    try:
        for index, proc in pods.items():
            text, _ = proc.communicate(timeout=timeout)
            out[index] = (proc.returncode, text)
    finally:
        for proc in pods.values():
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
                proc.wait()
    return out


def result(text: str) -> dict[str, Any]:
    m = re.search(r"^result (\{.*\})$", text, re.M)
    assert m, text
    found: dict[str, Any] = json.loads(m.group(1))
    return found


@pytest.mark.timeout(150)
def test_the_indexed_job_of_the_docs_forms_one_job(
    manifest: Manifest, nodes: Any, secret: Path
) -> None:
    n = manifest.completions
    done = wait_pods(start_pods(manifest, nodes, secret), timeout=120)
    names = [f"{manifest.job}-{i}" for i in range(n)]
    for index, (status, text) in sorted(done.items()):
        assert status == 0, f"pod {index}:\n{text}"
        got = result(text)
        assert (got["rank"], got["size"]) == (index, n)
        assert got["sum"] == n * (n + 1) / 2
        assert got["node"] == names[index]  # each rank in its own pod
        assert got["nodes"] == names
        netns_of = nodes.run(nodes.names[index], "readlink /proc/self/ns/net", check=True)
        assert got["netns"] == netns_of.stdout.strip()
    for host in nodes.names:
        assert nodes.wait_idle(host) == {}


@pytest.mark.timeout(150)
def test_a_pod_that_dies_fails_the_others(manifest: Manifest, nodes: Any, secret: Path) -> None:
    victim = manifest.completions - 1
    done = wait_pods(start_pods(manifest, nodes, secret, "--die", str(victim)), timeout=120)
    assert done[victim][0] == -9, done[victim][1]
    for index, (status, text) in done.items():
        if index != victim:
            assert status == 3, f"pod {index}:\n{text}"
            assert f"caught RankFailedError {victim}" in text


@pytest.mark.timeout(60)
def test_a_pod_without_the_job_size_says_what_to_set(
    manifest: Manifest, nodes: Any, secret: Path
) -> None:
    env = pod_env(manifest, 1, nodes.ips[nodes.names[1]], secret)
    del env["JOB_COMPLETIONS"]
    res = subprocess.run(
        [sys.executable, str(PROG)], env=env, capture_output=True, text=True, timeout=50, cwd="/"
    )
    assert res.returncode != 0
    assert "JOB_COMPLETION_INDEX is set but JOB_COMPLETIONS is not" in res.stderr
