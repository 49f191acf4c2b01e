"""Smoke tests of the ``hosts`` fixture itself: every host answers ssh and
is reachable by address from the head and from every other host, traffic
has nowhere else to go, ``cut``/``restore`` take a host off the network and
back, processes are seen per host, and teardown leaves nothing behind."""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import shlex
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from . import netns

# Run inside a namespace: with a timeout, then "ip:port" targets, try a TCP
# connection to each target and print one line per target: "ok", or the
# errno name (or exception name) of the failure.
CONNECT = """
import errno, socket, sys
timeout = float(sys.argv[1])
for target in sys.argv[2:]:
    ip, port = target.rsplit(":", 1)
    try:
        socket.create_connection((ip, int(port)), timeout=timeout).close()
        print(target, "ok")
    except OSError as exc:
        print(target, errno.errorcode.get(exc.errno or 0, type(exc).__name__))
"""


def connect_from(
    hosts: netns.Hosts, host: str, targets: list[str], *, timeout: float = 5
) -> dict[str, str]:
    """``target -> "ok" | failure`` for TCP connections made from ``host``."""
    proc = hosts.run(
        host,
        [sys.executable, "-c", CONNECT, str(timeout), *targets],
        timeout=30 + timeout * len(targets),
        check=True,
    )
    return dict(line.split(" ", 1) for line in proc.stdout.splitlines())


def connect_from_head(ip: str, *, timeout: float = 5) -> str:
    try:
        with socket.create_connection((ip, netns.SSH_PORT), timeout=timeout):
            return "ok"
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, type(exc).__name__)


# A shell command that leaves a `sleep 600` behind and prints its pid; its
# output is redirected so the ssh session ends at once.
SLEEPER = "sleep 600 </dev/null >/dev/null 2>&1 & echo $!"


@pytest.fixture
def head_listener(hosts: netns.Hosts) -> Iterator[str]:
    """``"head_ip:port"`` of a listening socket on the head (never accepted:
    the kernel completes connections into the backlog)."""
    with socket.create_server((hosts.head_ip, 0), backlog=32) as srv:
        yield f"{hosts.head_ip}:{srv.getsockname()[1]}"


@pytest.mark.timeout(60)
def test_fixture_interface(hosts: netns.Hosts) -> None:
    assert hosts.names == ["zmh1", "zmh2", "zmh3"]
    assert set(hosts.ips) == set(hosts.names)
    subnet = ipaddress.ip_network(f"{hosts.head_ip}/24", strict=False)
    addresses = [hosts.head_ip, *hosts.ips.values()]
    assert len(set(addresses)) == len(addresses)
    assert all(ipaddress.ip_address(a) in subnet for a in addresses)
    assert subnet.is_private
    assert hosts.ssh_cmd == f"ssh -F {hosts.ssh_config}"
    config = Path(hosts.ssh_config).read_text()
    for name, ip in hosts.ips.items():
        block = config.split(f"Host {name}\n", 1)[1].split("\nHost ", 1)[0]
        settings = dict(line.split(None, 1) for line in block.strip().splitlines())
        assert settings["HostName"] == ip
        assert settings["User"] == "root"
        assert Path(settings["IdentityFile"]).is_relative_to(hosts.tmpdir)
        assert settings["StrictHostKeyChecking"] == "no"
        assert settings["UserKnownHostsFile"] == "/dev/null"
        assert settings["LogLevel"] == "ERROR"
        assert settings["BatchMode"] == "yes"
        assert settings["ConnectTimeout"] == "5"


@pytest.mark.timeout(60)
def test_subnet_clashes_with_nothing_on_the_machine(hosts: netns.Hosts) -> None:
    subnet = ipaddress.ip_network(f"{hosts.head_ip}/24", strict=False)
    links = json.loads(subprocess.check_output(["ip", "-4", "-j", "addr", "show"], timeout=10))
    for link in links:
        if link["ifname"] == hosts.head_link:
            assert [a["local"] for a in link["addr_info"]] == [hosts.head_ip]
            continue
        for a in link["addr_info"]:
            other = ipaddress.ip_network(f"{a['local']}/{a['prefixlen']}", strict=False)
            # another concurrent run's bridge is the only other user of the range
            assert not subnet.overlaps(other), (link["ifname"], other)


