"""How a rank reports an uncaught exception (runtime/failure.py), pure parts."""

from __future__ import annotations

import asyncio
import os

from zmqmesh.errors import RankFailedError
from zmqmesh.runtime.failure import cause_line, folded, stopped_line, user_frame


def _inner(x: int) -> None:
    raise ValueError(f"bad {x}")


async def _through_asyncio() -> None:
    await asyncio.sleep(0)
    _inner(7)


def _raised() -> BaseException:
    try:
        asyncio.run(_through_asyncio())
    except ValueError as exc:
        return exc
    raise AssertionError("did not raise")


def test_asyncio_frames_fold_into_one_line() -> None:
    exc = _raised()
    text = folded(exc)
    assert text.startswith("Traceback (most recent call last):\n")
    assert "frames of zmqmesh, asyncio, uvloop" in text
    assert f"{os.sep}asyncio{os.sep}" not in text
    assert "in _inner" in text
    assert text.endswith("ValueError: bad 7\n")
    full = folded(exc, full=True)
    assert f"{os.sep}asyncio{os.sep}" in full
    assert "frames of zmqmesh" not in full


def test_the_cause_line_names_the_user_frame() -> None:
    exc = _raised()
    frame = user_frame(exc)
    assert frame is not None
    assert frame.name == "_inner"
    line = cause_line(2, "nodeB", exc)
    assert line.startswith("zmqmesh: rank 2 (nodeB) raised ValueError: bad 7 at ")
    assert line.endswith(" in _inner")
    assert "test_failure_report.py:" in line


def test_chained_exceptions_keep_their_story() -> None:
    try:
        try:
            _inner(1)
        except ValueError as first:
            raise KeyError("second") from first
    except KeyError as exc:
        text = folded(exc)
    assert "ValueError: bad 1" in text
    assert "direct cause of the following exception" in text
    assert text.endswith("KeyError: 'second'\n")


def test_a_message_of_many_lines_gives_one_cause_line() -> None:
    line = cause_line(0, "h", RuntimeError("first\nsecond"))
    assert line == "zmqmesh: rank 0 (h) raised RuntimeError: first"
    assert cause_line(0, "h", RuntimeError()) == "zmqmesh: rank 0 (h) raised RuntimeError"


def test_a_stopped_rank_says_one_line() -> None:
    exc = RankFailedError(1, "raised ValueError: boom at a.py:3 in f")
    assert (
        stopped_line(3, exc)
        == "rank 3: stopped, rank 1 failed: raised ValueError: boom at a.py:3 in f"
    )


def test_a_rank_that_finished_is_not_called_failed() -> None:
    assert str(RankFailedError(0, "finished (exit 0)")) == "rank 0 finished (exit 0)"
    assert str(RankFailedError(0, "exited with code 2")) == "rank 0 failed: exited with code 2"
    assert str(RankFailedError(4)) == "rank 4 failed"


def test_a_waiting_call_is_put_in_words_only_when_asked() -> None:
    """A wait records a template and its ranks and tags (no string is built
    per receive); a report shows the wildcards as ANY and PROC_NULL as None."""
    from zmqmesh.runtime.engine import call_words

    assert call_words("barrier") == "barrier"
    assert call_words(("recv(source={}, tag={})", 1, 5)) == "recv(source=1, tag=5)"
    assert call_words(("recv(source={}, tag={})", -1, -1)) == "recv(source=ANY, tag=ANY)"
    assert call_words(("sendrecv(dest={}, source={})", None, 2)) == "sendrecv(dest=None, source=2)"
