"""schemathesis in GraphQL mode: generated queries and mutations, for every root field, never get
a server error — no HTTP 5xx, no masked INTERNAL_SERVER_ERROR in the top-level `errors`, and no
InternalError payload (the mutations' "something unexpected happened") anywhere in the data.

Bounded and repeatable: a fixed number of examples per root field, derandomized. The app runs
in-process (schemathesis' ASGI transport, with the app's lifespan) over this test's empty
database, seeded with an org, its admin client (Basic auth) and customers 1-5, so that small
generated ids sometimes meet real data. Custom scalars get strategies of their own: Long spans
the 64-bit range and its edges, Decimal and DateTime are strings, valid or not."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.python import asgi

from app.domain.commands import CreateCustomer
from app.domain.models import Principal, Scope
from app.graphql.extensions import INTERNAL_MESSAGE
from app.main import create_app
from app.persistence.database import create_database
from app.persistence.uow import SqlUnitOfWorkFactory
from app.services import admin
from app.settings import Settings
from tests.conftest import ORG_ID
from tests.support import GraphQLClient, basic_auth

MAX_EXAMPLES = 25
LONG_MAX = 2**63 - 1

nodes = schemathesis.graphql.nodes
schemathesis.graphql.scalar(
    "Long",
    st.one_of(
        st.integers(min_value=0, max_value=6),
        st.sampled_from([-1, LONG_MAX, LONG_MAX + 1, -(2**63), 2**31, 5668819330]),
        st.integers(min_value=-(2**63), max_value=LONG_MAX),
    ).map(nodes.Int),
)
schemathesis.graphql.scalar(
    "Decimal",
    st.one_of(
        st.decimals(allow_nan=False, allow_infinity=False, places=6).map(str),
        st.sampled_from(["0", "100.5", "-1", "1e30", "NaN", "Infinity", "0.0000001", "", "abc"]),
    ).map(nodes.String),
)
schemathesis.graphql.scalar(
    "DateTime",
    st.one_of(
        st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat().replace("+00:00", "Z")),
        st.text(max_size=30),
    ).map(nodes.String),
)
ROOT_FIELDS = {
    "Query": [
        "customer",
        "wallet",
        "promotion",
        "promotions",
        "redemptions",
        "walletHistory",
        "walletAsOf",
        "explainRedemption",
    ],
    "Mutation": [
        "issuePromotion",
        "earnPromotions",
        "redeemPromotions",
        "createPromotion",
        "createCustomer",
        "importCustomers",
        "updateOrgSettings",
        "revokeEarnedPromotions",
    ],
}


async def _seed(settings: Settings) -> dict[str, str]:
    database = create_database(settings)
    try:
        await admin.create_org(
            SqlUnitOfWorkFactory(database), org_id=ORG_ID, name="Fuzz org", timezone="Asia/Kolkata"
        )
        client = await admin.create_client(
            SqlUnitOfWorkFactory(database),
            org_id=ORG_ID,
            name="fuzz",
            scopes=["admin", "wallet:read", "wallet:write"],
            username="fuzz-admin",
            password="fuzz-secret",
        )
        principal = Principal(org_id=ORG_ID, client_id=0, username="seed", scopes=frozenset({Scope.ADMIN}))
        await admin.import_customers(
            SqlUnitOfWorkFactory(database), principal, [CreateCustomer(id=i) for i in range(1, 6)]
        )
    finally:
        await database.dispose()
    return basic_auth(client.username, client.password)


@pytest.fixture
def graphql_schema(database_url: str) -> Iterator[tuple[Any, dict[str, str]]]:
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
    schema = schemathesis.graphql.from_asgi("/graphql", app, headers=headers)
    try:
        yield schema, headers
    finally:
        asgi.shutdown_lifespans()  # closes the app's database before the next test empties it


def internal_errors(value: Any) -> list[Any]:
    """Every InternalError payload, or masked internal message, anywhere in a response body."""
    found: list[Any] = []
    if isinstance(value, dict):
        if value.get("__typename") == "InternalError" or value.get("message") == INTERNAL_MESSAGE:
            found.append(value)
        for item in value.values():
            found.extend(internal_errors(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(internal_errors(item))
    return found


def test_the_schema_has_every_root_field(graphql_schema: tuple[Any, dict[str, str]]) -> None:
    schema, _ = graphql_schema
    labels = {op.ok().label for op in schema.get_all_operations()}
    assert labels >= {f"{root}.{name}" for root, names in ROOT_FIELDS.items() for name in names}


@pytest.mark.parametrize(
    ("root", "name"), [(root, name) for root, names in ROOT_FIELDS.items() for name in names]
)
def test_generated_documents_never_get_a_server_error(
    graphql_schema: tuple[Any, dict[str, str]], root: str, name: str
) -> None:
    schema, headers = graphql_schema
    operation = schema[root][name]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:
        # Not schemathesis' own not_a_server_error: in GraphQL mode it calls any top-level error
        # with null data a server error, and `first` over 100 or a bad cursor are documented
        # top-level client errors here (DESIGN §4). A server error is a 5xx, the masked
        # INTERNAL_SERVER_ERROR, or an InternalError payload.
        response = case.call(headers=headers)
        assert response.status_code < 500, response.text
        body = response.json()
        for error in body.get("errors") or []:
            assert (error.get("extensions") or {}).get("code") != "INTERNAL_SERVER_ERROR", (case.body, error)
        assert not internal_errors(body), (case.body, body)

    check()


@pytest.mark.parametrize(
    "document",
    [
        "{ wallet(customerId: 9223372036854775808) { totalCount } }",
        'mutation { redeemPromotions(input: {amount: "NaN", transactionDate: 3, transactionIdentifier: "x",'
        ' transactionNumber: "y", customerId: 1}) { __typename } }',
    ],
    ids=["inline Long out of range", "inline Decimal NaN"],
)
async def test_an_inline_scalar_literal_the_scalar_refuses_is_a_validation_error_not_a_500(
    gql: GraphQLClient, document: str
) -> None:
    # Found by this fuzzer: the scalar's ValueError rode on the validation error as its
    # original_error, so error shaping masked it as INTERNAL_SERVER_ERROR and logged a traceback.
    body = await gql(document)
    [error] = body["errors"]
    assert error["message"].startswith("Expected value of type"), error
    assert "INTERNAL_SERVER_ERROR" not in str(error)
