"""Hostile documents and requests are refused before any resolver runs; errors stay readable
without leaking the schema or internals; the limits keep the validation cache hitting."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.graphql import limits
from app.graphql.extensions import INTERNAL_MESSAGE
from app.main import create_app
from app.services import queries
from app.settings import Settings
from tests.api.test_query_counts import sql_statements
from tests.support import ROOT, ClientCredentials, GraphQLClient, free_port, live_server

WALLET_DEPTH_4 = "{ wallet(customerId: 1) { edges { node { promotion { name } } } } }"


@pytest.fixture
def resolver_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every call of the read services behind the query resolvers."""
    calls: list[str] = []
    for name in (
        "wallet_view",
        "wallet_page",
        "wallet_count",
        "find_customer",
        "get_promotion",
        "promotions_page",
    ):
        original = getattr(queries, name)

        def spy(
            *args: Any, _name: str = name, _original: Callable[..., Any] = original, **kwargs: Any
        ) -> Any:
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(queries, name, spy)
    return calls


@asynccontextmanager
async def client_with(
    settings: Settings, clients: dict[str, ClientCredentials], **overrides: Any
) -> AsyncIterator[tuple[GraphQLClient, FastAPI]]:
    """A second app on the test's database with some settings changed."""
    application = create_app(settings.model_copy(update=overrides))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield GraphQLClient(http=http, default=clients["admin"], clients=clients), application


def messages(body: dict[str, Any]) -> list[str]:
    return [error["message"] for error in body.get("errors", [])]


async def assert_refused_before_resolvers(
    gql: GraphQLClient, app: FastAPI, resolver_calls: list[str], document: str, expected: str
) -> dict[str, Any]:
    await gql.data("{ __typename }")  # authenticate once; the verified secret is cached
    with sql_statements(app.state.database) as statements:
        body = await gql(document)
    assert body["data"] is None
    assert any(expected in message for message in messages(body)), body
    assert resolver_calls == []
    assert statements == []
    return body


# --- document limits ------------------------------------------------------------------------


async def test_a_document_deeper_than_the_limit_is_refused_before_any_resolver_runs(
    settings: Settings, org_clients: dict[str, ClientCredentials], resolver_calls: list[str]
) -> None:
    async with client_with(settings, org_clients, max_query_depth=3) as (gql, app):
        await assert_refused_before_resolvers(
            gql, app, resolver_calls, WALLET_DEPTH_4, "exceeds maximum operation depth of 3"
        )


async def test_the_depth_limit_defaults_to_10_and_counts_fragments(
    gql: GraphQLClient, app: FastAPI, resolver_calls: list[str]
) -> None:
    assert Settings(_env_file=None).max_query_depth == 10  # type: ignore[call-arg]
    # 11 levels through fragments: refused by the depth rule (whatever else is wrong with it)
    fragments = "".join(
        f"fragment F{n} on EarnedPromotion {{ promotion {{ ...F{n + 1} }} }} " for n in range(11)
    )
    body = await gql(f"{{ wallet(customerId: 1) {{ edges {{ node {{ ...F0 }} }} }} }} {fragments}")
    assert any("exceeds maximum operation depth of 10" in m for m in messages(body)), body
    assert resolver_calls == []


async def test_an_ordinary_wallet_query_is_within_the_default_depth(
    gql: GraphQLClient, resolver_calls: list[str]
) -> None:
    data = await gql.data(WALLET_DEPTH_4)
    assert data["wallet"]["edges"] == []
    assert "wallet_view" in resolver_calls


async def test_more_aliases_than_the_limit_are_refused_before_any_resolver_runs(
    gql: GraphQLClient, app: FastAPI, resolver_calls: list[str]
) -> None:
    document = "{ " + " ".join(f"w{n}: wallet(customerId: {n}) {{ totalCount }}" for n in range(16)) + " }"
    await assert_refused_before_resolvers(gql, app, resolver_calls, document, "16 aliases found. Allowed: 15")


async def test_the_alias_limit_is_configurable_and_inclusive(
    settings: Settings, org_clients: dict[str, ClientCredentials], resolver_calls: list[str]
) -> None:
    async with client_with(settings, org_clients, max_aliases=2) as (gql, app):
        two = await gql.data(
            "{ a: wallet(customerId: 1) { totalCount } b: wallet(customerId: 2) { totalCount } }"
        )
        assert two == {"a": {"totalCount": 0}, "b": {"totalCount": 0}}
        resolver_calls.clear()
        await assert_refused_before_resolvers(
            gql,
            app,
            resolver_calls,
            "{ a: wallet(customerId: 1) { totalCount } b: wallet(customerId: 2) { totalCount } "
            "c: wallet(customerId: 3) { totalCount } }",
            "3 aliases found. Allowed: 2",
        )


