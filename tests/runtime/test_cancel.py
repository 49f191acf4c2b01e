"""Cancellation leaves a defined state: a collective cancelled on one rank
raises on every rank (that call and every later one on its communicator),
never a wrong result or a hang; a cancelled receive or probe consumes
nothing."""

from __future__ import annotations

import random
import re

import pytest
from conftest import PROGRAMS, launch


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("n", "late"),
    # "last" on two ranks would be "others" again
    [(2, "others"), (3, "others"), (3, "last")],
)
@pytest.mark.parametrize("nbytes", [8, 32 * 2**20])
def test_a_cancelled_allreduce_raises_on_every_rank(n: int, late: str, nbytes: int) -> None:
    # It used to return on the others (a sum that counted the cancelled
    # call's messages, or a wrong one), and with 32 MiB to hang everywhere.
    res = launch(n, PROGRAMS / "cancel_collective.py", str(nbytes), late, timeout=90)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "[0] first: cancelled" in res.stdout, out[-3000:]
    for r in range(n):
        lines = re.findall(rf"^\[{r}\] (\w+): (.*)$", res.stdout, re.M)
        calls = dict(lines)
        # rank 0's first call is the cancelled one; everyone else's first
        # call and every later call raise, naming the cancellation
        for what in ("first", "second", "third") if r else ("second", "third"):
            assert calls.get(what) == "raised cancelled", (r, what, lines)
        assert calls.get("after") == "ok", (r, lines)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("n", [2, 3])
def test_random_cancellations_never_give_a_wrong_result_or_hang(n: int) -> None:
    # Each round: a random sequence of collectives (8 B to 4 MiB) on a
    # fresh dup, one call cancelled on a random rank after a random delay;
    # the program checks every rank's outcomes (see its verdict()).
    seed = random.randrange(2**31)
    rounds = 60
    res = launch(n, PROGRAMS / "cancel_random.py", str(seed), str(rounds), timeout=200)
    out = res.stdout + res.stderr
    assert res.returncode == 0, (seed, out[-3000:])
    bad = [line for line in res.stdout.splitlines() if "BAD" in line]
    assert not bad, (seed, bad)
    assert res.stdout.count(": ok (") == rounds, (seed, out[-3000:])
    assert f"[0] rounds: {rounds} cancelled:" in res.stdout, (seed, out[-3000:])


@pytest.mark.timeout(60)
def test_a_receive_cancelled_before_anything_waited_on_it_is_withdrawn() -> None:
    # The message went to the receive left posted, and the next one hung.
    res = launch(2, PROGRAMS / "cancel_unstarted_recv.py", timeout=50)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "[0] first: cancelled" in res.stdout, out[-3000:]
    assert "[0] second: cancelled" in res.stdout, out[-3000:]
    assert "[0] got hello" in res.stdout, out[-3000:]
    assert "[0] got again" in res.stdout, out[-3000:]
