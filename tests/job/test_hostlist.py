"""Host lists in every form: SLURM's compressed lists, hostfile text and
--host lists. Every rule and every error message, plus property tests of
each parser against an independent rendering."""

from __future__ import annotations

import itertools
import re

import pytest
from hostspecs import host_specs, render_list
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqmesh.errors import LaunchError
from zmqmesh.job import hostlist
from zmqmesh.job.hostlist import (
    MAX_HOSTS,
    MAX_SLOTS,
    Host,
    HostfileError,
    expand_hostlist,
    first_host,
    parse_host_list,
    parse_hostfile_text,
)

pytestmark = pytest.mark.timeout(30)

PROPERTY = settings(max_examples=100, deadline=None, database=None)
FUZZ = settings(max_examples=300, deadline=None, database=None)


# -- SLURM host lists ----------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "hosts"),
    [
        ("node1", ["node1"]),
        ("a,b,c", ["a", "b", "c"]),
        (
            "node[01-04,07],gpu1",
            ["node01", "node02", "node03", "node04", "node07", "gpu1"],
        ),
        ("n[5]", ["n5"]),
        ("n[05]", ["n05"]),
        ("n[8-10]", ["n8", "n9", "n10"]),
        ("n[08-10]", ["n08", "n09", "n10"]),
        ("n[008-9]", ["n008", "n009"]),
        ("n[1-010]", [f"n{i}" for i in range(1, 11)]),
        ("n[98-101]", ["n98", "n99", "n100", "n101"]),
        ("rack[1-2]-n[1-2]", ["rack1-n1", "rack1-n2", "rack2-n1", "rack2-n2"]),
        ("r[1-2][7,9]", ["r17", "r19", "r27", "r29"]),
        ("node[1-2]-ib", ["node1-ib", "node2-ib"]),
        ("[3-4]", ["3", "4"]),
        ("n[2,1,2]", ["n2", "n1", "n2"]),
        ("a,a", ["a", "a"]),
        ("  node[1-2]\n", ["node1", "node2"]),
        ("x.example.org,y-z_1", ["x.example.org", "y-z_1"]),
    ],
)
def test_expand_hostlist(spec: str, hosts: list[str]) -> None:
    assert expand_hostlist(spec) == hosts


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("", "^empty host list$"),
        ("   ", "^empty host list$"),
        ("node[1-", r"^unclosed '\[' in host list 'node\[1-'$"),
        ("node[1-2", r"^unclosed '\[' in host list"),
        ("node[3-1]", r"^decreasing range '3-1' in \[3-1\] of host list 'node\[3-1\]'$"),
        ("n[1,5-4]", r"^decreasing range '5-4' in \[1,5-4\]"),
        ("a,,b", "^empty host name in host list 'a,,b'$"),
        (",a", "^empty host name in host list ',a'$"),
        ("a,", "^empty host name at the end of host list 'a,'$"),
        ("n[]", r"^empty brackets '\[\]' in host list 'n\[\]'$"),
        ("n[1,]", r"^empty range in \[1,\] of host list 'n\[1,\]'$"),
        ("n[a]", r"^range 'a' is not N or N-M in \[a\] of host list 'n\[a\]'$"),
        ("n[1-]", r"^range '1-' is not N or N-M in \[1-\]"),
        ("n[-1]", r"^range '-1' is not N or N-M"),
        ("n[1-2-3]", r"^range '1-2-3' is not N or N-M"),
        ("n[1-2:2]", r"^range '1-2:2' is not N or N-M"),
        ("n[ 1]", r"^range ' 1' is not N or N-M"),
        ("n]", r"^'\]' without '\[' in host list 'n\]'$"),
        ("n[1]]", r"^'\]' without '\['"),
        ("n[1[2]]", r"^nested '\[' in host list 'n\[1\[2\]\]'$"),
        ("a b", "^whitespace in host list 'a b'$"),
        ("a,\tb", "^whitespace in host list"),
    ],
)
def test_expand_hostlist_errors(spec: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        expand_hostlist(spec)


def test_expand_hostlist_refuses_huge_lists_before_building_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert MAX_HOSTS == 1 << 20
    with pytest.raises(ValueError, match="expands to 10000000000000000000000000 names, more than"):
        expand_hostlist("n[1-100000000000000000000000][0-99]")
    monkeypatch.setattr(hostlist, "MAX_HOSTS", 10)
    assert len(expand_hostlist("n[1-5],m[1-5]")) == 10
    with pytest.raises(ValueError, match=r"^host list 'n\[1-5\],m\[0-5\]' expands to 11 names, "):
        expand_hostlist("n[1-5],m[0-5]")


# Independent model: a host pattern is a list of literal strings and groups;
# a group is a list of (lo, count, width, hi_width) ranges.
literals = st.text(alphabet="abcxyz-._0123456789", min_size=1, max_size=4)
ranges = st.tuples(
    st.integers(0, 120), st.integers(1, 4), st.integers(0, 3), st.integers(0, 3)
).map(lambda t: (t[0], t[1], len(str(t[0])) + t[2], t[3]))
groups = st.lists(ranges, min_size=1, max_size=3)
patterns = st.lists(st.one_of(literals, groups), min_size=1, max_size=4).filter(
    lambda p: sum(isinstance(x, list) for x in p) <= 2
)


def _render(pattern: list[str | list[tuple[int, int, int, int]]]) -> str:
    out = []
    for part in pattern:
        if isinstance(part, str):
            out.append(part)
            continue
        items = []
        for lo, count, width, hi_pad in part:
            first = str(lo).zfill(width)
            hi = lo + count - 1
            # only the low end's width counts; pad the high end arbitrarily
            items.append(first if count == 1 else f"{first}-{str(hi).zfill(hi_pad)}")
        out.append("[" + ",".join(items) + "]")
    return "".join(out)


def _model(pattern: list[str | list[tuple[int, int, int, int]]]) -> list[str]:
    choices = []
    for part in pattern:
        if isinstance(part, str):
            choices.append([part])
        else:
            choices.append(
                [
                    f"{value:0{width}d}"
                    for lo, count, width, _ in part
                    for value in range(lo, lo + count)
                ]
            )
    return ["".join(c) for c in itertools.product(*choices)]


@PROPERTY
@given(st.lists(patterns, min_size=1, max_size=4))
def test_expand_hostlist_matches_the_model(
    pats: list[list[str | list[tuple[int, int, int, int]]]],
) -> None:
    spec = ",".join(_render(p) for p in pats)
    assert expand_hostlist(spec) == [name for p in pats for name in _model(p)]


@PROPERTY
@given(st.lists(literals, min_size=1, max_size=10))
def test_plain_names_expand_to_themselves(names: list[str]) -> None:
    assert expand_hostlist(",".join(names)) == names


@FUZZ
@given(st.text(alphabet="ab01-[], \t", max_size=16))
def test_any_text_expands_or_raises_value_error(spec: str) -> None:
    try:
        hosts = expand_hostlist(spec)
    except ValueError:
        return
    assert hosts
    for host in hosts:
        assert host
        assert not set(host) & set("[], \t")


@pytest.mark.parametrize(
    ("spec", "first"),
    [("node1", "node1"), ("node[01-04,07],gpu1", "node01"), ("r[2-3]n[08-9]", "r2n08")],
)
def test_the_first_host_is_found_without_expanding(spec: str, first: str) -> None:
    assert first_host(spec) == first
    assert first_host(spec) == expand_hostlist(spec)[0]
    # a list far too long to expand still has a first host
    assert first_host("n[1-100000000000000000000000][0-99]") == "n10"


@pytest.mark.parametrize("spec", ["", "n[1-", "n[3-1]", "a,"])
def test_the_first_host_of_a_malformed_list_is_an_error(spec: str) -> None:
    with pytest.raises(ValueError, match="host list"):
        first_host(spec)


# -- hostfile text --------------------------------------------------------------


def hostfile_error(text: str) -> str:
    with pytest.raises(HostfileError) as info:
        parse_hostfile_text(text, "hosts.txt")
    message = str(info.value)
    assert "\n" not in message
    return message.removeprefix("hosts.txt:")


def test_hostfile_text_gives_hosts_in_order_with_slots_and_line_sources() -> None:
    text = (
        "# cluster\n"
        "\n"
        "node1 slots=4\n"
        "  node2\t# one slot\n"
        "\tnode-3.example.org   slots=2   # trailing comment\n"
        "10.0.0.7\n"
        "[fe80::1] slots=3\n"
        "under_score\r\n"
        "last"
    )
    assert parse_hostfile_text(text, "hosts.txt") == [
        Host("node1", 4, "hosts.txt:3"),
        Host("node2", 1, "hosts.txt:4"),
        Host("node-3.example.org", 2, "hosts.txt:5"),
        Host("10.0.0.7", 1, "hosts.txt:6"),
        Host("fe80::1", 3, "hosts.txt:7"),
        Host("under_score", 1, "hosts.txt:8"),
        Host("last", 1, "hosts.txt:9"),
    ]


def test_ipv6_addresses_are_stored_canonical_and_without_brackets() -> None:
    hosts = parse_hostfile_text("[0:0::1]\n[FE80::1%eth0] slots=2\n", "h")
    assert [(h.name, h.slots) for h in hosts] == [("::1", 1), ("fe80::1%eth0", 2)]


def test_slots_may_be_as_large_as_max_slots() -> None:
    assert parse_hostfile_text(f"a slots={MAX_SLOTS}\n", "h")[0].slots == MAX_SLOTS


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("a\nb slots=x\n", "^2: slots must be a positive integer, got 'x'$"),
        ("a slots=0\n", "^1: slots must be a positive integer, got '0'$"),
        ("a slots=-1\n", "^1: slots must be a positive integer, got '-1'$"),
        ("a slots=\n", "^1: slots must be a positive integer, got ''$"),
        ("a slots=+3\n", "^1: slots must be a positive integer, got '\\+3'$"),
        ("a slots=2.5\n", "^1: slots must be a positive integer, got '2.5'$"),
        ("a slots=4097\n", "^1: slots must be at most 4096, got 4097$"),
        ("a slots=99999999999999999999\n", "^1: slots must be at most 4096"),
        ("a slots=1 slots=2\n", "^1: slots= given twice$"),
        (
            "a cpus=4\n",
            r"^1: unknown setting 'cpus' \(only slots=N and max_slots=M are supported\)$",
        ),
        ("a max_slots=0\n", "^1: max_slots must be a positive integer, got '0'$"),
        ("a slots=4 max_slots=2\n", "^1: max_slots=2 is less than slots=4$"),
        ("a max_slots=2 max_slots=3\n", "^1: max_slots= given twice$"),
        ("a max_slots 2\n", r"^1: write max_slots=N \(no spaces around '='\)$"),
        ("node1:4 slots=2\n", r"^1: unexpected 'slots=2' after 'node1:4' \(MPICH's form"),
        ("node1:0\n", "^1: slots must be a positive integer, got '0'$"),
        ("node1:4097\n", "^1: slots must be at most 4096, got 4097$"),
        ("node1 0 all.q UNDEFINED\n", "^1: slots must be a positive integer, got '0'$"),
        ("node1 2 all.q UNDEFINED x\n", r"^1: unexpected 'x' \(Grid Engine's form is"),
        (f"a slots={MAX_SLOTS}\na\n", f"^2: host 'a' has {MAX_SLOTS + 1} slots in all, more than"),
        (
            "a slots=2 max_slots=3\na slots=2\n",
            r"^2: host 'a' has 4 slots in all, more than its max_slots=3$",
        ),
        ("a =4\n", "^1: unknown setting ''"),
        (
            "a b\n",
            r"^1: unexpected 'b' after the host name \(one host a line: 'host \[slots=N\] "
            r"\[max_slots=M\]', 'host:N' or 'host N'\)$",
        ),
        ("a slots=2 b\n", "^1: unexpected 'b' after the host name"),
        ("a slots 4\n", r"^1: write slots=N \(no spaces around '='\)$"),
        ("a slots = 4\n", "^1: write slots=N"),
        ("fe80::1\n", r"^1: write the IPv6 address in brackets, \[fe80::1\], not 'fe80::1'$"),
        ("node1:x\n", "^1: invalid host name 'node1:x': a host name is letters"),
        (
            "[1.2.3.4]\n",
            r"^1: '\[1.2.3.4\]' is not an IPv6 address \(brackets are for IPv6 only\)$",
        ),
        ("[::1\n", r"^1: missing '\]' in '\[::1'$"),
        ("me@node1\n", r"^1: 'me@node1': user@host is not supported; name the user in "),
        ("me@node1:4\n", r"^1: 'me@node1:4': user@host is not supported"),
        ("-oProxyCommand=x\n", "^1: invalid host name '-oProxyCommand=x'"),
        (".hidden\n", "^1: invalid host name '.hidden'"),
        ("nöde\n", "^1: invalid host name 'nöde'"),
        ("a/b\n", "^1: invalid host name 'a/b'"),
        ("x" * 254 + "\n", "^1: invalid host name"),
    ],
)
def test_hostfile_mistakes_are_one_line_naming_file_and_line(text: str, match: str) -> None:
    message = hostfile_error(text)
    assert re.search(match, message), message


