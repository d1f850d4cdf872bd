"""The REST routes' direct path: a request's arguments read the way FastAPI's `solve_dependencies`
reads them, without solving the route's dependency tree on every request.

A route declares its parameters and its `requires(scope)` dependency as usual: FastAPI builds the
OpenAPI document (security schemes, scopes, parameters) and its own handling from them, as
before. `direct_handler` reads the same declarations once, when the route is built, into a flat
plan: authorize the caller (`auth.authorize`), then take each path and query parameter from the
request and validate it with the parameter's own pydantic field, as `request_params_to_args`
does. Every value that validates is the value FastAPI would pass; at the first one that does
not, the request is handed to FastAPI's handler, which answers with its own validation errors
(the caller, already authorized and counted, is reused, not checked again).

Only the shapes the REST routes use are planned: path and query parameters (scalars or lists),
the `Request`, and one `requires` dependency; a route with anything else (a body field, a header
or cookie parameter of its own, another dependency) keeps FastAPI's handling alone.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from copy import deepcopy
from dataclasses import dataclass
from typing import Any

from fastapi._compat import ModelField, field_annotation_is_sequence
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import _get_param_aliases, _get_param_model, _is_json_field
from starlette.requests import Request
from starlette.responses import Response

from app.domain.models import Scope
from app.rest.auth import ORG_HEADER, authorize, required_scope

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

_MISSING = object()
_IMMUTABLE_DEFAULTS = (type(None), bool, int, float, str, bytes)


@dataclass(frozen=True, slots=True)
class _Parameter:
    name: str  # the endpoint's argument
    keys: tuple[str, ...]  # the request's keys, in FastAPI's order of preference
    location: str  # "path" or "query": the first item of an error's `loc`
    sequence: bool
    field: ModelField
    default: Any  # _MISSING for a required parameter
    validate_default: bool


def _parameter(field: ModelField) -> _Parameter | None:
    if _get_param_model(field) is not None or _is_json_field(field):
        return None  # a parameter model, a Json[...] field: FastAPI's own handling
    location = getattr(field.field_info, "in_", None)
    if location is None:
        return None
    required = field.field_info.is_required()
    return _Parameter(
        name=field.name,
        keys=tuple(key for _, key in _get_param_aliases(field)),
        location=location.value,
        sequence=field_annotation_is_sequence(field.field_info.annotation),
        field=field,
        default=_MISSING if required else field.default,
        validate_default=bool(field.field_info.validate_default),
    )


@dataclass(frozen=True, slots=True)
class _Plan:
    call: Callable[..., Coroutine[Any, Any, Any]]
    scope: Scope
    principal_name: str
    request_name: str | None
    path: tuple[_Parameter, ...]
    query: tuple[_Parameter, ...]


def _plan(dependant: Dependant) -> _Plan | None:
    """The route's flat plan, or None when it uses anything this path does not read."""
    if (
        dependant.call is None
        or dependant.header_params
        or dependant.cookie_params
        or dependant.body_params
        or dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
        or len(dependant.dependencies) != 1
    ):
        return None
    (authorization,) = dependant.dependencies
    scope = required_scope(authorization.call)
    if scope is None or authorization.name is None:
        return None
    path = tuple(_parameter(field) for field in dependant.path_params)
    query = tuple(_parameter(field) for field in dependant.query_params)
    if any(p is None for p in path) or any(p is None for p in query):
        return None
    return _Plan(
        call=dependant.call,
        scope=scope,
        principal_name=authorization.name,
        request_name=dependant.request_param_name,
        path=path,  # type: ignore[arg-type]
        query=query,  # type: ignore[arg-type]
    )


def _read(parameters: tuple[_Parameter, ...], received: Any, values: dict[str, Any]) -> bool:
    """Puts each parameter's value into `values` as `request_params_to_args` would; False at the
    first one FastAPI would refuse (missing, or invalid)."""
    for parameter in parameters:
        key = next((k for k in parameter.keys if k in received), parameter.keys[0])
        if parameter.sequence and hasattr(received, "getlist"):
            raw: Any = received.getlist(key)
            if not raw:
                raw = None
        else:
            raw = received.get(key)
            if raw is not None and parameter.sequence and len(raw) == 0:
                raw = None
        if raw is None:
            default = parameter.default
            if default is _MISSING:
                return False
            if not isinstance(default, _IMMUTABLE_DEFAULTS):
                default = deepcopy(default)
            if not parameter.validate_default:
                values[parameter.name] = default
                continue
            raw = default
        value, errors = parameter.field.validate(raw, values, loc=(parameter.location, key))
        if errors:
            return False
        values[parameter.name] = value
    return True


def direct_handler(dependant: Dependant, fastapi_handler: Handler) -> Handler | None:
    """The route's direct handler, or None when it has no plan (it keeps `fastapi_handler`)."""
    plan = _plan(dependant)
    if plan is None:
        return None

    async def handle(request: Request) -> Response:
        principal = await authorize(request, plan.scope, request.headers.get(ORG_HEADER))
        values: dict[str, Any] = {}
        read = _read(plan.path, request.path_params, values) and _read(
            plan.query, request.query_params, values
        )
        if not read:
            return await fastapi_handler(request)  # its validation errors, the caller reused
        values[plan.principal_name] = principal
        if plan.request_name is not None:
            values[plan.request_name] = request
        response = await plan.call(**values)
        if not isinstance(response, Response):
            raise TypeError(f"REST route {plan.call.__name__} must return a Response")
        return response

    return handle
