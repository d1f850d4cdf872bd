"""The server freezes what start-up made and raises the collector's young threshold, once per
process: objects frozen are never collected, so a second app in the same process (the test suite
starts many) must not freeze again."""

from __future__ import annotations

from typing import Any

import pytest

import app.main as main


class RecordingGc:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def collect(self) -> int:
        self.calls.append(("collect", None))
        return 0

    def freeze(self) -> None:
        self.calls.append(("freeze", None))

    def set_threshold(self, *thresholds: int) -> None:
        self.calls.append(("set_threshold", thresholds))


def test_start_up_is_collected_then_frozen_and_the_threshold_raised_once_per_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a process that has not tuned its collector yet
    recording = RecordingGc()
    monkeypatch.setattr(main, "gc", recording)
    monkeypatch.setattr(main, "_gc_tuned", False)
    # when two apps start in it
    main.tune_gc_after_start_up()
    main.tune_gc_after_start_up()
    # then start-up's garbage is collected before the rest is frozen, and only the first start does it
    assert recording.calls == [
        ("collect", None),
        ("freeze", None),
        ("set_threshold", main.GC_THRESHOLDS),
    ]
    assert main.GC_THRESHOLDS[0] > 700  # younger collections rarer than CPython's default
