"""Communicators made from groups alone (MPI 4.0): ``Intracomm.Create_from_group``
and ``Intercomm.Create_from_groups``, whose members share no communicator
that they could make it from.

The members meet on the world's meeting context (a duplicate of
``COMM_WORLD`` made as the process joins its job, which carries nothing
else), by messages tagged with a hash of the call's ``stringtag``: each
member sends the context slots it uses to its group's leader; the leader
takes slots free on every member (for two groups, the two leaders agree
them as ``Create_intercomm``'s do, see ``inter.leaders_deal``) and sends
them back; every member then makes the communicator in those slots. A
member's messages of one call go out only after it has had the reply to
its last one, so calls with the same tag never take each other's messages.
"""

from __future__ import annotations

import secrets
import zlib
from collections.abc import Sequence
from typing import Any

from zmqmesh.compat.mpi4py import constants as C
from zmqmesh.compat.mpi4py import runner
from zmqmesh.compat.mpi4py.comm import COMM_WORLD, Intracomm
from zmqmesh.compat.mpi4py.exceptions import Exception as MPIException
from zmqmesh.compat.mpi4py.groups import Group
from zmqmesh.compat.mpi4py.inter import (
    Intercomm,
    _free_slots,
    intercomm_dealt,
    leaders_deal,
)
from zmqmesh.runtime.comm import Comm as ZComm

__all__: list[str] = []


def _tag(stringtag: Any, kind: str) -> int:
    return 1 + zlib.crc32(f"{kind}:{stringtag}".encode())


def _meet() -> tuple[ZComm, tuple[int, ...]]:
    """The meeting context, and the engine rank of each world rank."""
    world = COMM_WORLD._z()
    ranks: tuple[int, ...] = world._ranks
    meet: ZComm = COMM_WORLD._h.meet
    return meet, ranks


def _mine(group: Group) -> tuple[tuple[int, ...], int]:
    g = group._m()
    if g.me not in g.ranks:
        raise MPIException(C.ERR_GROUP, "Invalid group (the calling process is not in it)")
    return g.ranks, g.me


async def _to_leader(meet: ZComm, names: Sequence[int], leader: int, me: int, tag: int) -> int:
    """The OR of the group's used slots, at the leader (0 elsewhere)."""
    if me != leader:
        await meet.send(meet.used_slots(), leader, tag)
        return 0
    mask = meet.used_slots()
    for n in names:
        if n != me:
            mask |= int(await meet.recv(n, tag))
    return mask


async def _from_leader(
    meet: ZComm, names: Sequence[int], leader: int, me: int, deal: Any, tag: int
) -> Any:
    if me != leader:
        return await meet.recv(leader, tag)
    for n in names:
        if n != me:
            await meet.send(deal, n, tag)
    return deal


def _create_from_group(
    cls: Any, group: Group, stringtag: str = "org.mpi4py", info: Any = None, errhandler: Any = None
) -> Intracomm:
    """The intracommunicator of ``group``'s processes, in its order, made
    by them alone (each calls it with the same group and ``stringtag``)."""
    names, me = _mine(group)
    meet, engine = _meet()
    tag, leader = _tag(stringtag, "group"), names[0]
    mask = runner.run(_to_leader(meet, names, leader, me, tag))
    deal = (_free_slots(mask, 2), secrets.randbits(48)) if me == leader else None
    slots, ident = runner.run(_from_leader(meet, names, leader, me, deal, tag))
    ranks = [engine[n] for n in names]
    pair = (meet.join(ranks, slots[0], ident), meet.join(ranks, slots[1], ident + 1), names)
    got: Intracomm = Intracomm._of(pair)
    return got


def _create_from_groups(
    cls: Any,
    local_group: Group,
    local_leader: int = 0,
    remote_group: Group | None = None,
    remote_leader: int = 0,
    stringtag: str = "org.mpi4py",
    info: Any = None,
    errhandler: Any = None,
) -> Intercomm:
    """The intercommunicator of ``local_group`` (which holds the caller)
    and ``remote_group``, made by their processes alone; the leaders are
    ranks of their groups."""
    names, me = _mine(local_group)
    if remote_group is None:
        raise TypeError("Create_from_groups needs the remote group")
    theirs = remote_group._m().ranks
    meet, engine = _meet()
    tag = _tag(stringtag, "groups")
    leader, other = names[int(local_leader)], theirs[int(remote_leader)]
    side = (tuple(engine[n] for n in names), names)
    mask = runner.run(_to_leader(meet, names, leader, me, tag))
    deal = None
    if me == leader:

        def swap(mine: Any) -> Any:
            return runner.run(meet.sendrecv(mine, other, tag, other, tag))

        deal = leaders_deal(side, mask, swap)
    return intercomm_dealt(meet, side, runner.run(_from_leader(meet, names, leader, me, deal, tag)))


Intracomm.Create_from_group = classmethod(_create_from_group)  # type: ignore[attr-defined]
Intercomm.Create_from_groups = classmethod(_create_from_groups)  # type: ignore[attr-defined]