async def test_a_document_over_the_token_limit_is_refused_before_any_resolver_runs(
    gql: GraphQLClient, app: FastAPI, resolver_calls: list[str]
) -> None:
    # 1 + 4 x 500 + 1 tokens, no aliases at all
    document = "{ " + " ".join("wallet(customerId: 1) { totalCount }" for _ in range(250)) + " }"
    await assert_refused_before_resolvers(
        gql, app, resolver_calls, document, "Document contains more than 2000 tokens"
    )


async def test_the_token_limit_is_configurable(
    settings: Settings, org_clients: dict[str, ClientCredentials], resolver_calls: list[str]
) -> None:
    async with client_with(settings, org_clients, max_tokens=10) as (gql, app):
        await assert_refused_before_resolvers(
            gql, app, resolver_calls, WALLET_DEPTH_4, "Document contains more than 10 tokens"
        )


async def test_limits_can_be_set_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "MAX_QUERY_DEPTH": "4",
        "MAX_ALIASES": "5",
        "MAX_TOKENS": "600",
        "MAX_BODY_BYTES": "65536",
        "INTROSPECTION": "false",
        "GRAPHQL_IDE": "false",
    }.items():
        monkeypatch.setenv(f"PROMO_WALLET_{name}", value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert limits.DocumentLimits.from_settings(settings) == limits.DocumentLimits(
        enabled=True, max_depth=4, max_aliases=5, max_tokens=600, introspection=False
    )
    assert (settings.max_body_bytes, settings.graphql_ide) == (65536, False)


# --- first, batching, GET -------------------------------------------------------------------


async def test_first_over_100_is_refused_with_a_readable_error(gql: GraphQLClient, app: FastAPI) -> None:
    await gql.data("{ __typename }")
    with sql_statements(app.state.database) as statements:
        body = await gql("{ wallet(customerId: 1, first: 101) { totalCount } }")
    assert body["data"] is None
    [error] = body["errors"]
    assert error["message"] == "first must be between 0 and 100"
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "errorCode": 400, "field": "first"}
    assert statements == []
    assert (await gql.data("{ wallet(customerId: 1, first: 100) { totalCount } }"))["wallet"][
        "totalCount"
    ] == 0


async def test_batched_operations_are_refused(gql: GraphQLClient, resolver_calls: list[str]) -> None:
    response = await gql.http.post(
        "/graphql",
        json=[{"query": "{ wallet(customerId: 1) { totalCount } }"}, {"query": "{ __typename }"}],
        headers=gql.default.headers,
    )
    assert response.status_code == 400
    assert "Batching is not enabled" in response.text
    assert resolver_calls == []


async def test_a_mutation_over_get_is_refused(gql: GraphQLClient, app: FastAPI) -> None:
    await gql.data("{ __typename }")
    with sql_statements(app.state.database) as statements:
        response = await gql.http.get(
            "/graphql",
            params={"query": "mutation { createCustomer(input: {id: 77}) { __typename } }"},
            headers=gql.default.headers,
        )
    assert response.status_code in (400, 405)
    assert "mutations are not allowed when using GET" in response.text
    assert statements == []


async def test_a_query_over_get_still_works(gql: GraphQLClient) -> None:
    response = await gql.http.get(
        "/graphql", params={"query": "{ wallet(customerId: 1) { totalCount } }"}, headers=gql.default.headers
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"wallet": {"totalCount": 0}}}


# --- request body -----------------------------------------------------------------------------


async def test_a_body_over_the_limit_is_refused_with_413_from_its_content_length(
    settings: Settings, org_clients: dict[str, ClientCredentials], resolver_calls: list[str]
) -> None:
    async with client_with(settings, org_clients, max_body_bytes=4096) as (gql, _app):
        padding = " " * 5000  # whitespace: not a single extra token
        response = await gql.http.post(
            "/graphql",
            content=f'{{"query": "{{ wallet(customerId: 1) {{ totalCount }} }}{padding}"}}',
            headers=gql.default.headers | {"content-type": "application/json"},
        )
    assert response.status_code == 413
    assert resolver_calls == []


async def test_a_streamed_body_without_content_length_is_counted_and_refused_with_413(
    settings: Settings, org_clients: dict[str, ClientCredentials], resolver_calls: list[str]
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ wallet(customerId: 1) { totalCount } }'
        for _ in range(10):
            yield b" " * 1000
        yield b'"}'

    async with client_with(settings, org_clients, max_body_bytes=4096) as (gql, _app):
        response = await gql.http.post(
            "/graphql", content=chunks(), headers=gql.default.headers | {"content-type": "application/json"}
        )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert resolver_calls == []


