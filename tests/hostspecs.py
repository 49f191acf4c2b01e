"""Hypothesis strategies for host lists (``host[:slots],...``), shared by the
parser's tests (tests/job/) and the launcher's placement tests."""

from __future__ import annotations

from hypothesis import strategies as st

from zmqmesh.job.hostlist import MAX_SLOTS

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._", min_size=1, max_size=12).filter(
    lambda s: s[0] not in "-."
)
host_specs = st.lists(
    st.tuples(names, st.one_of(st.none(), st.integers(1, MAX_SLOTS))),
    min_size=1,
    max_size=8,
    unique_by=lambda t: t[0].lower().removesuffix("."),
)


def render_list(specs: list[tuple[str, int | None]]) -> str:
    """``specs`` as a ``--host`` list: ``name`` or ``name:slots``, comma-separated."""
    return ",".join(name if slots is None else f"{name}:{slots}" for name, slots in specs)