# -- every resource manager's and MPI launcher's hostfile ---------------------------


def names_slots(text: str) -> list[tuple[str, int, int | None]]:
    return [(h.name, h.slots, h.max_slots) for h in parse_hostfile_text(text, "h")]


def test_open_mpi_max_slots_is_kept_and_bounds_nothing_else() -> None:
    text = "a slots=2 max_slots=4\nb max_slots=3\nc max-slots=1 slots=1\n"
    assert names_slots(text) == [("a", 2, 4), ("b", 1, 3), ("c", 1, 1)]


def test_mpich_host_colon_slots() -> None:
    text = "node1:4\nnode2\n[::1]:2\n10.0.0.1:3  # comment\n"
    assert names_slots(text) == [
        ("node1", 4, None),
        ("node2", 1, None),
        ("::1", 2, None),
        ("10.0.0.1", 3, None),
    ]


def test_grid_engine_pe_hostfile() -> None:
    text = (
        "node1.example.org 4 all.q@node1.example.org UNDEFINED\n"
        "node2.example.org 2 all.q@node2.example.org <NULL>\n"
        "node3 1 short.q@node3 0,1\n"
        "node4 3\n"
    )
    assert names_slots(text) == [
        ("node1.example.org", 4, None),
        ("node2.example.org", 2, None),
        ("node3", 1, None),
        ("node4", 3, None),
    ]


