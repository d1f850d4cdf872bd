"""What frontends need, over HTTP (DESIGN §8.6): viewer; each entry's redemptionsRemaining,
redeemable and validTillLocal on both faces; every ...ISO field naming the instant of its epoch
twin. The rules themselves are in tests/unit/test_presentation.py and tests/services/test_viewer.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.domain.clock import DAY_MS, now_ms, to_local_iso
from app.persistence.database import Database
from tests.api.test_queries import CUSTOMER_ID, entry
from tests.conftest import ORG_ID
from tests.lifecycle_documents import HOLD, REVERSE
from tests.support import ClientCredentials, GraphQLClient
from tests.wallet_world import REDEEM, line, purchase

REST = "/api_gateway/v1/promotions"
VIEWER = "{ viewer { clientName scopes org { id name timezone } } }"
WALLET = """query($id: Long!) { wallet(customerId: $id, first: 100) { edges { node {
  id status validTill validTillISO validTillLocal eventTime eventTimeISO
  redemptionsAllowed redemptionsUsed redemptionsHeld redemptionsRemaining redeemable
  promotion { startDate startDateISO endDate endDateISO } } } } }"""


def instant(iso: str) -> int:
    """Epoch milliseconds of an ISO-8601 text (Z or an offset), exactly."""
    parsed = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None, iso
    return (parsed - datetime(1970, 1, 1, tzinfo=UTC)) // (datetime.resolution * 1000)


def assert_iso_twins(record: dict[str, Any], *names: str) -> None:
    for name in names:
        assert record[f"{name}ISO"].endswith("Z"), record
        assert instant(record[f"{name}ISO"]) == record[name], (name, record)


async def wallet(gql: GraphQLClient) -> dict[str, dict[str, Any]]:
    data = await gql.data(WALLET, {"id": CUSTOMER_ID})
    return {edge["node"]["id"]: edge["node"] for edge in data["wallet"]["edges"]}


# --- viewer ----------------------------------------------------------------------------------------


async def test_the_viewer_is_the_callers_client_name_scopes_and_org_with_its_timezone(
    gql: GraphQLClient,
    org_clients: dict[str, ClientCredentials],
    other_org_clients: dict[str, ClientCredentials],
) -> None:
    reader = await gql.data(VIEWER, as_=org_clients["reader"])
    admin = await gql.data(VIEWER, as_=other_org_clients["admin"])
    assert reader == {
        "viewer": {
            "clientName": "reader",
            "scopes": ["wallet:read"],
            "org": {"id": ORG_ID, "name": f"Org {ORG_ID}", "timezone": "Asia/Kolkata"},
        }
    }
    assert admin["viewer"]["scopes"] == ["admin", "wallet:read", "wallet:write"]
    assert admin["viewer"]["org"]["timezone"] == "UTC" and admin["viewer"]["org"]["id"] != ORG_ID


# --- entries ---------------------------------------------------------------------------------------


@pytest.fixture
async def entries(gql: GraphQLClient, database: Database) -> dict[str, str]:
    """One entry per case; returns case -> entry id."""
    await gql.create_customers(CUSTOMER_ID)
    now = now_ms()
    running = await gql.create_promotion(name="Running", maxRedemptionsPerEarn=3)
    upcoming = await gql.create_promotion(
        name="Upcoming", startDate=now + 7 * DAY_MS, maxRedemptionsPerEarn=2
    )
    made = {
        "partly used": await entry(database, running["id"], redemptions_used=1),
        "held": await entry(database, running["id"], redemptions_used=1, valid_till=now + 2 * DAY_MS),
        "locked": await entry(database, upcoming["id"]),
        "redeemed": await entry(database, running["id"], redemptions_used=3),
        "expired": await entry(database, running["id"], valid_till=now - 1000),
        "revoked": await entry(database, running["id"], revoked_at=now - 1000),
    }
    # a live hold of both counts left on "held" (it expires soonest, so the hold takes it)
    held = await gql.data(
        HOLD,
        {
            "input": {
                "redemption": purchase(CUSTOMER_ID, line(running["id"], 2, earnedPromotionId=made["held"]))
            }
        },
    )
    assert held["holdPromotions"]["__typename"] == "HoldPromotionsSuccess", held
    return made


async def test_every_entry_says_what_is_left_and_whether_it_can_be_redeemed_now(
    gql: GraphQLClient, entries: dict[str, str]
) -> None:
    found = await wallet(gql)
    facts = {
        case: (
            found[entry_id]["status"],
            found[entry_id]["redemptionsRemaining"],
            found[entry_id]["redeemable"],
        )
        for case, entry_id in entries.items()
    }
    assert facts == {
        "partly used": ("UNLOCKED", 2, True),
        "held": ("UNLOCKED", 0, False),  # all it has left is held
        "locked": ("LOCKED", 2, False),
        "redeemed": ("REDEEMED", 0, False),
        "expired": ("EXPIRED", 0, False),
        "revoked": ("REVOKED", 0, False),
    }


async def test_valid_till_local_is_the_same_instant_in_the_orgs_timezone_and_follows_a_change(
    gql: GraphQLClient, entries: dict[str, str]
) -> None:
    # the seed org is in Asia/Kolkata: validTill is the last millisecond of a local day
    for node in (await wallet(gql)).values():
        assert node["validTillLocal"] == to_local_iso(node["validTill"], ZoneInfo("Asia/Kolkata"))
        assert instant(node["validTillLocal"]) == node["validTill"]
    # when the org moves
    changed = await gql.data(
        """mutation { updateOrgSettings(input: { timezone: "America/New_York" }) { __typename } }"""
    )
    assert changed["updateOrgSettings"]["__typename"] == "UpdateOrgSettingsSuccess"
    # then the next read speaks the new offset; validTill itself never moves
    for node in (await wallet(gql)).values():
        assert node["validTillLocal"] == to_local_iso(node["validTill"], ZoneInfo("America/New_York"))
        assert node["validTillLocal"][-6:] in ("-05:00", "-04:00")


async def test_the_rest_wallet_gives_the_same_three_facts_as_graphql(
    gql: GraphQLClient,
    http: httpx.AsyncClient,
    org_clients: dict[str, ClientCredentials],
    entries: dict[str, str],
) -> None:
    graphql = await wallet(gql)
    response = await http.get(
        f"{REST}/customer/{CUSTOMER_ID}", params={"limit": 100}, headers=org_clients["reader"].headers
    )
    assert response.status_code == 200, response.text
    rest = {x["id"]: x for x in response.json()["data"]["customerEarnedPromotions"]}
    assert set(rest) == set(graphql)
    for entry_id, node in graphql.items():
        keys = ("redemptionsRemaining", "redeemable", "validTillLocal", "validTillISO", "eventTimeISO")
        assert {k: rest[entry_id][k] for k in keys} == {k: node[k] for k in keys}


# --- ISO twins -------------------------------------------------------------------------------------


async def test_every_iso_field_names_the_instant_of_its_epoch_twin_on_both_faces(
    gql: GraphQLClient,
    http: httpx.AsyncClient,
    database: Database,
    org_clients: dict[str, ClientCredentials],
    entries: dict[str, str],
) -> None:
    # wallet entries and their promotions (validTill ends at .999; starts have any milliseconds)
    nodes = list((await wallet(gql)).values())
    for node in nodes:
        assert_iso_twins(node, "validTill", "eventTime")
        assert_iso_twins(node["promotion"], "startDate", "endDate")
    assert all(node["validTillISO"].endswith(".999Z") for node in nodes if node["validTill"] % 1000 == 999)
    # a redemption at a transactionDate with milliseconds, its reversal, a hold
    promotion = (await gql.create_promotion(maxRedemptionsPerEarn=1))["id"]
    for _ in range(4):
        await entry(database, promotion)
    sold = purchase(CUSTOMER_ID, line(promotion), txn="iso-1", transactionDate=1743521508123)
    redemption = (await gql.data(REDEEM, {"input": sold}))["redeemPromotions"]["redemption"]
    assert redemption["transactionDateISO"] == "2025-04-01T15:31:48.123Z"
    reversal = await gql.data(
        REVERSE, {"input": {"transactionIdentifier": "iso-1", "reversalIdentifier": "r-1"}}
    )
    assert_iso_twins(reversal["reverseRedemption"]["reversal"], "createdAt")
    held = await gql.data(
        HOLD, {"input": {"redemption": purchase(CUSTOMER_ID, line(promotion), txn="iso-2")}}
    )
    assert_iso_twins(held["holdPromotions"]["hold"], "expiresAt")

    # REST: the wallet, a redemption whose date is a whole second, one with milliseconds, a hold
    headers = org_clients["writer"].headers
    listed = await http.get(f"{REST}/customer/{CUSTOMER_ID}", params={"limit": 100}, headers=headers)
    for record in listed.json()["data"]["customerEarnedPromotions"]:
        assert_iso_twins(record, "validTill", "eventTime")
    for txn, date, text in (
        ("iso-3", 1743521508000, "2025-04-01T15:31:48Z"),
        ("iso-4", 1743521508123, "2025-04-01T15:31:48.123Z"),
    ):
        body = purchase(CUSTOMER_ID, line(promotion), txn=txn, transactionDate=date)
        response = await http.post(f"{REST}/redemptions", json=body, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["data"]["transactionDateISO"] == text
    hold_response = await http.post(
        f"{REST}/holds", json=purchase(CUSTOMER_ID, line(promotion), txn="iso-5"), headers=headers
    )
    assert hold_response.status_code == 200, hold_response.text
    assert_iso_twins(hold_response.json()["data"], "expiresAt")


# --- Long above 2^53 -------------------------------------------------------------------------------

BIG = 2**53 + 1  # 9007199254740993: a JavaScript number cannot hold it (it reads ...992)


async def test_long_accepts_numeric_strings_in_variables_and_literals_and_answers_exact_numbers(
    gql: GraphQLClient, http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials]
) -> None:
    # given a customer with an id above 2^53, created with the id as a string
    created = await gql.data(
        """mutation($c: [CreateCustomerInput!]!) { importCustomers(customers: $c) {
             ... on ImportCustomersSuccess { createdCount } } }""",
        {"c": [{"id": str(BIG)}]},
    )
    assert created["importCustomers"]["createdCount"] == 1
    promotion = await gql.create_promotion()
    # when it is named by a numeric string: a variable, a literal, an element of a list literal
    by_variable = await gql.data("query($id: Long) { customer(id: $id) { id } }", {"id": str(BIG)})
    by_literal = await gql.data(f'{{ customer(id: "{BIG}") {{ id }} }}')
    issued = await gql.data(
        f"""mutation {{ issuePromotion(promotionId: "{promotion["id"]}", contextId: "big",
             customerIds: ["{BIG}"]) {{
               ... on IssuePromotionSuccess {{ earnedPromotions {{ customerId }} }} }} }}"""
    )
    # then the answers are JSON numbers, exact in the raw text
    assert by_variable == by_literal == {"customer": {"id": BIG}}
    assert issued["issuePromotion"]["earnedPromotions"] == [{"customerId": BIG}]
    raw = await gql.raw(
        "query($id: Long!) { wallet(customerId: $id) { edges { node { customerId } } } }", {"id": str(BIG)}
    )
    assert f'"customerId":{BIG}' in raw.text.replace(" ", "")
    # and REST takes the id as a string too
    rest = await http.get(f"{REST}/customer/{BIG}", headers=org_clients["reader"].headers)
    assert rest.status_code == 200 and rest.json()["data"]["customerEarnedPromotions"][0]["customerId"] == BIG
