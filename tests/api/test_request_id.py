"""Request ids (X-Request-ID, request.state.request_id) and the JSON log lines that carry them."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from app.observability.logging import ACCESS_LOGGER, JsonFormatter, RequestIdFilter
from app.observability.middleware import new_request_id
from tests.support import ROOT, free_port

GENERATED = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def echo_route(app: FastAPI) -> None:
    logger = logging.getLogger("app.test")

    async def echo(request: Request) -> dict[str, Any]:
        logger.info("inside the request")
        return {"request_id": request.state.request_id}

    app.add_api_route("/_test/request-id", echo, methods=["GET"])


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """What the app logs while the test runs, formatted exactly as `promo-wallet serve` does."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    loggers = [logging.getLogger(ACCESS_LOGGER), logging.getLogger("app.test")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    yield stream
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.mark.usefixtures("echo_route")
async def test_a_request_without_an_id_gets_a_new_one_in_state_and_in_the_response(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get("/_test/request-id")
    request_id = response.headers["X-Request-ID"]
    assert GENERATED.match(request_id)
    assert response.json() == {"request_id": request_id}
    assert (await http.get("/_test/request-id")).headers["X-Request-ID"] != request_id


@pytest.mark.usefixtures("echo_route")
async def test_a_safe_incoming_id_is_kept_and_echoed(http: httpx.AsyncClient) -> None:
    response = await http.get("/_test/request-id", headers={"X-Request-ID": "lb-7f3a.9:01_x"})
    assert response.headers["X-Request-ID"] == "lb-7f3a.9:01_x"
    assert response.json() == {"request_id": "lb-7f3a.9:01_x"}


@pytest.mark.usefixtures("echo_route")
@pytest.mark.parametrize("incoming", ["x" * 65, "has space", "quote\"d", "", "new\\nline", "é"])
async def test_an_unsafe_incoming_id_is_replaced(http: httpx.AsyncClient, incoming: str) -> None:
    response = await http.get("/_test/request-id", headers={"X-Request-ID": incoming.encode("utf-8")})
    assert GENERATED.match(response.headers["X-Request-ID"])


async def test_graphql_responses_and_errors_carry_the_id(http: httpx.AsyncClient) -> None:
    response = await http.post("/graphql", json={"query": "{ promotions { totalCount } }"},
                               headers={"X-Request-ID": "gql-1"})
    assert response.status_code == 401
    assert response.headers["X-Request-ID"] == "gql-1"


@pytest.mark.usefixtures("echo_route")
async def test_logs_are_json_lines_with_the_request_id(
    http: httpx.AsyncClient, json_log: io.StringIO
) -> None:
    # when
    await http.get("/_test/request-id?secret=not-logged", headers={"X-Request-ID": "log-check-1"})
    # then every line is one JSON object, and both the app's line and the access line carry the id
    records = lines(json_log)
    inside = next(r for r in records if r["logger"] == "app.test")
    access = next(r for r in records if r["logger"] == ACCESS_LOGGER)
    assert inside["request_id"] == access["request_id"] == "log-check-1"
    assert inside["message"] == "inside the request" and inside["level"] == "INFO"
    assert {"time", "level", "logger", "message", "request_id"} <= inside.keys()
    assert access["method"] == "GET" and access["path"] == "/_test/request-id"
    assert access["status"] == 200 and isinstance(access["duration_ms"], float)
    assert "not-logged" not in json_log.getvalue()


def test_promo_wallet_serve_writes_only_json_lines_with_request_ids(database_url: str) -> None:
    # given a real `promo-wallet serve` process
    port = free_port()
    env = os.environ | {
        "PROMO_WALLET_DATABASE_URL": database_url,
        "PROMO_WALLET_GRAPHQL_IDE": "false",
        "PROMO_WALLET_DEMO_MODE": "false",
        "PROMO_WALLET_LOG_LEVEL": "INFO",
        "PROMO_WALLET_LOG_FORMAT": "json",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60  # as tests/support.py allows its servers: CI machines are shared
        while True:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        # when
        response = httpx.post(f"{base}/graphql", json={"query": "{ __typename }"},
                              headers={"X-Request-ID": "serve-json-1"})
        assert response.headers["X-Request-ID"] == "serve-json-1"
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=15)
    # then
    records = [json.loads(line) for line in stderr.decode().splitlines() if line.strip()]
    assert any(r["logger"].startswith("uvicorn") for r in records)  # uvicorn's own lines too
    access = [r for r in records if r["logger"] == ACCESS_LOGGER and r["path"] == "/graphql"]
    assert access and access[-1]["request_id"] == "serve-json-1" and access[-1]["status"] == 401


def test_a_new_request_id_is_a_version_4_uuid_and_ids_do_not_repeat() -> None:
    ids = [new_request_id() for _ in range(10_000)]
    assert all(GENERATED.match(i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert {uuid.UUID(hex=i).version for i in ids} == {4}
    assert {uuid.UUID(hex=i).variant for i in ids} == {uuid.RFC_4122}
