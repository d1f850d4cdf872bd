"""Hostile bodies, generated: JSON with unpaired surrogates and NUL in any string (keys too),
nested up to past the depth limit, and raw bytes that are not UTF-8 or nest 100,000 deep, posted
as GraphQL variables and as REST bodies. None may get a server error (a 5xx, the masked
INTERNAL_SERVER_ERROR, an InternalError payload). Bounded and repeatable (derandomized)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.main import create_app
from app.settings import Settings
from tests.fuzz.test_graphql_schemathesis import _seed, internal_errors

MAX_EXAMPLES = 40
Served = tuple[TestClient, dict[str, str]]
REST = "/api_gateway/v1/promotions"

# Text a client can send in JSON but no database stores: lone surrogates (category Cs) and NUL.
hostile_text = st.one_of(
    st.text(st.characters(codec=None, categories=["Cs", "Cc", "Lo", "Nd", "Zs"]), max_size=6),
    st.sampled_from(["\ud83d", "a\udc00b", "\x00", " ", "١٢٣", "\ufffd"]),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), hostile_text),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(hostile_text | st.sampled_from(["id", "amount"]), inner, max_size=3),
    ),
    max_leaves=12,
)


def nested(depth: int, leaf: Any) -> Any:
    for _ in range(depth):
        leaf = [leaf]
    return leaf


over_nested = st.builds(nested, st.integers(min_value=20, max_value=60), json_values)
raw_bodies = st.one_of(
    st.just(b"[" * 100_000),
    st.binary(max_size=40).map(lambda b: b'{"query": "{ __typename }", "variables": ' + b + b"}"),
    st.sampled_from([b"\xff\xfe", b'{"a": "\xc3"}', b"{" * 5000]),
)

GRAPHQL_DOCUMENTS = [
    "mutation($i: RedeemPromotionsInput!) { redeemPromotions(input: $i) { __typename } }",
    "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { __typename } }",
    "mutation($p: String!, $c: String!, $ids: [Long]!) { issuePromotion(promotionId: $p, contextId: $c, "
    "customerIds: $ids) { __typename } }",
    "query($id: String!) { promotion(id: $id) { id } }",
]
REST_PATHS = [f"{REST}/redemptions", f"{REST}/earn/bulk", f"{REST}/holds", f"{REST}/p1/issueBulk?contextId=c"]


@pytest.fixture
def client(database_url: str) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings_ = Settings(  # type: ignore[call-arg]
        database_url=database_url,
        demo_mode=False,
        rate_limit_per_minute=0,
        auth_max_failures=0,
        auth_max_failures_per_address=0,
        _env_file=None,
    )
    headers = asyncio.run(_seed(settings_)) | {"content-type": "application/json"}
    with TestClient(create_app(settings_), raise_server_exceptions=False) as test_client:
        yield test_client, headers


def _assert_no_server_error(response: Any) -> None:
    assert response.status_code < 500, response.text
    try:
        body = response.json()
    except ValueError:
        # Strawberry's own plain-text 400s (an unknown operationName) are issue #21's to reshape.
        assert response.status_code == 400, response.text[:200]
        return
    for error in (body.get("errors") or []) if isinstance(body, dict) else []:
        assert (error.get("extensions") or {}).get("code") != "INTERNAL_SERVER_ERROR", error
    assert not internal_errors(body), body


FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def test_hostile_graphql_variables_never_get_a_server_error(client: Served) -> None:
    test_client, headers = client

    @given(
        document=st.sampled_from(GRAPHQL_DOCUMENTS),
        variables=st.dictionaries(
            st.sampled_from(["i", "p", "c", "ids", "id"]), json_values | over_nested, max_size=4
        ),
        operation_name=st.none() | hostile_text,
        extensions=st.none() | json_values,
    )
    @FUZZ
    def check(document: str, variables: dict[str, Any], operation_name: str | None, extensions: Any) -> None:
        body = {"query": document, "variables": variables, "operationName": operation_name}
        raw = json.dumps(body | {"extensions": extensions} if isinstance(extensions, dict) else body).encode()
        _assert_no_server_error(test_client.post("/graphql", content=raw, headers=headers))

    check()


def test_hostile_rest_bodies_never_get_a_server_error(client: Served) -> None:
    test_client, headers = client

    @given(path=st.sampled_from(REST_PATHS), body=json_values | over_nested)
    @FUZZ
    def check(path: str, body: Any) -> None:
        raw = json.dumps(body).encode()
        _assert_no_server_error(test_client.post(path, content=raw, headers=headers))

    check()


def test_raw_bodies_that_are_not_json_never_get_a_server_error(client: Served) -> None:
    test_client, headers = client

    @given(path=st.sampled_from(["/graphql", *REST_PATHS]), raw=raw_bodies)
    @FUZZ
    def check(path: str, raw: bytes) -> None:
        response = test_client.post(path, content=raw, headers=headers)
        _assert_no_server_error(response)
        assert response.status_code == 400 or response.status_code < 300, response.text

    check()
