"""Read queries over HTTP: customer, wallet, promotion(s), redemptions; scalars on the wire."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from app.domain.clock import DAY_MS, now_ms
from app.persistence.database import Database
from tests.conftest import ORG_ID
from tests.integration.wallet_rows import add_wallet_entry
from tests.support import GraphQLClient

CUSTOMER_ID = 5668819330

WALLET = """query($id: Long!, $first: Int, $after: String, $status: [EarnedPromotionStatus!],
                  $promotionId: String) {
  wallet(customerId: $id, first: $first, after: $after, status: $status, promotionId: $promotionId) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id customerId promotionId status validTill validTillISO eventTime eventTimeISO
      earnedFromType earnedFromId eventDetails { id type } redemptionsAllowed redemptionsUsed
      promotion { id name type } } } } }"""


async def entry(database: Database, promotion_id: str, customer_id: int = CUSTOMER_ID, **columns: Any) -> str:
    return await add_wallet_entry(
        database, org_id=ORG_ID, promotion_id=promotion_id, customer_id=customer_id, **columns
    )


async def given_entries(gql: GraphQLClient, database: Database, count: int) -> None:
    """Customer 5668819330 with `count` unlocked entries of one promotion."""
    await gql.create_customers(CUSTOMER_ID)
    promotion = await gql.create_promotion()
    for _ in range(count):
        await entry(database, promotion["id"])


@pytest.fixture
async def wallet_of_every_status(gql: GraphQLClient, database: Database) -> dict[str, str]:
    """Customer 5668819330 with one wallet entry in each status; returns status -> entry id."""
    await gql.create_customers(CUSTOMER_ID)
    now = now_ms()
    running = await gql.create_promotion(name="Running", maxRedemptionsPerEarn=2)
    upcoming = await gql.create_promotion(name="Upcoming", startDate=now + 7 * DAY_MS)
    return {
        "UNLOCKED": await entry(database, running["id"]),
        "LOCKED": await entry(database, upcoming["id"]),
        "REDEEMED": await entry(database, running["id"], redemptions_used=2),
        "EXPIRED": await entry(database, running["id"], valid_till=now - 1000),
        "REVOKED": await entry(database, running["id"], revoked_at=now - 1000, redemptions_used=1),
    }


# --- customer ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        f"id: {CUSTOMER_ID}",
        'identifierType: MOBILE, identifierValue: "9876543210"',
        'identifierType: EMAIL, identifierValue: "asha@example.com"',
        'identifierType: EXTERNAL_ID, identifierValue: "CRM-7"',
        f'id: {CUSTOMER_ID}, identifierType: MOBILE, identifierValue: "9876543210"',
    ],
)
async def test_a_customer_is_found_by_id_or_by_any_identifier(gql: GraphQLClient, arguments: str) -> None:
    # given
    await gql.create_customers(CUSTOMER_ID, mobile="9876543210", email="asha@example.com", externalId="CRM-7")
    await gql.create_customers(42, mobile="1111111111")
    # when
    data = await gql.data(f"{{ customer({arguments}) {{ id mobile email externalId }} }}")
    # then
    assert data == {
        "customer": {
            "id": CUSTOMER_ID,
            "mobile": "9876543210",
            "email": "asha@example.com",
            "externalId": "CRM-7",
        }
    }


@pytest.mark.parametrize(
    "arguments",
    [
        "id: 1",
        'identifierType: MOBILE, identifierValue: "0000000000"',
        'identifierType: EMAIL, identifierValue: "9876543210"',
        f'id: {CUSTOMER_ID}, identifierType: MOBILE, identifierValue: "1111111111"',
    ],
)
async def test_an_unknown_customer_is_null(gql: GraphQLClient, arguments: str) -> None:
    await gql.create_customers(CUSTOMER_ID, mobile="9876543210")
    await gql.create_customers(42, mobile="1111111111")
    assert await gql.data(f"{{ customer({arguments}) {{ id }} }}") == {"customer": None}


@pytest.mark.parametrize("arguments", ["", "identifierType: MOBILE", 'identifierValue: "9876543210"'])
async def test_a_customer_query_without_a_usable_key_is_a_readable_error(
    gql: GraphQLClient, arguments: str
) -> None:
    body = await gql(f"{{ customer{'(' + arguments + ')' if arguments else ''} {{ id }} }}")
    assert body["data"] == {"customer": None}
    assert "identifierType" in body["errors"][0]["message"]
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


# --- wallet statuses and filters -----------------------------------------------------------------


async def test_wallet_shows_each_entry_with_its_computed_status(
    gql: GraphQLClient, wallet_of_every_status: dict[str, str]
) -> None:
    # when
    data = await gql.data(WALLET, {"id": CUSTOMER_ID})
    # then
    statuses = {edge["node"]["id"]: edge["node"]["status"] for edge in data["wallet"]["edges"]}
    assert statuses == {entry_id: status for status, entry_id in wallet_of_every_status.items()}
    assert data["wallet"]["totalCount"] == 5


@pytest.mark.parametrize(
    "wanted",
    [
        ["UNLOCKED"],
        ["LOCKED"],
        ["REDEEMED"],
        ["EXPIRED"],
        ["REVOKED"],
        ["UNLOCKED", "LOCKED"],
        ["EXPIRED", "REVOKED", "REDEEMED"],
    ],
)
async def test_the_status_filter_returns_only_entries_in_those_statuses(
    gql: GraphQLClient, wallet_of_every_status: dict[str, str], wanted: list[str]
) -> None:
    # when
    data = await gql.data(WALLET, {"id": CUSTOMER_ID, "status": wanted})
    # then
    found = {edge["node"]["id"] for edge in data["wallet"]["edges"]}
    assert found == {wallet_of_every_status[status] for status in wanted}
    assert {edge["node"]["status"] for edge in data["wallet"]["edges"]} == set(wanted)
    assert data["wallet"]["totalCount"] == len(wanted)


async def test_the_promotion_filter_returns_only_that_promotions_entries(
    gql: GraphQLClient, database: Database
) -> None:
    # given
    await gql.create_customers(CUSTOMER_ID)
    first = await gql.create_promotion(name="First")
    second = await gql.create_promotion(name="Second")
    mine = {await entry(database, first["id"]), await entry(database, first["id"])}
    await entry(database, second["id"])
    # when
    data = await gql.data(WALLET, {"id": CUSTOMER_ID, "promotionId": first["id"]})
    # then
    assert {edge["node"]["id"] for edge in data["wallet"]["edges"]} == mine
    assert data["wallet"]["totalCount"] == 2


async def test_a_wallet_entry_carries_its_fields_and_its_promotion(
    gql: GraphQLClient, database: Database
) -> None:
    # given an entry made at a known instant of a promotion ending in 30 days
    await gql.create_customers(CUSTOMER_ID)
    promotion = await gql.create_promotion(name="Welcome 200 off", maxRedemptionsPerEarn=3)
    event_time = 1748716199999 - 5 * DAY_MS
    entry_id = await entry(
        database, promotion["id"], event_time=event_time, earned_from_id="welcome-2025", redemptions_used=1
    )
    # when
    data = await gql.data(WALLET, {"id": CUSTOMER_ID})
    # then
    node = data["wallet"]["edges"][0]["node"]
    assert node | {"validTill": None, "validTillISO": None} == {
        "id": entry_id,
        "customerId": CUSTOMER_ID,
        "promotionId": promotion["id"],
        "status": "UNLOCKED",
        "validTill": None,
        "validTillISO": None,
        "eventTime": event_time,
        "eventTimeISO": "2025-05-26T18:29:59.999Z",
        "earnedFromType": "BULK_ISSUE",
        "earnedFromId": "welcome-2025",
        "eventDetails": {"id": "welcome-2025", "type": "BULK_ISSUE"},
        "redemptionsAllowed": 3,
        "redemptionsUsed": 1,
        "promotion": {"id": promotion["id"], "name": "Welcome 200 off", "type": "CUSTOMER"},
    }
    # validTill is the end of the promotion's last day in Asia/Kolkata, 18:29:59.999 UTC
    assert node["validTill"] % DAY_MS == (18 * 3600 + 29 * 60 + 59) * 1000 + 999
    assert node["validTillISO"].endswith("T18:29:59.999Z")


async def test_customer_wallet_field_answers_like_the_root_wallet(
    gql: GraphQLClient, wallet_of_every_status: dict[str, str]
) -> None:
    data = await gql.data(
        """query($id: Long!) { customer(id: $id) { wallet(status: [UNLOCKED, LOCKED]) { totalCount
             edges { node { id } } } redemptions { totalCount edges { node { id } } } } }""",
        {"id": CUSTOMER_ID},
    )
    wallet = data["customer"]["wallet"]
    assert {e["node"]["id"] for e in wallet["edges"]} == {
        wallet_of_every_status["UNLOCKED"],
        wallet_of_every_status["LOCKED"],
    }
    assert data["customer"]["redemptions"] == {"totalCount": 0, "edges": []}


async def test_a_wallet_of_an_unknown_customer_is_empty(gql: GraphQLClient) -> None:
    data = await gql.data(WALLET, {"id": 999})
    assert data["wallet"] == {
        "totalCount": 0,
        "pageInfo": {"hasNextPage": False, "endCursor": None},
        "edges": [],
    }


# --- pagination ----------------------------------------------------------------------------------


async def test_wallet_pages_cover_every_entry_once_in_soonest_expiring_order(
    gql: GraphQLClient, database: Database
) -> None:
    # given 23 entries; several share a validTill (same promotion, same day)
    await gql.create_customers(CUSTOMER_ID)
    now = now_ms()
    promotions = [await gql.create_promotion(name=f"P{i}", endDate=now + (i + 1) * DAY_MS) for i in range(4)]
    made = set()
    for i in range(23):
        made.add(await entry(database, promotions[i % 4]["id"]))
    # when the wallet is read 10 at a time
    pages, after = [], None
    while True:
        data = await gql.data(WALLET, {"id": CUSTOMER_ID, "first": 10, "after": after})
        pages.append(data["wallet"])
        if not data["wallet"]["pageInfo"]["hasNextPage"]:
            break
        after = data["wallet"]["pageInfo"]["endCursor"]
    # then
    assert [len(p["edges"]) for p in pages] == [10, 10, 3]
    assert all(p["totalCount"] == 23 for p in pages)
    nodes = [edge["node"] for page in pages for edge in page["edges"]]
    assert [n["id"] for n in nodes].__len__() == len({n["id"] for n in nodes}) == 23
    assert {n["id"] for n in nodes} == made
    keys = [(n["validTill"], n["id"]) for n in nodes]
    assert keys == sorted(keys)
    assert all(p["pageInfo"]["endCursor"] == p["edges"][-1]["cursor"] for p in pages)


async def test_a_page_past_the_end_is_empty_and_still_counts_the_whole_wallet(
    gql: GraphQLClient, database: Database
) -> None:
    # given three entries, read as one page
    await given_entries(gql, database, 3)
    whole = await gql.data(WALLET, {"id": CUSTOMER_ID, "first": 3})
    # when the page after the last entry is read (its total cannot come with its rows: it has none)
    past = await gql.data(
        WALLET, {"id": CUSTOMER_ID, "first": 3, "after": whole["wallet"]["pageInfo"]["endCursor"]}
    )
    # then
    assert past["wallet"] == {
        "totalCount": 3,
        "pageInfo": {"hasNextPage": False, "endCursor": None},
        "edges": [],
    }


async def test_an_exact_last_page_says_there_is_no_next_page(gql: GraphQLClient, database: Database) -> None:
    await given_entries(gql, database, 4)
    first = await gql.data(WALLET, {"id": CUSTOMER_ID, "first": 2})
    second = await gql.data(
        WALLET, {"id": CUSTOMER_ID, "first": 2, "after": first["wallet"]["pageInfo"]["endCursor"]}
    )
    assert first["wallet"]["pageInfo"]["hasNextPage"] is True
    assert second["wallet"]["pageInfo"]["hasNextPage"] is False
    assert len(second["wallet"]["edges"]) == 2


async def test_first_defaults_to_20_and_first_0_returns_no_edges(
    gql: GraphQLClient, database: Database
) -> None:
    await given_entries(gql, database, 21)
    default = await gql.data(
        "query { wallet(customerId: 5668819330) { edges { cursor } pageInfo { hasNextPage } } }"
    )
    none = await gql.data(WALLET, {"id": CUSTOMER_ID, "first": 0})
    assert len(default["wallet"]["edges"]) == 20 and default["wallet"]["pageInfo"]["hasNextPage"] is True
    assert none["wallet"]["edges"] == [] and none["wallet"]["totalCount"] == 21


@pytest.mark.parametrize("first", [101, 1000, -1])
@pytest.mark.parametrize(
    "field",
    ["wallet(customerId: 1, first: $first)", "promotions(first: $first)", "redemptions(first: $first)"],
)
async def test_first_outside_0_to_100_is_a_readable_error(gql: GraphQLClient, first: int, field: str) -> None:
    body = await gql(f"query($first: Int) {{ {field} {{ totalCount }} }}", {"first": first})
    assert body["data"] is None
    assert "first must be between 0 and 100" in body["errors"][0]["message"]
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "errorCode": 400, "field": "first"}


@pytest.mark.parametrize("cursor", ["garbage", "eyJhIjoxfQ==", "WzEsMl0=", ""])
@pytest.mark.parametrize("field", ["wallet(customerId: 1, after: $after)", "promotions(after: $after)"])
async def test_a_cursor_the_list_did_not_return_is_a_readable_error(
    gql: GraphQLClient, cursor: str, field: str
) -> None:
    await gql.create_promotion()
    body = await gql(f"query($after: String) {{ {field} {{ totalCount }} }}", {"after": cursor})
    if cursor == "":
        # an empty cursor means "from the start"
        assert "errors" not in body, body
        return
    assert body["data"] is None
    assert "after is not a cursor" in body["errors"][0]["message"]
    assert body["errors"][0]["extensions"]["field"] == "after"


# --- promotions ----------------------------------------------------------------------------------

PROMOTIONS = """query($status: PromotionStatus, $type: PromotionType, $first: Int, $after: String) {
  promotions(status: $status, type: $type, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id name type status } } } }"""


@pytest.fixture
async def promotions_of_every_status(gql: GraphQLClient) -> dict[str, str]:
    now = now_ms()
    return {
        "ACTIVE": (await gql.create_promotion(name="active", type="CUSTOMER"))["id"],
        "UPCOMING": (await gql.create_promotion(name="upcoming", type="EARNING", startDate=now + DAY_MS))[
            "id"
        ],
        "EXPIRED": (
            await gql.create_promotion(
                name="expired", type="POS", startDate=now - 9 * DAY_MS, endDate=now - DAY_MS
            )
        )["id"],
        "INACTIVE": (await gql.create_promotion(name="inactive", type="CUSTOMER", active=False))["id"],
    }


@pytest.mark.parametrize("status", ["ACTIVE", "UPCOMING", "EXPIRED", "INACTIVE"])
async def test_promotions_filter_by_status(
    gql: GraphQLClient, promotions_of_every_status: dict[str, str], status: str
) -> None:
    data = await gql.data(PROMOTIONS, {"status": status})
    assert [e["node"]["id"] for e in data["promotions"]["edges"]] == [promotions_of_every_status[status]]
    assert data["promotions"]["edges"][0]["node"]["status"] == status
    assert data["promotions"]["totalCount"] == 1


async def test_promotions_filter_by_type_and_status_together(
    gql: GraphQLClient, promotions_of_every_status: dict[str, str]
) -> None:
    by_type = await gql.data(PROMOTIONS, {"type": "CUSTOMER"})
    both = await gql.data(PROMOTIONS, {"type": "CUSTOMER", "status": "INACTIVE"})
    none = await gql.data(PROMOTIONS, {"type": "REWARD"})
    assert {e["node"]["id"] for e in by_type["promotions"]["edges"]} == {
        promotions_of_every_status["ACTIVE"],
        promotions_of_every_status["INACTIVE"],
    }
    assert [e["node"]["id"] for e in both["promotions"]["edges"]] == [promotions_of_every_status["INACTIVE"]]
    assert none["promotions"] == {
        "totalCount": 0,
        "pageInfo": {"hasNextPage": False, "endCursor": None},
        "edges": [],
    }


async def test_promotion_pages_cover_every_promotion_once(gql: GraphQLClient) -> None:
    # given 7 promotions
    made = {(await gql.create_promotion(name=f"P{i}"))["id"] for i in range(7)}
    # when read 3 at a time
    seen, after, pages = [], None, 0
    while True:
        data = (await gql.data(PROMOTIONS, {"first": 3, "after": after}))["promotions"]
        pages += 1
        seen += [e["node"]["id"] for e in data["edges"]]
        assert data["totalCount"] == 7
        if not data["pageInfo"]["hasNextPage"]:
            break
        after = data["pageInfo"]["endCursor"]
    # then
    assert pages == 3 and len(seen) == 7 and set(seen) == made


async def test_a_promotion_is_read_by_id_with_iso_dates(gql: GraphQLClient) -> None:
    # given a promotion with known dates
    created = await gql.create_promotion(name="Spec dates", startDate=1735689600000, endDate=1748716199999)
    # when
    data = await gql.data(
        """query($id: String!) { promotion(id: $id) { id name type status active startDate startDateISO
             endDate endDateISO redemptionWindowDays maxRedemptionsPerEarn maxEarnsPerCustomer } }""",
        {"id": created["id"]},
    )
    # then
    assert data["promotion"] == {
        "id": created["id"],
        "name": "Spec dates",
        "type": "CUSTOMER",
        "status": "EXPIRED",
        "active": True,
        "startDate": 1735689600000,
        "startDateISO": "2025-01-01T00:00:00Z",
        "endDate": 1748716199999,
        "endDateISO": "2025-05-31T18:29:59.999Z",
        "redemptionWindowDays": None,
        "maxRedemptionsPerEarn": 1,
        "maxEarnsPerCustomer": None,
    }


async def test_an_unknown_promotion_is_null(gql: GraphQLClient) -> None:
    assert await gql.data('{ promotion(id: "ffffffffffffffffffffffff") { id } }') == {"promotion": None}
    assert await gql.data('{ promotion(id: "not an id") { id } }') == {"promotion": None}


# --- redemptions ---------------------------------------------------------------------------------


async def test_redemptions_of_a_customer_without_any_is_an_empty_connection(gql: GraphQLClient) -> None:
    await gql.create_customers(CUSTOMER_ID)
    data = await gql.data(
        """query($id: Long) { redemptions(customerId: $id) { totalCount pageInfo { hasNextPage endCursor }
             edges { cursor node { id } } } }""",
        {"id": CUSTOMER_ID},
    )
    assert data["redemptions"] == {
        "totalCount": 0,
        "pageInfo": {"hasNextPage": False, "endCursor": None},
        "edges": [],
    }


# --- DataLoader ----------------------------------------------------------------------------------


@contextmanager
def promotion_selects(database: Database) -> Iterator[list[str]]:
    """Records every SELECT that reads the promotion table."""
    seen: list[str] = []
    pattern = re.compile(r"\b(FROM|JOIN) promotion\b", re.IGNORECASE)

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if pattern.search(statement):
            seen.append(statement)

    engines = [engine.sync_engine for engine in database.engines]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


async def test_the_promotions_of_a_wallet_page_are_loaded_in_one_query(
    gql: GraphQLClient, database: Database
) -> None:
    # given 12 entries over 3 promotions
    await gql.create_customers(CUSTOMER_ID)
    promotions = [await gql.create_promotion(name=f"P{i}") for i in range(3)]
    for i in range(12):
        await entry(database, promotions[i % 3]["id"])
    # when the wallet is read with each entry's promotion
    with promotion_selects(database) as selects:
        data = await gql.data(WALLET, {"id": CUSTOMER_ID})
    # then every promotion resolved, from a single query
    names = {e["node"]["promotionId"]: e["node"]["promotion"]["name"] for e in data["wallet"]["edges"]}
    assert names == {p["id"]: p["name"] for p in promotions}
    assert len(selects) == 1, selects


# --- scalars on the wire -------------------------------------------------------------------------


@pytest.mark.parametrize("value", [5668819330, "5668819330"])
async def test_long_variables_accept_a_number_or_a_numeric_string(gql: GraphQLClient, value: object) -> None:
    await gql.create_customers(CUSTOMER_ID)
    data = await gql.data("query($id: Long) { customer(id: $id) { id } }", {"id": value})
    assert data == {"customer": {"id": CUSTOMER_ID}}


@pytest.mark.parametrize("value", [2**63, "9223372036854775808", "abc", "12.5", 1.5, True])
async def test_long_variables_outside_64_bits_or_not_integers_are_validation_errors(
    gql: GraphQLClient, value: object
) -> None:
    body = await gql("query($id: Long) { customer(id: $id) { id } }", {"id": value})
    assert "data" not in body or body["data"] is None
    assert "Long cannot represent" in body["errors"][0]["message"]


async def test_long_literals_beyond_32_bits_work_in_the_document(gql: GraphQLClient) -> None:
    await gql.create_customers(CUSTOMER_ID)
    assert await gql.data("{ customer(id: 5668819330) { id } }") == {"customer": {"id": CUSTOMER_ID}}
    body = await gql("{ customer(id: 9223372036854775808) { id } }")
    assert body.get("data") is None and body["errors"]
