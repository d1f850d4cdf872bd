"""The REST routes' direct path (app/rest/direct.py) reads a request's parameters as FastAPI's own
handling does, or leaves the request to it; the routes added flat (routes.add_rest_routes) are
documented as the included routers were."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.dependencies.utils import request_params_to_args
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from app.rest import direct
from app.rest.history_routes import router as history_router
from app.rest.routes import PREFIXES, RestRoute, add_rest_routes, router


def _rest_routes() -> list[RestRoute]:
    target = APIRouter()
    add_rest_routes(target)
    return [route for route in target.routes if isinstance(route, RestRoute)]


ROUTES = _rest_routes()
WALLET = next(r for r in ROUTES if r.path == "/v1/promotions/customer/{customerId}")
HISTORY = next(r for r in ROUTES if r.path.startswith("/v1/") and "history" in r.path)

_SPECIAL = ("", "20", "0", "01", " 5", "100", "101", "1e3", "UNLOCKED", "EXPIRED", "REDEEMED", "HELD")
_text = st.text(alphabet=st.sampled_from("0123456789-+_ .aZé\x00%"), max_size=6)
_values = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.sampled_from(_SPECIAL),
    _text,
)
_keys = st.sampled_from(
    ["limit", "cursor", "status", "promotionId", "kind", "since", "until", "customerId", "other"]
)


def _request(route: RestRoute, path_value: str, query: list[tuple[str, str]]) -> Request:
    (name,) = [f.alias for f in route.dependant.path_params] or ["customerId"]
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": route.path,
            "headers": [],
            "query_string": urlencode(query).encode("latin-1"),
            "path_params": {name: path_value},
        }
    )


def _fastapi_values(route: RestRoute, request: Request) -> dict[str, Any] | None:
    dependant = route.dependant
    path, path_errors = request_params_to_args(dependant.path_params, request.path_params)
    query, query_errors = request_params_to_args(dependant.query_params, request.query_params)
    return None if path_errors or query_errors else {**path, **query}


def _direct_values(route: RestRoute, request: Request) -> dict[str, Any] | None:
    plan = direct._plan(route.dependant)
    assert plan is not None
    values: dict[str, Any] = {}
    read = direct._read(plan.path, request.path_params, values) and direct._read(
        plan.query, request.query_params, values
    )
    return values if read else None


@pytest.mark.parametrize("route", [WALLET, HISTORY], ids=lambda r: r.path)
@settings(max_examples=300, deadline=None)
@given(path_value=_values, query=st.lists(st.tuples(_keys, _values), max_size=5))
def test_the_direct_path_reads_every_parameter_as_fastapi_does_or_leaves_the_request_to_it(
    route: RestRoute, path_value: str, query: list[tuple[str, str]]
) -> None:
    request = _request(route, path_value, query)
    assert _direct_values(route, request) == _fastapi_values(route, request)


def test_every_rest_route_takes_the_direct_path() -> None:
    assert ROUTES and all(direct._plan(route.dependant) is not None for route in ROUTES)
    assert {direct._plan(WALLET.dependant).scope.value} == {"wallet:read"}  # type: ignore[union-attr]


def test_a_route_with_a_dependency_of_its_own_keeps_fastapi_handling() -> None:
    from fastapi import Depends

    async def other() -> int:
        return 1

    async def endpoint(value: int = Depends(other)) -> None:
        return None

    route = RestRoute("/x", endpoint)
    assert direct._plan(route.dependant) is None


def test_the_flat_routes_are_documented_as_the_included_routers_were() -> None:
    flat = FastAPI()
    add_rest_routes(flat.router)
    included = FastAPI()
    for prefix in PREFIXES:
        included.include_router(router, prefix=prefix)
        included.include_router(history_router, prefix=prefix)
    assert flat.openapi() == included.openapi()
    assert list(flat.openapi()["paths"]) == list(included.openapi()["paths"])
