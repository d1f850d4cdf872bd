"""viewer and the org's timezone on fakes (DESIGN §8.6)."""

from __future__ import annotations

import pytest

from app.domain.errors import InvalidRequest
from app.domain.models import ApiClientRecord, Principal, Scope
from app.services.viewer import org_timezone, viewer
from tests.fakes import FakeStore, FakeUnitOfWorkFactory
from tests.services.factories import MISSING_ORG_ID, ORG_ID, Given


def client(store: FakeStore, *scopes: Scope, org_id: int = ORG_ID) -> Principal:
    record = store.put_client(
        ApiClientRecord(
            id=7,
            org_id=org_id,
            name="Checkout tills",
            username="pos-1",
            secret_hash="unused",
            scopes=tuple(scope.value for scope in scopes),
            active=True,
        )
    )
    return Principal(org_id=org_id, client_id=record.id, username=record.username, scopes=frozenset(scopes))


async def test_the_viewer_is_the_clients_name_its_scopes_and_its_org_with_the_timezone(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, given: Given
) -> None:
    # given
    given.settings(timezone="Asia/Kolkata")
    caller = client(store, Scope.WALLET_WRITE, Scope.WALLET_READ)
    # when
    found = await viewer(uow_factory, caller)
    # then
    assert (found.client_name, found.username) == ("Checkout tills", "pos-1")
    assert found.scopes == (Scope.WALLET_READ, Scope.WALLET_WRITE)
    assert (found.org.id, found.org.name, found.org.settings.timezone) == (
        ORG_ID,
        f"org {ORG_ID}",
        "Asia/Kolkata",
    )


async def test_the_viewer_and_local_times_follow_a_timezone_change_at_once(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, given: Given
) -> None:
    caller = client(store, Scope.WALLET_READ)
    assert await org_timezone(uow_factory, caller) == "UTC"
    # when
    given.settings(timezone="America/New_York")
    # then
    assert (await viewer(uow_factory, caller)).org.settings.timezone == "America/New_York"
    assert await org_timezone(uow_factory, caller) == "America/New_York"


async def test_a_client_whose_org_is_gone_gets_the_one_missing_org_answer(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore
) -> None:
    caller = Principal(org_id=MISSING_ORG_ID, client_id=1, username="ghost", scopes=frozenset(Scope))
    before = store.state()
    with pytest.raises(InvalidRequest) as raised:
        await viewer(uow_factory, caller)
    assert raised.value.field == "org" and not raised.value.retryable
    assert store.state() == before
    assert await org_timezone(uow_factory, caller) is None