async def test_the_default_body_limit_admits_a_100k_id_issue_request(gql: GraphQLClient) -> None:
    ids = list(range(5_000_000_000, 5_000_100_000))
    body = json.dumps(
        {
            "query": """mutation($p: String!, $c: String!, $ids: [Long]!) {
            issuePromotion(promotionId: $p, contextId: $c, customerIds: $ids) { __typename } }""",
            "variables": {"p": "0" * 24, "c": "ctx-1", "ids": ids},
        }
    )
    assert len(body) > 1_200_000
    response = await gql.http.post(
        "/graphql", content=body, headers=gql.default.headers | {"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text[:500]  # read in full and executed, not a 413
    assert "data" in response.json(), response.text[:500]


def test_the_body_limit_holds_on_a_real_uvicorn_server(database_url: str) -> None:
    with live_server(database_url, PROMO_WALLET_MAX_BODY_BYTES="2048") as base_url:
        big = httpx.post(
            f"{base_url}/graphql",
            content=b"{" + b" " * 3000 + b"}",
            headers={"content-type": "application/json"},
        )
        small = httpx.post(
            f"{base_url}/graphql",
            content=b'{"query": "{ __typename }"}',
            headers={"content-type": "application/json"},
        )
    assert big.status_code == 413
    assert small.status_code == 401  # read in full, then refused for lack of credentials


# --- suggestions, introspection, IDE --------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "variables", "readable"),
    [
        ("{ walet(customerId: 1) { totalCount } }", None, "Cannot query field 'walet' on type 'Query'."),
        ("{ wallet(customerId: 1, frist: 2) { totalCount } }", None, "Unknown argument 'frist'"),
        ("{ wallet(customerId: 1) { totalCont } }", None, "Cannot query field 'totalCont'"),
        ("{ wallet(customerId: 1, status: [ACTIV]) { totalCount } }", None, "'ACTIV'"),
        (
            "query($s: [EarnedPromotionStatus!]) { wallet(customerId: 1, status: $s) { totalCount } }",
            {"s": ["ACTIV"]},
            "'ACTIV'",
        ),
        ("query($s: EarnedPromotionStatu) { __typename }", None, "Unknown type 'EarnedPromotionStatu'"),
    ],
)
async def test_validation_errors_are_readable_but_suggest_nothing(
    gql: GraphQLClient,
    resolver_calls: list[str],
    document: str,
    variables: dict[str, Any] | None,
    readable: str,
) -> None:
    body = await gql(document, variables)
    assert body["data"] is None
    assert any(readable in message for message in messages(body)), body
    assert not any("Did you mean" in message for message in messages(body)), body
    assert resolver_calls == []


async def test_introspection_is_on_by_default(gql: GraphQLClient) -> None:
    data = await gql.data('{ __schema { queryType { name } } __type(name: "Wallet") { name } }')
    assert data["__schema"] == {"queryType": {"name": "Query"}}


async def test_introspection_can_be_switched_off(
    settings: Settings, org_clients: dict[str, ClientCredentials]
) -> None:
    async with client_with(settings, org_clients, introspection=False) as (gql, _app):
        schema_body = await gql("{ __schema { queryType { name } } }")
        type_body = await gql('{ __type(name: "Promotion") { fields { name } } }')
        typename = await gql.data("{ __typename wallet(customerId: 1) { __typename totalCount } }")
    assert schema_body["data"] is None and "introspection has been disabled" in messages(schema_body)[0]
    assert type_body["data"] is None and "introspection has been disabled" in messages(type_body)[0]
    assert typename == {
        "__typename": "Query",
        "wallet": {"__typename": "EarnedPromotionConnection", "totalCount": 0},
    }


async def test_the_ide_page_is_open_without_credentials_when_switched_on(
    settings: Settings, org_clients: dict[str, ClientCredentials]
) -> None:
    async with client_with(settings, org_clients, graphql_ide=True) as (gql, _app):
        response = await gql.http.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code in (200, 503)  # 503: the page saying GraphiQL's assets are not fetched yet
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


async def test_the_ide_can_be_switched_off(
    settings: Settings, org_clients: dict[str, ClientCredentials]
) -> None:
    async with client_with(settings, org_clients, graphql_ide=False) as (gql, _app):
        anonymous = await gql.http.get("/graphql", headers={"accept": "text/html"})
        authenticated = await gql.http.get("/graphql", headers={"accept": "text/html"} | gql.default.headers)
    assert anonymous.status_code == 401
    assert "graphiql" not in authenticated.text.lower()
    assert authenticated.status_code in (400, 404)


# --- masking and request ids ----------------------------------------------------------------


async def test_an_unexpected_error_is_masked_and_logged_with_the_request_id(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("connection string postgres://secret@db")

    monkeypatch.setattr(queries, "wallet_view", broken)
    caplog.set_level(logging.INFO)
    # when
    response = await gql.http.post(
        "/graphql",
        json={"query": "{ wallet(customerId: 1) { totalCount } }"},
        headers=gql.default.headers | {"X-Request-ID": "req-abc-123"},
    )
    # then
    body = response.json()
    assert "secret" not in response.text
    [error] = body["errors"]
    assert error["message"] == INTERNAL_MESSAGE
    assert error["extensions"] == {
        "code": "INTERNAL_SERVER_ERROR",
        "errorCode": 500,
        "requestId": "req-abc-123",
    }
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "req-abc-123" in record.getMessage()
    assert record.exc_info is not None and "secret" in str(record.exc_info[1])


async def test_a_request_id_is_made_when_the_client_sends_none(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise ZeroDivisionError

    monkeypatch.setattr(queries, "wallet_view", broken)
    body = await gql("{ wallet(customerId: 1) { totalCount } }")
    request_id = body["errors"][0]["extensions"]["requestId"]
    assert isinstance(request_id, str) and len(request_id) >= 16
    assert any(request_id in r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)


async def test_client_errors_are_not_logged_as_errors(
    gql: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    await gql("{ " + " ".join("__typename" for _ in range(2500)) + " }")
    await gql("{ walet }")
    await gql("{ wallet(customerId: 1, first: 500) { totalCount } }")
    assert [r.getMessage()[:200] for r in caplog.records if r.levelno >= logging.WARNING] == []


# --- validation cache -----------------------------------------------------------------------


async def test_the_limit_rules_are_built_once_so_validation_is_cached(gql: GraphQLClient) -> None:
    document = "{ wallet(customerId: 42, first: 3) { totalCount edges { node { id } } } }"
    await gql.data(document)
    before = limits._cached_validate.cache_info()
    await gql.data(document)
    await gql.data(document)
    after = limits._cached_validate.cache_info()
    assert after.hits - before.hits == 2
    assert after.misses == before.misses
    assert limits.limit_rules(limits.DEFAULT_LIMITS) is limits.limit_rules(limits.DEFAULT_LIMITS)


# --- client disconnects -----------------------------------------------------------------------


async def test_a_client_disconnecting_mid_body_ends_the_request_quietly(
    app: FastAPI, org_clients: dict[str, ClientCredentials], caplog: pytest.LogCaptureFixture
) -> None:
    credentials = org_clients["admin"]
    messages_in = iter(
        [
            {"type": "http.request", "body": b'{"query": "{ __typ', "more_body": True},
            {"type": "http.disconnect"},
        ]
    )
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(messages_in)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test"), (b"content-type", b"application/json"), (b"content-length", b"500")]
        + [(k.lower().encode(), v.encode()) for k, v in credentials.headers.items()],
        "client": ("127.0.0.1", 5000),
        "server": ("test", 80),
        "state": {},
    }
    await app(scope, receive, send)  # must not raise
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


@contextmanager
def uvicorn_with_stderr(database_url: str, stderr_path: Path) -> Iterator[int]:
    port = free_port()
    env = os.environ | {"PROMO_WALLET_DATABASE_URL": database_url, "PROMO_WALLET_DEMO_MODE": "false"}
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app.main:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise
                time.sleep(0.1)
            yield port
        finally:
            process.terminate()
            process.wait(timeout=10)


async def test_a_real_client_hanging_up_mid_body_leaves_no_traceback(
    database_url: str, org_clients: dict[str, ClientCredentials], tmp_path: Path
) -> None:
    stderr_path = tmp_path / "server.err"
    with uvicorn_with_stderr(database_url, stderr_path) as port:
        auth = org_clients["admin"].headers["Authorization"]
        for _ in range(3):
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                b"POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                b"content-length: 100000\r\nauthorization: " + auth.encode() + b'\r\n\r\n{"query": "{ __ty'
            )
            await writer.drain()
            await asyncio.sleep(0.3)  # let the server authenticate and start reading the body
            writer.close()
            await writer.wait_closed()
        await asyncio.sleep(0.5)
        # the server is still fine
        async with httpx.AsyncClient() as client:
            ok = await client.post(
                f"http://127.0.0.1:{port}/graphql",
                json={"query": "{ __typename }"},
                headers=org_clients["admin"].headers,
            )
        assert ok.json() == {"data": {"__typename": "Query"}}
    log = stderr_path.read_text()
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log
