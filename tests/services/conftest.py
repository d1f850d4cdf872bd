"""Fixtures of the service tests: a fake store and unit-of-work factory (no database, no HTTP),
the calling client, and `given` to put rows straight into the store."""

from __future__ import annotations

import pytest

from app.domain.clock import now_ms
from app.domain.models import Principal
from tests.fakes import FakeStore, FakeUnitOfWorkFactory
from tests.services.factories import Given, principal_of


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def uow_factory(store: FakeStore) -> FakeUnitOfWorkFactory:
    return FakeUnitOfWorkFactory(store)


@pytest.fixture
def principal() -> Principal:
    return principal_of()


@pytest.fixture
def now() -> int:
    return now_ms()


@pytest.fixture
def given(store: FakeStore, now: int) -> Given:
    """The caller's org exists (default settings); everything else is up to the test."""
    given = Given(store, now)
    given.org()
    return given
