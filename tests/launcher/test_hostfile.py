"""The launcher's side of hosts: reading a hostfile from disk, rank
placement and is_local. The formats' rules are tested in
tests/job/test_hostlist.py."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostspecs import host_specs, render_list
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqmesh.job.hostlist import Host, HostfileError, parse_host_list
from zmqmesh.launcher import hostfile
from zmqmesh.launcher.hostfile import assign, is_local, parse_hostfile

pytestmark = pytest.mark.timeout(30)

PROPERTY = settings(max_examples=100, deadline=None, database=None)


def write(tmp_path: Path, text: str, name: str = "hosts.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- parse_hostfile -------------------------------------------------------------


def test_a_hostfile_gives_hosts_in_order_with_slots_and_line_sources(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "# cluster\n"
        "\n"
        "node1 slots=4\n"
        "  node2\t# one slot\n"
        "\tnode-3.example.org   slots=2   # trailing comment\n"
        "10.0.0.7\n"
        "[fe80::1] slots=3\n"
        "under_score\n",
    )
    where = str(path)
    assert parse_hostfile(path) == [
        Host("node1", 4, f"{where}:3"),
        Host("node2", 1, f"{where}:4"),
        Host("node-3.example.org", 2, f"{where}:5"),
        Host("10.0.0.7", 1, f"{where}:6"),
        Host("fe80::1", 3, f"{where}:7"),
        Host("under_score", 1, f"{where}:8"),
    ]


def test_the_source_is_the_path_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "a\n")
    monkeypatch.chdir(tmp_path)
    assert parse_hostfile("hosts.txt") == [Host("a", 1, "hosts.txt:1")]


def test_crlf_lines_and_a_missing_final_newline_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "hosts.txt"
    path.write_bytes(b"a slots=2\r\n# c\r\nb")
    assert [(h.name, h.slots, h.source) for h in parse_hostfile(path)] == [
        ("a", 2, f"{path}:1"),
        ("b", 1, f"{path}:3"),
    ]


def test_a_missing_hostfile_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.txt"
    with pytest.raises(
        HostfileError, match=r"nope\.txt: cannot read the hostfile: No such file or directory$"
    ):
        parse_hostfile(path)


def test_a_directory_is_not_a_hostfile(tmp_path: Path) -> None:
    with pytest.raises(HostfileError, match=r": cannot read the hostfile: Is a directory$"):
        parse_hostfile(tmp_path)


def test_a_binary_file_is_not_a_hostfile(tmp_path: Path) -> None:
    path = tmp_path / "hosts.bin"
    path.write_bytes(b"node1\n\xff\xfe\n")
    with pytest.raises(HostfileError, match=r"hosts\.bin: not a text file \(it is not UTF-8\)$"):
        parse_hostfile(path)


def test_a_mistake_in_the_file_names_the_path_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "a\nb slots=x\n")
    with pytest.raises(HostfileError) as info:
        parse_hostfile(path)
    assert str(info.value) == f"{path}:2: slots must be a positive integer, got 'x'"


# -- assign ----------------------------------------------------------------------


def test_assign_fills_each_hosts_slots_in_order() -> None:
    hosts = parse_host_list("a:2,b:3,c")
    assert assign(hosts, None) == ["a", "a", "b", "b", "b", "c"]
    assert assign(hosts, 1) == ["a"]
    assert assign(hosts, 3) == ["a", "a", "b"]
    assert assign(hosts, 6) == ["a", "a", "b", "b", "b", "c"]


def test_assign_refuses_more_ranks_than_slots_naming_both_numbers(tmp_path: Path) -> None:
    with pytest.raises(
        HostfileError, match=r"^--host: 7 ranks do not fit in the 6 slots of the hosts; give fewer"
    ):
        assign(parse_host_list("a:2,b:3,c"), 7)
    path = write(tmp_path, "a\nb slots=2\n")
    with pytest.raises(HostfileError, match=r"hosts\.txt: 4 ranks do not fit in the 3 slots"):
        assign(parse_hostfile(path), 4)


def test_assign_rejects_wrong_arguments() -> None:
    with pytest.raises(ValueError, match="at least one host"):
        assign([], None)
    with pytest.raises(ValueError, match="at least 1, not 0"):
        assign(parse_host_list("a"), 0)


# -- is_local ---------------------------------------------------------------------


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """This machine is "box.lab.example" at 192.0.2.10; records lookups and
    fails the test if any other name is looked up."""
    lookups: list[str] = []

    def gethostbyname_ex(name: str) -> tuple[str, list[str], list[str]]:
        lookups.append(name)
        assert name == "box.lab.example"
        return "box.lab.example", ["box-alias"], ["192.0.2.10", "127.0.1.1"]

    def getfqdn(name: str = "") -> str:
        lookups.append(name)
        assert name == "box.lab.example"
        return "box.lab.example"

    def forbidden(*args: object, **kwargs: object) -> object:
        raise AssertionError(f"is_local looked up {args}")

    monkeypatch.setattr(socket, "gethostname", lambda: "box.lab.example")
    monkeypatch.setattr(socket, "gethostbyname_ex", gethostbyname_ex)
    monkeypatch.setattr(socket, "getfqdn", getfqdn)
    for name in ("getaddrinfo", "gethostbyname", "gethostbyaddr"):
        monkeypatch.setattr(socket, name, forbidden)
    hostfile._own_names.cache_clear()
    hostfile._own_resolved.cache_clear()
    yield lookups
    hostfile._own_names.cache_clear()
    hostfile._own_resolved.cache_clear()


@pytest.mark.parametrize(
    "name",
    [
        "localhost",
        "LOCALHOST",
        "localhost.",
        "localhost.localdomain",
        "ip6-localhost",
        "127.0.0.1",
        "127.1.2.3",
        "::1",
        "[::1]",
        "::ffff:127.0.0.1",
        "box.lab.example",
        "BOX.lab.example.",
        "box",
        "box-alias",
        "192.0.2.10",
    ],
)
def test_local_names(machine: list[str], name: str) -> None:
    assert is_local(name)


@pytest.mark.parametrize(
    "name", ["", "node1", "box.other.example", "192.0.2.11", "::2", "0.0.0.0", "boxes"]
)
def test_other_names_are_remote(machine: list[str], name: str) -> None:
    assert not is_local(name)


def test_loopback_and_the_host_name_need_no_lookup(machine: list[str]) -> None:
    assert is_local("localhost")
    assert is_local("127.0.0.1")
    assert is_local("box")
    assert machine == []


def test_the_own_name_is_resolved_once_and_no_other_name_ever(machine: list[str]) -> None:
    for name in ("node1", "node2", "box-alias", "10.0.0.1"):
        is_local(name)
    assert sorted(machine) == ["box.lab.example", "box.lab.example"]  # getfqdn + gethostbyname_ex


def test_a_failing_lookup_of_the_own_name_only_loses_the_resolved_names(
    machine: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(name: str) -> tuple[str, list[str], list[str]]:
        raise socket.gaierror("no such name")

    monkeypatch.setattr(socket, "gethostbyname_ex", fail)
    assert is_local("box")
    assert is_local("box.lab.example")
    assert not is_local("box-alias")
    assert not is_local("192.0.2.10")


def test_the_real_machine_is_local() -> None:
    assert is_local(socket.gethostname())
    assert is_local("localhost")
    assert not is_local("no-such-host.invalid")


# -- properties of placement ------------------------------------------------------


@PROPERTY
@given(host_specs, st.data())
def test_assign_fills_slots_in_order(
    specs: list[tuple[str, int | None]], data: st.DataObject
) -> None:
    hosts = parse_host_list(render_list(specs))
    total = sum(h.slots for h in hosts)
    full = assign(hosts, None)
    assert len(full) == total
    assert full == [h.name for h in hosts for _ in range(h.slots)]
    n = data.draw(st.integers(1, total + 3))
    if n <= total:
        assert assign(hosts, n) == full[:n]
    else:
        with pytest.raises(HostfileError, match=f"{n} ranks do not fit in the {total} slots"):
            assign(hosts, n)
