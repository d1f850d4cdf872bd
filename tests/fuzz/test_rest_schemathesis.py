"""schemathesis against the OpenAPI document of the REST routes: generated requests (valid ones,
from the schemas and the spec pages' examples, and invalid ones) never get a server error, the
answers to valid requests conform to the documented responses, and the document agrees with the
server: a request it calls valid is not refused as invalid (positive_data_acceptance: any answer
but a 400, 415 or 422; a 404 for an id that does not exist is an answer, not a disagreement).

What a JSON Schema cannot say is kept by `_within_unstated_rules`, one documented rule each (the
README's REST section lists them): the values that depend on the caller (its org), on state
(a transactionIdentifier already used for other content) or on other values of the same body
(totals that agree, each (promotionId, earnedFromId) pair once), and the opaque cursors, which
are drawn as well-formed positions instead. Everything else of a generated request goes out as
generated.

Bounded and repeatable: a fixed number of examples per operation and mode, derandomized. The app
runs in-process (schemathesis' ASGI transport, with the app's lifespan) over this test's empty
database, seeded with the spec pages' org, customers, promotions and wallet entry so that the
examples and the generated bodies reach the services' success paths too.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import math
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.domain.clock import DAY_MS, now_ms
from app.domain.commands import CreateCustomer
from app.domain.earn_rules import MAX_EARN_INSTANCES
from app.domain.earning import new_earned_promotion
from app.domain.models import EarnedFromType, EventDetails, Principal, Promotion, PromotionType, Scope
from app.domain.paging import encode_cursor
from app.main import create_app
from app.persistence.database import create_database
from app.persistence.uow import SqlUnitOfWork, SqlUnitOfWorkFactory
from app.rest.auth import ORG_HEADER
from app.rest.routes import PREFIXES
from app.services import admin
from app.settings import Settings
from tests.conftest import ORG_ID
from tests.support import basic_auth

MAX_EXAMPLES = 25
PROMOTION_IDS = (
    "67f3832ab206f929966adf81",
    "69117663b1cfc114606fd7fb",
    "6912ced9d39e256f754a83f8",
    "6912cfff6629ee07040e15ef",
    "67e3c1073919452f135e2da0",
)
CUSTOMERS = {566881933: "1234512345", 564332013: None, 566135941: None}


async def _seed(settings: Settings) -> dict[str, str]:
    database = create_database(settings)
    try:
        await admin.create_org(
            SqlUnitOfWorkFactory(database), org_id=ORG_ID, name="Spec org", timezone="Asia/Kolkata"
        )
        client = await admin.create_client(
            SqlUnitOfWorkFactory(database),
            org_id=ORG_ID,
            name="fuzz",
            scopes=["wallet:read", "wallet:write"],
            username="fuzz",
            password="fuzz-secret",
        )
        principal = Principal(org_id=ORG_ID, client_id=0, username="seed", scopes=frozenset({Scope.ADMIN}))
        await admin.import_customers(
            SqlUnitOfWorkFactory(database),
            principal,
            [CreateCustomer(id=i, mobile=m) for i, m in CUSTOMERS.items()],
        )
        now = now_ms()
        promotions = [
            Promotion(
                org_id=ORG_ID,
                id=promotion_id,
                name="Spec",
                type=PromotionType.CUSTOMER,
                start_date=now - DAY_MS,
                end_date=now + 30 * DAY_MS,
                active=True,
                redemption_window_days=None,
                max_redemptions_per_earn=1000,
                max_earns_per_customer=None,
                created_at=now,
            )
            for promotion_id in PROMOTION_IDS
        ]
        async with SqlUnitOfWork(database, write=True) as uow:
            for promotion in promotions:
                await uow.promotions.add(promotion)
            await uow.earnings.insert_new(
                [
                    new_earned_promotion(
                        entry_id="67e63559e1c34e7d8e9348aa",
                        promotion=promotions[-1],
                        customer_id=566881933,
                        earned_from_type=EarnedFromType.BULK_ISSUE,
                        earned_from_id="seed",
                        instance=1,
                        event_time=now,
                        event_details=EventDetails(id="seed", type="BULK_ISSUE"),
                        timezone="Asia/Kolkata",
                        now=now,
                    )
                ]
            )
            await uow.commit()
        return basic_auth(client.username, client.password)
    finally:
        await database.dispose()


@pytest.fixture
def rest_schema(database_url: str) -> Iterator[tuple[schemathesis.BaseSchema, dict[str, str]]]:
    # No rate limit or sign-in throttle: thousands of generated requests, many with bad credentials
    # on purpose (tests/api/test_rate_limits.py covers both).
    settings_ = Settings(  # type: ignore[call-arg]
        database_url=database_url,
        demo_mode=False,
        rate_limit_per_minute=0,
        auth_max_failures=0,
        auth_max_failures_per_address=0,
        _env_file=None,
    )
    headers = asyncio.run(_seed(settings_))
    app = create_app(settings_)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(
        path_regex="^(" + "|".join(PREFIXES) + ")/"
    )
    try:
        yield schema, headers
    finally:
        asgi.shutdown_lifespans()  # closes the app's database before the next test empties it


ROUTES = [
    (method, prefix + path)
    for prefix in PREFIXES
    for method, path in (
        ("POST", "/{promotionId}/issueBulk"),
        ("POST", "/earn/bulk"),
        ("POST", "/redemptions"),
        ("POST", "/redemptions/{redemptionId}/reversals"),
        ("POST", "/holds"),
        ("POST", "/holds/{holdId}/commit"),
        ("POST", "/holds/{holdId}/release"),
        ("GET", "/customer/{customerId}"),
        ("GET", "/customer/{customerId}/history"),
        ("POST", "/redemptions/explain"),
    )
]


MODES = ["examples", "positive", "negative"]


def _position(text: str) -> int:
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# A cursor is opaque: the document cannot describe the ones the server issues, only say what it
# is. Any well-formed position is one (keyset paging), so the generated text is made a position
# (the wallet's: validTill and an entry id; the history's: a ledger id) rather than sent as is.
_CURSORS: dict[str, Callable[[str], str]] = {
    "/customer/{customerId}": lambda text: encode_cursor(_position(text), text[:64]),
    "/customer/{customerId}/history": lambda text: encode_cursor(_position(text)),
}
_IDENTIFIED = ("/redemptions", "/redemptions/explain", "/holds")
_requests = itertools.count()


def _decimal(value: Any) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _redeem_body(body: dict[str, Any]) -> None:
    # A transactionIdentifier already recorded for other content is a 400 (DESIGN §5): each
    # request gets its own, so that one request's data is not judged by another's.
    body["transactionIdentifier"] = f"{body['transactionIdentifier'][:240]}#{next(_requests)}"
    lines = [line for name in ("lineItems", "redemptions") for line in body.get(name) or ()]
    for line in lines:  # discountAppliedOnQuantity ≤ promotionAppliedOnQuantity
        applied, eligible = line["discountAppliedOnQuantity"], line["promotionAppliedOnQuantity"]
        if _decimal(applied) > _decimal(eligible):
            line["discountAppliedOnQuantity"], line["promotionAppliedOnQuantity"] = eligible, applied
    if body.get("lineItems") and body.get("redemptions"):
        # Both lists must describe the same redemptions per promotion (counts and discounts).
        body["redemptions"] = [
            {key: value for key, value in line.items() if key != "earnedPromotionId"}
            for line in body["lineItems"]
        ]
    used = body.get("lineItems") or body.get("redemptions") or []
    total = sum((_decimal(line["discount"]) for line in used), Decimal(0))
    if total >= 10**18:  # the discounts must fit in an amount below 10^18
        for line in lines:
            line["discount"] = 0
        total = Decimal(0)
    if total > _decimal(body["amount"]):  # the total discount must not exceed amount
        body["amount"] = math.ceil(total)
    if body.get("customerId") is not None and body.get("customerIdentifierValue") is not None:
        # The pair must name the customer that customerId names; which does is the data's.
        body.pop("customerIdentifierType", None)
        body.pop("customerIdentifierValue", None)


def _earn_body(body: dict[str, Any]) -> None:
    if body.get("orgId") is not None:  # the caller's org, or omitted
        body["orgId"] = ORG_ID
    entries, seen = [], set()
    for entry in body["earnedPromotions"]:  # each (promotionId, earnedFromId) pair once
        key = (entry["promotionId"], entry["earnedFromId"])
        if key not in seen:
            seen.add(key)
            entries.append(entry)
    if sum(entry["earnCount"] for entry in entries) > MAX_EARN_INSTANCES:  # the sum is bounded
        for entry in entries:
            entry["earnCount"] = 1
    body["earnedPromotions"] = entries


def _within_unstated_rules(case: schemathesis.Case) -> None:
    """The rules no JSON Schema can state, applied to a generated valid request (see the module)."""
    path = case.operation.path.split("/promotions", 1)[1]
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == ORG_HEADER.lower():  # when sent, the org of the credentials
            headers[name] = str(ORG_ID)
    if path in _CURSORS and (case.query or {}).get("cursor"):
        case.query["cursor"] = _CURSORS[path](case.query["cursor"])
    body = case.body
    if isinstance(body, dict):
        if path in _IDENTIFIED:
            _redeem_body(body)
        elif path == "/earn/bulk":
            _earn_body(body)


def _run(operation: schemathesis.APIOperation, mode: str, headers: dict[str, str]) -> None:
    if mode == "examples":  # the spec pages' examples of the document, and variations of them
        strategy = st.one_of(operation.get_strategies_from_examples())
    else:
        strategy = operation.as_strategy(generation_mode=GenerationMode(mode))

    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:
        if mode == "negative":
            case.validate_response(case.call(headers=headers), checks=[not_a_server_error])
        else:
            # Every default check: server errors, documented statuses, content types, headers,
            # response schemas, and schema-valid data accepted (named, so that it cannot be
            # dropped from the defaults unnoticed).
            _within_unstated_rules(case)
            case.call_and_validate(headers=headers, additional_checks=[positive_data_acceptance])

    check()


def test_the_document_has_every_rest_route(
    rest_schema: tuple[schemathesis.BaseSchema, dict[str, str]],
) -> None:
    schema, _ = rest_schema
    found = {(op.method.upper(), op.path) for op in (r.ok() for r in schema.get_all_operations())}
    assert found == set(ROUTES)


@pytest.mark.parametrize("mode", MODES)
def test_generated_requests_never_get_a_server_error(
    rest_schema: tuple[schemathesis.BaseSchema, dict[str, str]], mode: str, subtests: pytest.Subtests
) -> None:
    # One seeded database per mode, the operations in turn: later ones see what earlier ones wrote.
    schema, headers = rest_schema
    for method, path in ROUTES:
        with subtests.test(msg=f"{method} {path}"):
            _run(schema[path][method], mode, headers)