def test_a_host_per_slot_adds_up_in_first_appearance_order() -> None:
    # PBS_NODEFILE and LSB_DJOB_HOSTFILE: a host repeated once per slot
    text = "n2\nn2\nn1\nN2.\nn1\nn3\n"
    hosts = parse_hostfile_text(text, "nodefile")
    assert [(h.name, h.slots, h.source) for h in hosts] == [
        ("n2", 3, "nodefile:1"),
        ("n1", 2, "nodefile:3"),
        ("n3", 1, "nodefile:6"),
    ]


def test_repeated_hosts_add_their_slots_in_any_syntax() -> None:
    text = "a slots=2\na:3\na 4 q UNDEFINED\n[::1]\n[0::1] slots=2\n"
    assert names_slots(text) == [("a", 9, None), ("::1", 3, None)]


def test_repeated_hosts_keep_the_larger_max_slots() -> None:
    assert names_slots("a max_slots=2\na max_slots=5\n") == [("a", 2, 5)]


def test_user_at_host_hint_names_the_ssh_config_entry() -> None:
    message = hostfile_error("me@node1 slots=2\n")
    assert message.endswith("~/.ssh/config (Host node1 / User me)")


@pytest.mark.parametrize("text", ["", "\n\n", "# only\n   # comments\n", "   \t\n"])
def test_a_hostfile_without_hosts_is_an_error(text: str) -> None:
    with pytest.raises(HostfileError, match=r"^hosts\.txt: no hosts in the hostfile \(only "):
        parse_hostfile_text(text, "hosts.txt")