@pytest.mark.timeout(60)
def test_every_host_answers_ssh(hosts: netns.Hosts) -> None:
    for name in hosts.names:
        proc = subprocess.run(
            [*shlex.split(hosts.ssh_cmd), name, "true"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert proc.returncode == 0, (name, proc.stderr)


@pytest.mark.timeout(60)
def test_ssh_lands_in_the_hosts_namespace(hosts: netns.Hosts) -> None:
    for name, ip in hosts.ips.items():
        proc = hosts.ssh(name, "readlink /proc/self/ns/net; echo $SSH_CONNECTION", check=True)
        netns_link, connection = proc.stdout.splitlines()
        inode = os.stat(f"/run/netns/{hosts.namespaces[name]}").st_ino
        assert netns_link == f"net:[{inode}]"
        client, _, server, port = connection.split()
        assert (client, server, port) == (hosts.head_ip, ip, str(netns.SSH_PORT))


@pytest.mark.timeout(60)
def test_every_address_reachable_from_head_and_every_host(
    hosts: netns.Hosts, head_listener: str
) -> None:
    for ip in hosts.ips.values():
        with socket.create_connection((ip, netns.SSH_PORT), timeout=5) as s:
            assert s.getsockname()[0] == hosts.head_ip
    for name in hosts.names:
        targets = [head_listener] + [f"{ip}:{netns.SSH_PORT}" for ip in hosts.ips.values()]
        assert connect_from(hosts, name, targets) == dict.fromkeys(targets, "ok")


@pytest.mark.timeout(60)
def test_hosts_route_nowhere_but_the_subnet(hosts: netns.Hosts) -> None:
    subnet = str(ipaddress.ip_network(f"{hosts.head_ip}/24", strict=False))
    own = json.loads(subprocess.check_output(["ip", "-4", "-j", "addr", "show"], timeout=10))
    elsewhere = ["1.1.1.1", "8.8.8.8"] + [
        a["local"]
        for link in own
        if link["ifname"] not in {hosts.head_link, "lo"}
        for a in link["addr_info"]
    ]
    for name in hosts.names:
        routes = json.loads(hosts.run(name, "ip -4 -j route show table all", check=True).stdout)
        assert {r["dst"] for r in routes if r.get("type", "unicast") == "unicast"} == {subnet}
        assert "inet6" not in hosts.run(name, "ip addr", check=True).stdout
        for ip in elsewhere:
            # a route lookup only: nothing is sent
            proc = hosts.run(name, ["ip", "route", "get", ip])
            assert proc.returncode != 0, (name, ip, proc.stdout)
            assert "unreachable" in proc.stderr


@pytest.mark.timeout(60)
def test_cut_takes_a_host_off_the_network_and_restore_brings_it_back(
    hosts: netns.Hosts, head_listener: str
) -> None:
    victim, *others = hosts.names
    victim_ssh = f"{hosts.ips[victim]}:{netns.SSH_PORT}"
    hosts.cut(victim)
    try:
        # From the cut host: no route at all, an immediate error.
        assert connect_from(hosts, victim, [head_listener]) == {head_listener: "ENETUNREACH"}
        # Towards it: nothing answers, there is no reset to wait for; on a
        # local bridge a live host answers within milliseconds.
        assert connect_from_head(hosts.ips[victim], timeout=1) != "ok"
        assert connect_from(hosts, others[0], [victim_ssh], timeout=1)[victim_ssh] != "ok"
        # The others are untouched.
        assert hosts.ssh(others[0], "true").returncode == 0
    finally:
        hosts.restore(victim)
    assert hosts.ssh(victim, "true").returncode == 0
    assert connect_from_head(hosts.ips[victim]) == "ok"
    assert connect_from(hosts, victim, [head_listener]) == {head_listener: "ok"}
    assert connect_from(hosts, others[0], [victim_ssh]) == {victim_ssh: "ok"}


@pytest.mark.timeout(60)
def test_a_process_started_over_ssh_is_seen_on_its_host_only(hosts: netns.Hosts) -> None:
    host, other, _ = hosts.names
    proc = hosts.ssh(host, SLEEPER, check=True)
    pid = int(proc.stdout)
    try:
        assert hosts.run(host, f"ps -o args= -p {pid}", check=True).stdout.strip() == "sleep 600"
        assert hosts.procs(host).get(pid) == "sleep 600"
        assert pid not in hosts.procs(other)
    finally:
        hosts.run(host, f"kill {pid}")
    assert netns.wait_exit({pid}, timeout=10) == set()
    assert hosts.wait_idle(host) == {}


@pytest.mark.timeout(60)
def test_close_removes_everything_and_leaves_other_runs_alone(
    hosts: netns.Hosts, make_hosts: Callable[[int], netns.Hosts]
) -> None:
    extra = make_hosts(1)
    assert extra.subnet != hosts.subnet
    pid = int(
        extra.ssh("zmh1", "sleep 600 </dev/null >/dev/null 2>&1 & echo $!", check=True).stdout
    )
    extra.close()
    assert_gone(extra, pid)
    extra.close()  # idempotent
    assert hosts.ssh("zmh1", "true").returncode == 0


@pytest.mark.timeout(60)
def test_a_crashed_runs_leftovers_are_cleaned_up(
    hosts: netns.Hosts, make_hosts: Callable[[int], netns.Hosts]
) -> None:
    crashed = make_hosts(1)
    pid = int(crashed.ssh("zmh1", SLEEPER, check=True).stdout)
    crashed._release_lock()  # as if its test process had been killed
    assert crashed.tag in netns.cleanup_stale()
    assert_gone(crashed, pid)
    assert hosts.tag not in netns.cleanup_stale()  # a live run is left alone
    assert hosts.ssh("zmh1", "true").returncode == 0


def assert_gone(h: netns.Hosts, pid: int) -> None:
    """Nothing of ``h`` is left: processes, namespaces, link, files, lock."""
    assert netns.wait_exit({pid}, timeout=10) == set()
    namespaces = subprocess.check_output(["ip", "netns", "list"], text=True, timeout=10)
    assert f"{netns.PREFIX}{h.tag}" not in namespaces
    link = subprocess.run(["ip", "link", "show", h.head_link], capture_output=True, timeout=10)
    assert link.returncode != 0
    assert not h.tmpdir.exists()
    assert not (netns.STATE_DIR / f"{h.tag}.lock").exists()
