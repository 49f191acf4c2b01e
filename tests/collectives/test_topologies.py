"""Topology communicators: attributes, neighborhood collectives, edge-only
collectives and connection counts, on in-process worlds of 1..9 ranks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import zmqmesh
from zmqmesh.collectives.ops import MAX, SUM, Op
from zmqmesh.testing import run_world
from zmqmesh.topology import make_topology
from zmqmesh.topology.edges import edge_keys


def specs(n: int) -> list[tuple[str, dict[str, Any]]]:
    dims2 = zmqmesh.dims_create(n, 2)
    return [
        ("ring", {}),
        ("tree", {"arity": 2, "root": 0}),
        ("tree", {"arity": 3, "root": n - 1}),
        ("mesh", {"dims": dims2, "periodic": (True, False)}),
        ("mesh", {"dims": dims2, "periodic": (True, True)}),
        ("mesh", {"dims": zmqmesh.dims_create(n, 3), "periodic": (False, True, False)}),
        ("full", {}),
    ]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", range(1, 10))
def test_topologies(n: int) -> None:
    concat = Op(lambda a, b: a + b, commute=False)

    async def body(comm: zmqmesh.Comm) -> list[Any]:
        r = comm.rank
        out = []
        for kind, params in specs(n):
            t = await comm.create_topology(kind, **params)
            keys = edge_keys(make_topology(kind, n, r, **params))
            sent = [(r, local) for local, _ in keys]
            out.append(
                {
                    "neighbors": t.neighbors,
                    "nag": await t.neighbor_allgather(r * 10),
                    "na2a": await t.neighbor_alltoall(sent),
                    "allreduce": await t.allreduce(np.arange(4) + r),
                    "big": await t.allreduce(np.full(10_000, float(r))),
                    "max": await t.allreduce(r, MAX),
                    "concat": await t.allreduce(str(r), concat),
                    "reduce": await t.reduce(r, SUM, root=n - 1),
                    "bcast": await t.bcast({"from": n // 2} if r == n // 2 else None, root=n // 2),
                    "scatter": await t.scatter([j * j for j in range(n)] if r == 0 else None),
                    "gather": await t.gather(r, root=n // 2),
                    "allgather": await t.allgather(r),
                    "alltoall": await t.alltoall([(r, j) for j in range(n)]),
                    "rs": await t.reduce_scatter([r + j for j in range(n)], SUM),
                    "scan": await t.scan(str(r), concat),
                    "exscan": await t.exscan(r, SUM),
                }
            )
            await t.barrier()
            out[-1]["connections"] = t.connections
            out[-1]["attrs"] = _attrs(t, kind)
        return out

    res = run_world(n, body)
    for r in range(n):
        for (kind, params), got in zip(specs(n), res[r], strict=True):
            topo = make_topology(kind, n, r, **params)
            assert got["neighbors"] == topo.neighbors
            assert got["attrs"] == _attrs(topo, kind)
            assert got["nag"] == [q * 10 for q in topo.neighbors]
            for q, (_, remote), item in zip(
                topo.neighbors, edge_keys(topo), got["na2a"], strict=True
            ):
                assert item == (q, remote), (kind, r, q, item)
            assert np.array_equal(got["allreduce"], np.arange(4) * n + n * (n - 1) // 2)
            assert float(got["big"][0]) == n * (n - 1) / 2
            assert got["max"] == n - 1
            assert got["concat"] == "".join(map(str, range(n)))
            assert got["reduce"] == (n * (n - 1) // 2 if r == n - 1 else None)
            assert got["bcast"] == {"from": n // 2}
            assert got["scatter"] == r * r
            assert got["gather"] == (list(range(n)) if r == n // 2 else None)
            assert got["allgather"] == list(range(n))
            assert got["alltoall"] == [(q, r) for q in range(n)]
            assert got["rs"] == sum(q + r for q in range(n))
            assert got["scan"] == "".join(map(str, range(r + 1)))
            assert got["exscan"] == (None if r == 0 else r * (r - 1) // 2)
            peers = set(topo.neighbors) - {r}
            if kind != "full":  # edge-only: every collective stayed on the edges
                assert got["connections"] == len(peers), (kind, params, r)
            else:
                assert got["connections"] <= n - 1


def _attrs(t: Any, kind: str) -> tuple[Any, ...]:
    if kind == "ring":
        return (t.left, t.right)
    if kind == "tree":
        return (t.parent, tuple(t.children))
    if kind == "mesh":
        shifts = tuple(t.shift(d, k) for d in range(len(t.dims)) for k in (1, -1, 2))
        return (tuple(t.dims), tuple(t.periodic), tuple(t.coords), shifts, t.rank_of(t.coords))
    return ()


@pytest.mark.timeout(60)
def test_topology_arguments_are_checked_at_the_call() -> None:
    async def body(comm: zmqmesh.Comm) -> None:
        with pytest.raises(ValueError, match="unknown topology"):
            await comm.create_topology("hypercube")
        with pytest.raises(ValueError, match=r"mesh dims \(3, 3\) hold 9 ranks, not 2"):
            await comm.create_topology("mesh", dims=(3, 3))
        with pytest.raises(TypeError, match="takes no parameter arity"):
            await comm.create_topology("ring", arity=2)
        ring = await comm.create_topology("ring")
        with pytest.raises(AttributeError, match="ring topology has no attribute 'dims'"):
            _ = ring.dims
        with pytest.raises(ValueError, match="one item per neighbor"):
            await ring.neighbor_alltoall([1])

    run_world(2, body)


@pytest.mark.timeout(60)
def test_mismatched_topologies_raise() -> None:
    async def body(comm: zmqmesh.Comm) -> str:
        try:
            await comm.create_topology("ring" if comm.rank else "full")
        except zmqmesh.CollectiveMismatchError:
            return "raised"
        return "created"

    assert run_world(3, body, timeout=10) == ["raised"] * 3