def test_hostfile_error_is_a_launch_error() -> None:
    assert issubclass(HostfileError, LaunchError)


# -- parse_host_list ------------------------------------------------------------


def test_a_host_list_gives_names_and_slots_in_order() -> None:
    assert parse_host_list("a,b:2,localhost:4") == [
        Host("a", 1, "--host"),
        Host("b", 2, "--host"),
        Host("localhost", 4, "--host"),
    ]


def test_a_host_list_takes_bracketed_ipv6_and_spaces_around_items() -> None:
    assert parse_host_list(" [::1]:3 , [fe80::2] ,10.1.2.3:2") == [
        Host("::1", 3, "--host"),
        Host("fe80::2", 1, "--host"),
        Host("10.1.2.3", 2, "--host"),
    ]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("", "^--host: no hosts given$"),
        ("  ", "^--host: no hosts given$"),
        ("a,,b", "^--host: empty item in 'a,,b'$"),
        ("a,", "^--host: empty item in 'a,'$"),
        ("a:x", r"^--host: slots must be a positive integer, got 'x' \(in 'a:x'\)$"),
        ("a:", r"^--host: slots must be a positive integer, got '' \(in 'a:'\)$"),
        ("a:0", r"^--host: slots must be a positive integer, got '0' \(in 'a:0'\)$"),
        ("a:-2", r"^--host: slots must be a positive integer, got '-2'"),
        ("a:4097", r"^--host: slots must be at most 4096, got 4097 \(in 'a:4097'\)$"),
        ("a,b:2,A:3", "^--host: host 'A' is given twice$"),
        ("[::1],[0::1]:2", "^--host: host '::1' is given twice$"),
        ("me@a:2", r"^--host: 'me@a': user@host is not supported; .*\(Host a / User me\)$"),
        ("::1", r"^--host: write the IPv6 address in brackets, \[::1\] or \[::1\]:slots$"),
        ("a:2:3", "^--host: 'a:2:3' is not name or name:slots$"),
        ("[::1", r"^--host: missing '\]' in '\[::1'$"),
        ("[::1]x", r"^--host: unexpected 'x' after '\[::1\]'$"),
        ("[::1]:x", "^--host: slots must be a positive integer, got 'x'"),
        ("[nothost]", r"^--host: '\[nothost\]' is not an IPv6 address"),
        ("a b", "^--host: invalid host name 'a b'"),
        ("-oX", "^--host: invalid host name '-oX'"),
    ],
)
def test_host_list_mistakes_are_one_line(spec: str, match: str) -> None:
    with pytest.raises(HostfileError, match=match) as info:
        parse_host_list(spec)
    assert "\n" not in str(info.value)


