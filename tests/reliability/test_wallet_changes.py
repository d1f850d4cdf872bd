"""walletChanged over graphql-transport-ws against real server processes: on PostgreSQL a change
committed through one process reaches a subscriber on the other (LISTEN/NOTIFY); on SQLite, in
the one process. Subscriptions authenticate like HTTP and see their own org only."""

from __future__ import annotations

import time
from typing import Any

from app.persistence.database import create_database
from app.settings import Settings
from tests.reliability.harness import REDEEM, REVOKE, Org, new_org
from tests.subscriptions import Subscription, refusal_of, subscription_connection
from tests.support import add_test_client, basic_auth
from tests.wallet_world import line, purchase

WALLET_CHANGED = """subscription($c: Long!) { walletChanged(customerId: $c) {
  id customerId promotionId status redemptionsAllowed redemptionsUsed redemptionsHeld } }"""
CUSTOMER = 4242


async def live(org: Org, client: Subscription, customer_id: int) -> dict[str, Any]:
    """Subscribe, and issue fresh promotions to the customer until the first push arrives: from
    then on the subscription is surely following. The pushed entry."""
    operation = await client.subscribe(WALLET_CHANGED, {"c": customer_id})
    for attempt in range(20):
        await org.issue(await org.promotion(), f"warm-up-{attempt}", [customer_id])
        try:
            message = await client.receive(0.5)
        except TimeoutError:
            continue
        assert message == message | {"id": operation, "type": "next"}, message
        return message["payload"]["data"]["walletChanged"]  # type: ignore[no-any-return]
    raise AssertionError("the subscription never pushed an issue to its customer")


async def test_a_redemption_through_one_process_reaches_a_subscriber_on_another_within_a_second(
    org: Org,
) -> None:
    # given a customer with a two-use entry, and a live subscriber to the customer's wallet on the
    # last server process (on PostgreSQL there are two; the redemption goes through the first)
    await org.customers([CUSTOMER])
    promotion = await org.promotion(maxRedemptionsPerEarn=2)
    entry_id = (await org.issue(promotion, "ctx", [CUSTOMER]))[CUSTOMER]
    writer, reader = org.base_urls[0], org.base_urls[-1]
    async with subscription_connection(reader, headers=org.headers) as client:
        await live(org, client, CUSTOMER)
        # when the entry is redeemed once through the other process
        sent = time.monotonic()
        payload = await org.call(REDEEM, {"input": purchase(CUSTOMER, line(promotion))}, base_url=writer)
        assert payload["__typename"] == "RedeemPromotionsSuccess", payload
        message = await client.receive(1.0)
        # then within a second of the request the subscriber has the entry as it now stands
        assert time.monotonic() - sent < 1.0
    pushed = message["payload"]["data"]["walletChanged"]
    assert pushed == {
        "id": entry_id,
        "customerId": CUSTOMER,
        "promotionId": promotion,
        "status": "UNLOCKED",
        "redemptionsAllowed": 2,
        "redemptionsUsed": 1,
        "redemptionsHeld": 0,
    }


async def test_a_revocation_is_pushed_and_other_customers_changes_are_not(org: Org) -> None:
    # given two customers, and a subscriber of the first, authenticated by connection_init
    await org.customers([CUSTOMER, CUSTOMER + 1])
    promotion = await org.promotion()
    entries = await org.issue(promotion, "ctx", [CUSTOMER, CUSTOMER + 1])
    async with subscription_connection(
        org.base_urls[-1], init_payload={"Authorization": org.headers["Authorization"]}
    ) as client:
        await live(org, client, CUSTOMER)
        # when the other customer's entry is revoked, then the first customer's
        for customer in (CUSTOMER + 1, CUSTOMER):
            payload = await org.call(REVOKE, {"c": customer, "ids": [entries[customer]]}, org.base_urls[0])
            assert payload["__typename"] == "RevokeEarnedPromotionsSuccess", payload
        # then only the first customer's revocation is pushed
        message = await client.receive(2.0)
        assert await client.silent_for(0.3)
    pushed = message["payload"]["data"]["walletChanged"]
    assert (pushed["id"], pushed["status"]) == (entries[CUSTOMER], "REVOKED")


async def test_another_orgs_subscriber_to_the_same_customer_id_is_sent_nothing(
    org: Org, cluster: tuple[str, list[str]]
) -> None:
    # given another org, with a customer of the same id followed by its client
    other = await new_org(*cluster)
    try:
        await other.customers([CUSTOMER])
        await org.customers([CUSTOMER])
        async with subscription_connection(other.base_urls[-1], headers=other.headers) as stranger:
            await live(other, stranger, CUSTOMER)
            # when the first org issues to its own customer of that id
            await org.issue(await org.promotion(), "ctx", [CUSTOMER])
            # then the other org's subscriber hears nothing of it
            assert await stranger.silent_for(1.5)
    finally:
        await other.close()


async def test_a_connection_without_valid_credentials_is_refused_before_any_operation(org: Org) -> None:
    base_url = org.base_urls[0]
    # no credentials at all, a wrong password on the upgrade, a wrong one in connection_init
    assert (await refusal_of(base_url))[0] == 4403
    assert (await refusal_of(base_url, headers=basic_auth(f"admin-{org.org_id}", "wrong")))[0] == 4403
    assert (
        await refusal_of(
            base_url, init_payload={"Authorization": basic_auth(f"admin-{org.org_id}", "no")["Authorization"]}
        )
    )[0] == 4403


async def test_a_client_without_wallet_read_may_not_subscribe(org: Org) -> None:
    # given a client of the org with wallet:write only
    database = create_database(Settings(database_url=org.database_url, _env_file=None))  # type: ignore[call-arg]
    try:
        await add_test_client(
            database,
            org_id=org.org_id,
            name="writer",
            scopes=["wallet:write"],
            username=f"writer-{org.org_id}",
            password="writer-secret",
        )
    finally:
        await database.dispose()
    headers = basic_auth(f"writer-{org.org_id}", "writer-secret")
    async with subscription_connection(org.base_urls[0], headers=headers) as client:
        # when it subscribes, then it is told it lacks the scope
        operation = await client.subscribe(WALLET_CHANGED, {"c": CUSTOMER})
        message = await client.receive(5.0)
    assert message["id"] == operation
    assert message["type"] in {"error", "next"}, message
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "FORBIDDEN", errors
