"""Prometheus metrics (prometheus-client) and the /metrics endpoint.

HTTP requests are measured per route template (never the raw path, so ids in paths cannot blow
up the label set); GraphQL operations per operation name and type; mutations per result
__typename and error code; successful redemptions on their own counter.

Several worker processes (`PROMO_WALLET_WORKERS` > 1): each process keeps its own counters, so a
scrape would only see one worker's. Set `PROMETHEUS_MULTIPROC_DIR` to an empty, writable
directory before the server starts and /metrics aggregates every worker's files
(prometheus-client's multiprocess mode; `promo-wallet serve` empties that directory at start).
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any

from fastapi import FastAPI
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response

disable_created_metrics()  # no `_created` series: they double the output and nobody graphs them

NAMESPACE = "promo_wallet"
LATENCY_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests by method, route template and status code.",
    ["method", "route", "status"],
    namespace=NAMESPACE,
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by method and route template, until the response has been sent.",
    ["method", "route"],
    namespace=NAMESPACE,
    buckets=LATENCY_BUCKETS,
)
GRAPHQL_OPERATIONS = Counter(
    "graphql_operations_total",
    "GraphQL operations by operation name ('anonymous' without one), type and outcome "
    "('ok', or 'error' when the response carries top-level errors).",
    ["operation", "type", "outcome"],
    namespace=NAMESPACE,
)
GRAPHQL_LATENCY = Histogram(
    "graphql_operation_duration_seconds",
    "GraphQL operation latency (parse, validate, execute) by operation name and type.",
    ["operation", "type"],
    namespace=NAMESPACE,
    buckets=LATENCY_BUCKETS,
)
MUTATION_RESULTS = Counter(
    "graphql_mutation_results_total",
    "Mutation payloads by mutation field, payload __typename and error code ('' for a success).",
    ["mutation", "result", "code"],
    namespace=NAMESPACE,
)
REDEMPTIONS = Counter(
    "redemptions_total",
    "Successful redeemPromotions calls (payload RedeemPromotionsSuccess).",
    namespace=NAMESPACE,
)
ISSUE_JOBS = Gauge(
    "issue_jobs",
    "Bulk issue jobs in the database by state (all orgs), as the process's job runner last counted them.",
    ["state"],
    namespace=NAMESPACE,
    multiprocess_mode="mostrecent",
)
ISSUE_JOB_ROWS = Counter(
    "issue_job_rows_total",
    "Wallet entries created by bulk issue jobs' chunks (repeats and missing customers not counted).",
    namespace=NAMESPACE,
)


def observe_job_chunk(issued: int) -> None:
    ISSUE_JOB_ROWS.inc(issued)


def observe_jobs_by_state(counts: dict[str, int]) -> None:
    for state, count in counts.items():
        ISSUE_JOBS.labels(state).set(count)

AUTH_FAILURES = Counter(
    "auth_failures_total",
    "Refused sign-ins by reason: 'invalid' (wrong or unknown credentials), 'throttled' (too many "
    "failures for the username or the client address in the window).",
    ["reason"],
    namespace=NAMESPACE,
)
RATE_LIMITED = Counter(
    "rate_limited_requests_total",
    "Requests refused with 429 because the API client spent its requests per minute.",
    namespace=NAMESPACE,
)

# Operation names come from clients: keep the label set bounded.
MAX_OPERATION_NAMES = 500
_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]{0,63}$")
_seen_names: set[str] = set()
_names_lock = threading.Lock()


def operation_label(name: str | None) -> str:
    if not name:
        return "anonymous"
    if not _NAME.match(name):
        return "invalid"
    if name in _seen_names:
        return name
    with _names_lock:
        if len(_seen_names) >= MAX_OPERATION_NAMES:
            return "other"
        _seen_names.add(name)
    return name


# Each (method, route, status)'s children, looked up once: `labels()` validates and locks on
# every call, and every request observes two. Bounded as the label sets are (route templates,
# methods, statuses); cleared rather than grown should a client invent methods.
_http_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
MAX_HTTP_CHILDREN = 2_000


def observe_http(method: str, route: str, status: int, seconds: float) -> None:
    key = (method, route, status)
    children = _http_children.get(key)
    if children is None:
        if len(_http_children) >= MAX_HTTP_CHILDREN:
            _http_children.clear()
        children = (HTTP_REQUESTS.labels(method, route, str(status)), HTTP_LATENCY.labels(method, route))
        _http_children[key] = children
    children[0].inc()
    children[1].observe(seconds)


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


async def metrics_endpoint(request: Request) -> Response:
    return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)


def add_metrics_route(app: FastAPI, path: str = "/metrics") -> None:
    app.add_api_route(
        path,
        metrics_endpoint,
        methods=["GET"],
        tags=["ops"],
        summary="Prometheus metrics",
        response_class=Response,
    )