# -- properties of hostfiles and --host lists ------------------------------------


@PROPERTY
@given(host_specs)
def test_host_lists_parse_back_to_their_names_and_slots(
    specs: list[tuple[str, int | None]],
) -> None:
    hosts = parse_host_list(render_list(specs))
    assert [(h.name, h.slots) for h in hosts] == [(n, s or 1) for n, s in specs]
    assert {h.source for h in hosts} == {"--host"}


@PROPERTY
@given(
    host_specs,
    st.lists(st.sampled_from(["slots", "mpich", "sge", "repeat"]), min_size=8, max_size=8),
)
def test_every_syntax_gives_the_same_hosts(
    specs: list[tuple[str, int | None]], styles: list[str]
) -> None:
    lines = []
    for (name, slots), style in zip(specs, styles, strict=False):
        n = slots or 1
        if style == "slots":
            lines.append(f"{name} slots={n}")
        elif style == "mpich":
            lines.append(f"{name}:{n}")
        elif style == "sge":
            lines.append(f"{name} {n} all.q@{name} UNDEFINED")
        else:
            lines.extend([name] * min(n, 5))
    want = [
        (name, min(slots or 1, 5) if style == "repeat" else slots or 1)
        for (name, slots), style in zip(specs, styles, strict=False)
    ]
    hosts = parse_hostfile_text("\n".join(lines), "hosts")
    assert [(h.name, h.slots) for h in hosts] == want


@PROPERTY
@given(
    st.lists(st.tuples(st.sampled_from(["a", "b", "c", "A", "b."]), st.integers(1, 9)), min_size=1)
)
def test_repeated_lines_add_up_in_first_appearance_order(lines: list[tuple[str, int]]) -> None:
    text = "\n".join(f"{name}:{n}" for name, n in lines)
    hosts = parse_hostfile_text(text, "h")
    keys = list(dict.fromkeys(name.lower().rstrip(".") for name, _ in lines))
    assert [h.name.lower().rstrip(".") for h in hosts] == keys
    for h in hosts:
        key = h.name.lower().rstrip(".")
        assert h.slots == sum(n for name, n in lines if name.lower().rstrip(".") == key)


@PROPERTY
@given(host_specs)
def test_hostfiles_parse_back_to_their_names_slots_and_lines(
    specs: list[tuple[str, int | None]],
) -> None:
    lines = ["# generated"]
    for name, slots in specs:
        lines.append(name if slots is None else f"  {name}\tslots={slots}  # c")
        lines.append("")
    hosts = parse_hostfile_text("\n".join(lines), "hosts")
    assert [(h.name, h.slots) for h in hosts] == [(n, s or 1) for n, s in specs]
    assert [h.source for h in hosts] == [f"hosts:{2 + 2 * i}" for i in range(len(specs))]
