"""None as a peer (MPI's PROC_NULL): what shift() returns off a mesh edge."""

from __future__ import annotations

import numpy as np

import zmqmesh
from zmqmesh.testing import run_world


def test_none_peer_is_a_no_op() -> None:
    async def body(comm: zmqmesh.Comm) -> list[object]:
        mesh = await comm.create_topology("mesh", dims=(comm.size,), periodic=(False,))
        up, down = mesh.shift(0, 1)
        st = zmqmesh.Status()
        # every rank sends its row down and receives from above; the edges use None
        got = await mesh.sendrecv(np.full(3, comm.rank), down, 1, up, 1, status=st)
        await comm.send("nothing", None)
        req = comm.irecv(None)
        return [
            got,
            (st.source, st.tag, st.nbytes),
            await comm.recv(None),
            await req,
            comm.isend(1, None).done(),
        ]

    res = run_world(3, body)
    assert res[0][0] is None
    assert res[0][1] == (None, zmqmesh.ANY_TAG, 0)
    for r in (1, 2):
        assert res[r][0].tolist() == [r - 1] * 3
        assert res[r][1][0] == r - 1
    for r in range(3):
        assert res[r][2:] == [None, None, True]
