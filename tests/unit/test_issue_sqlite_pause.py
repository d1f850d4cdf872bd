from __future__ import annotations

import pytest

from app.services.issue import _sqlite_poll_interval_s


@pytest.mark.parametrize(
    ("waited_ms", "interval_ms"),
    [(0, 1), (1, 2), (3, 5), (60, 25), (128, 50), (227, 50), (228, 100), (5_000, 100)],
)
def test_the_pause_between_chunks_covers_a_waiting_writers_next_poll(
    waited_ms: int, interval_ms: int
) -> None:
    assert _sqlite_poll_interval_s(waited_ms / 1000) == interval_ms / 1000
