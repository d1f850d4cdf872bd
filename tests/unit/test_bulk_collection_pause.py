"""The cyclic collector paused for a bulk call (services/admin.collection_paused)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from app.services.admin import collection_paused


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    (gc.enable if enabled else gc.disable)()


def test_the_collector_is_off_inside_and_on_again_after_even_when_the_call_fails() -> None:
    gc.enable()
    with collection_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collection_paused():
        raise RuntimeError("the import failed")
    assert gc.isenabled()


def test_an_overlapping_call_leaves_the_collector_to_the_one_that_turned_it_off() -> None:
    gc.enable()
    first = collection_paused()
    first.__enter__()
    with collection_paused():
        pass
    assert not gc.isenabled()  # the first call is still running
    first.__exit__(None, None, None)
    assert gc.isenabled()


def test_a_collector_turned_off_before_stays_off() -> None:
    gc.disable()
    with collection_paused():
        pass
    assert not gc.isenabled()
