"""The spec pages' REST API over the same services as the GraphQL mutations.

Each route does what a GraphQL resolver does: authenticate, parse the body into a command, call
one service, and render the result (or the error) in the spec pages' JSON. Served under both
/api_gateway/v1/promotions (the spec's paths) and /v1/promotions.

Bodies are read and parsed here rather than by FastAPI, so that credentials are checked before
the body, malformed JSON and wrong types are a 400 in the spec's error shape (never FastAPI's
422), and customer ids reach the domain as sent (which decides what is a 1006).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from app.domain.clock import now_ms
from app.domain.commands import IssuePromotion
from app.domain.errors import DomainError
from app.domain.models import EarnedPromotionStatus, Principal, Scope
from app.domain.paging import MAX_PAGE_SIZE
from app.domain.ports import UnitOfWorkFactory
from app.domain.presentation import org_zone
from app.domain.rules import check_customer_id
from app.domain.text import UNSTORABLE_TEXT_MESSAGE, has_unstorable_text
from app.http_limits import MalformedBody, decode_json_body, url_is_utf8
from app.rest import rendering
from app.rest.auth import requires
from app.rest.direct import direct_handler
from app.rest.errors import (
    UNSUPPORTED_MEDIA_TYPE,
    ErrorResponse,
    RestError,
    domain_error_response,
    error_response,
    internal_error_response,
    rest_error_response,
    validation_message,
)
from app.rest.schemas import (
    CUSTOMER_ID_SCHEMA,
    EARN_REQUEST_EXAMPLE,
    EARN_RESPONSE_EXAMPLE,
    HOLD_REQUEST_EXAMPLE,
    HOLD_RESPONSE_EXAMPLE,
    ISSUE_REQUEST_EXAMPLES,
    ISSUE_RESPONSE_EXAMPLE,
    REDEEM_REQUEST_EXAMPLE,
    REDEEM_RESPONSE_EXAMPLE,
    REVERSE_REQUEST_EXAMPLE,
    REVERSE_RESPONSE_EXAMPLE,
    STORABLE_TEXT_SCHEMA,
    WALLET_RESPONSE_EXAMPLE,
    EarnBulkRequest,
    EarnBulkResponse,
    HoldRequest,
    HoldResponse,
    IssueBulkResponse,
    RedeemRequest,
    RedeemResponse,
    ReverseRequest,
    ReverseResponse,
    WalletResponse,
    identifier_schema,
    long_or_raw,
)
from app.services import earn, holds, issue, queries, redeem, reverse
from app.settings import Settings

logger = logging.getLogger("app.rest")

PREFIXES = ("/api_gateway/v1/promotions", "/v1/promotions")
TAG = "REST (spec pages)"

M = TypeVar("M", bound=BaseModel)


class RestRoute(APIRoute):
    """Every failure of a REST route becomes `{"errors": [{"code", "message"}]}` with the status
    of `app.rest.errors.HTTP_STATUS`; anything unexpected is logged and masked as a 500. Requests
    take the direct path (direct.py) when the route has one, FastAPI's handling otherwise."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        fastapi_handler = super().get_route_handler()
        handler = direct_handler(self.dependant, fastapi_handler) or fastapi_handler

        async def guarded(request: Request) -> Response:
            try:
                if not url_is_utf8(request.scope):
                    raise RestError.invalid("the path and query string must be UTF-8 (percent-encoded)")
                return await handler(request)
            except RestError as error:
                return rest_error_response(error)
            except DomainError as error:
                return domain_error_response(error)
            except RequestValidationError as error:
                return error_response(400, validation_message(error.errors(), drop_prefix=True))
            except (HTTPException, ClientDisconnect, BaseExceptionGroup):
                raise  # the body limit's 413, a vanished client: the app's own handling
            except Exception:
                logger.exception("REST %s %s failed unexpectedly", request.method, request.url.path)
                return internal_error_response()

        return guarded


# ---------------------------------------------------------------------------------------------
# Reading requests


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def check_text(value: Any) -> None:
    """Strings must be text a database can store (domain/text.py)."""
    if has_unstorable_text(value):
        raise RestError.invalid(UNSTORABLE_TEXT_MESSAGE)


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def read_json(request: Request) -> Any:
    # Only JSON: a `text/plain` body is what a cross-site HTML form can send without a preflight.
    if not _is_json(request.headers.get("content-type", "")):
        raise RestError(UNSUPPORTED_MEDIA_TYPE, "the request body must be sent as application/json")
    raw = await request.body()
    if not raw.strip():
        raise RestError.invalid("the request body must be JSON")
    try:
        value = decode_json_body(raw, parse_float=Decimal, parse_constant=_refuse_constant)
    except MalformedBody as exc:
        raise RestError.invalid(str(exc)) from None
    check_text(value)
    return value


def parse(model: type[M], value: Any) -> M:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise RestError.invalid(validation_message(exc.errors())) from exc


def _uow_factory(request: Request) -> UnitOfWorkFactory:
    uow_factory: UnitOfWorkFactory = request.app.state.uow_factory
    return uow_factory


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


# ---------------------------------------------------------------------------------------------
# OpenAPI


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(definitions[node["$ref"].rsplit("/", 1)[-1]], definitions)
        return {key: _inline(value, definitions) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    return node


def _request_body(schema: dict[str, Any], examples: dict[str, Any]) -> dict[str, Any]:
    definitions = schema.pop("$defs", {})
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inline(schema, definitions), "examples": examples}},
        }
    }


def _model_body(model: type[BaseModel], example: dict[str, Any], summary: str) -> dict[str, Any]:
    return _request_body(
        model.model_json_schema(by_alias=True), {"spec": {"summary": summary, "value": example}}
    )


_ERROR_DESCRIPTIONS: dict[int | str, str] = {
    400: "Invalid request: code 400 (shape, values, malformed JSON), 705, 706, 707, 713, 714 or 1006",
    401: "No or invalid credentials (code 401); see WWW-Authenticate",
    403: "The credentials lack the scope (code 403)",
    404: "Promotion, customer, earned promotion, redemption or hold not found in this org (code 404)",
    405: "The org is not enabled for redemption without cart evaluation (code 405)",
    406: "The org's webEngageAccountId is not valid (code 406)",
    415: "The body was not sent as application/json (code 415)",
    429: "Too many requests for this API client this minute, or too many failed sign-ins (code 429); "
    "see Retry-After",
    500: "Internal error (code 500); details only in the server log",
    503: "Retry after Retry-After seconds: wallet lock not acquired (521) or customer lookup failed (1007)",
    "default": "Any other failure, in the same shape",
}


def _responses(model: type[BaseModel], example: Any, *statuses: int) -> dict[int | str, dict[str, Any]]:
    responses: dict[int | str, dict[str, Any]] = {
        200: {"model": model, "content": {"application/json": {"example": example}}}
    }
    documented: tuple[int | str, ...] = (*statuses, 401, 403, 429, 500, "default")
    for status in documented:
        responses[status] = {"model": ErrorResponse, "description": _ERROR_DESCRIPTIONS[status]}
    if 503 in statuses:
        responses[503]["headers"] = {
            "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
        }
    responses[429]["headers"] = {
        name: {"description": description, "schema": {"type": "integer"}}
        for name, description in (
            ("Retry-After", "Seconds to wait"),
            ("RateLimit-Limit", "Requests per minute of this API client (rate limit only)"),
            ("RateLimit-Remaining", "Requests left this minute (rate limit only)"),
            ("RateLimit-Reset", "Seconds until the minute ends (rate limit only)"),
        )
    }
    return responses


# ---------------------------------------------------------------------------------------------
# Routes

router = APIRouter(route_class=RestRoute, tags=[TAG])

# What the domain accepts of each path and query parameter, stated in the document only: the
# routes keep the domain's own checks and messages (a FastAPI constraint would answer first, in
# its words). holdId is only looked up (storable text; an unknown one is a 404); redemptionId is
# checked as an identifier first (reversal.validate_reverse).
IDENTIFIER = identifier_schema()
CustomerIdPath = Annotated[
    int, Path(alias="customerId", examples=[566881933], json_schema_extra=dict(CUSTOMER_ID_SCHEMA))
]
Cursor = Annotated[
    str | None,
    Query(
        description="`nextCursor` of the previous page. Opaque: any other text is a 400 (code 400).",
        json_schema_extra=STORABLE_TEXT_SCHEMA,
    ),
]

CanWrite = Annotated[Principal, Depends(requires(Scope.WALLET_WRITE))]
CanRead = Annotated[Principal, Depends(requires(Scope.WALLET_READ))]


@router.post(
    "/{promotionId}/issueBulk",
    summary="Issue a cart promotion to customers",
    description="issue-cart-promotion: the body is a JSON array of customer ids. All-or-nothing and "
    "idempotent per (promotion, contextId, customer): `data` has one entry per distinct customer of "
    "the request, newly issued or already issued. Scope wallet:write.",
    response_model=IssueBulkResponse,
    responses=_responses(IssueBulkResponse, ISSUE_RESPONSE_EXAMPLE, 400, 404, 503, 415),
    openapi_extra=_request_body(
        # maxItems is PROMO_WALLET_MAX_BATCH, a setting: past it, a 400.
        {"type": "array", "minItems": 1, "items": CUSTOMER_ID_SCHEMA},
        ISSUE_REQUEST_EXAMPLES,
    ),
)
async def issue_bulk(
    request: Request,
    principal: CanWrite,
    promotion_id: Annotated[
        str,
        Path(alias="promotionId", examples=["67f3832ab206f929966adf81"], json_schema_extra=IDENTIFIER),
    ],
    context_id: Annotated[
        str,
        Query(
            alias="contextId",
            description="Identifies this issuance; it becomes earnedFromId of the entries.",
            examples=["68fb1c9731d91c625a8d9e80"],
            json_schema_extra=IDENTIFIER,
        ),
    ],
) -> Response:
    now = now_ms()
    check_text([promotion_id, context_id])
    body = await read_json(request)
    if not isinstance(body, list):
        raise RestError.invalid("the request body must be a JSON array of customer ids")
    result = await issue.issue_promotion(
        _uow_factory(request),
        principal,
        IssuePromotion(
            promotion_id=promotion_id, context_id=context_id, customer_ids=[long_or_raw(x) for x in body]
        ),
        max_batch=_settings(request).max_batch,
        now=now,
    )
    data = {str(entry.customer_id): rendering.issued_entry(entry) for entry in result.entries}
    return JSONResponse({"data": data})


@router.post(
    "/earn/bulk",
    summary="Earn several cart promotions for one customer",
    description="bulk-earn-cart-promotion: one result per `earnedPromotions` entry, in request order; "
    "each entry succeeds or fails on its own (`errorDetails` only on failed entries). Repeating an "
    "entry (promotionId, earnedFromId) creates only the instances still missing. Scope wallet:write.",
    response_model=EarnBulkResponse,
    responses=_responses(EarnBulkResponse, EARN_RESPONSE_EXAMPLE, 400, 404, 503, 415),
    openapi_extra=_model_body(EarnBulkRequest, EARN_REQUEST_EXAMPLE, "The bulk-earn page's example"),
)
async def earn_bulk(request: Request, principal: CanWrite) -> Response:
    now = now_ms()
    body = parse(EarnBulkRequest, await read_json(request))
    result = await earn.earn_promotions(
        _uow_factory(request),
        principal,
        body.to_command(),
        max_instances=_settings(request).max_batch,
        now=now,
    )
    return JSONResponse(
        {"data": [rendering.earn_result(outcome) for outcome in result.outcomes], "errors": []}
    )


@router.post(
    "/redemptions",
    summary="Redeem cart promotions (record a purchase)",
    description="redeem-cart-promotion: records the transaction's redemptions exactly once, under the "
    "customer's wallet lock. A repeat with the same transactionIdentifier and content returns the "
    "recorded redemption. Scope wallet:write.",
    response_model=RedeemResponse,
    responses=_responses(RedeemResponse, REDEEM_RESPONSE_EXAMPLE, 400, 404, 405, 406, 503, 415),
    openapi_extra=_model_body(RedeemRequest, REDEEM_REQUEST_EXAMPLE, "The redeem page's example"),
)
async def redemptions(request: Request, principal: CanWrite) -> Response:
    body = parse(RedeemRequest, await read_json(request))
    redemption = await redeem.redeem_promotions(_uow_factory(request), principal, body.to_command())
    return rendering.ExactJSONResponse(
        {"data": rendering.redemption_record(redemption, sent_identifier_type=body.customer_identifier_type)}
    )


@router.post(
    "/redemptions/{redemptionId}/reversals",
    summary="Reverse a redemption (refund, cancelled order, failed payment)",
    description="reverseRedemption (DESIGN §8.1): gives the redemption's counts back to the wallet "
    "entries they came from, all of what is left (no `lines`) or the counts of `lines`. Idempotent by "
    "reversalIdentifier: a repeat with the same content returns the recorded reversal. 400 for more "
    "than is left to reverse; 404 for a redemption not of this org. Scope wallet:write.",
    response_model=ReverseResponse,
    responses=_responses(ReverseResponse, REVERSE_RESPONSE_EXAMPLE, 400, 404, 503, 415),
    openapi_extra=_model_body(ReverseRequest, REVERSE_REQUEST_EXAMPLE, "Give one redemption back"),
)
async def reversals(
    request: Request,
    principal: CanWrite,
    redemption_id: Annotated[
        str,
        Path(alias="redemptionId", examples=["67f3832ab206f929966adf81"], json_schema_extra=IDENTIFIER),
    ],
) -> Response:
    check_text([redemption_id])
    body = parse(ReverseRequest, await read_json(request))
    outcome = await reverse.reverse_redemption(
        _uow_factory(request), principal, body.to_command(redemption_id)
    )
    return JSONResponse({"data": rendering.reversal_result(outcome)})


HoldId = Annotated[
    str, Path(alias="holdId", examples=["67f3832ab206f929966adf90"], json_schema_extra=STORABLE_TEXT_SCHEMA)
]


@router.post(
    "/holds",
    summary="Hold cart promotions (two-phase redemption, first step)",
    description="holdPromotions (DESIGN §8.2): every check of the redemptions route, then the counts "
    "are reserved, not consumed, for holdSeconds (1 to 86400, default 900): commit or release the hold "
    "with the routes below, or let it expire (its counts come back by themselves). The same "
    "transactionIdentifier and content again returns the same hold. Scope wallet:write.",
    response_model=HoldResponse,
    responses=_responses(HoldResponse, HOLD_RESPONSE_EXAMPLE, 400, 404, 405, 406, 503, 415),
    openapi_extra=_model_body(HoldRequest, HOLD_REQUEST_EXAMPLE, "Hold the redeem page's example"),
)
async def create_hold(request: Request, principal: CanWrite) -> Response:
    body = parse(HoldRequest, await read_json(request))
    hold = await holds.hold_promotions(_uow_factory(request), principal, body.to_hold_command())
    return JSONResponse({"data": rendering.hold_record(hold, now_ms())})


@router.post(
    "/holds/{holdId}/commit",
    summary="Commit a hold (two-phase redemption, second step)",
    description="commitHold: records the hold's redemption, consuming exactly the held counts; a "
    "repeat returns the same redemption. 400 for a released or expired hold, 404 for a hold not of "
    "this org. Answers as the redemptions route does. Scope wallet:write.",
    response_model=RedeemResponse,
    responses=_responses(RedeemResponse, REDEEM_RESPONSE_EXAMPLE, 400, 404, 503),
)
async def commit_hold(request: Request, principal: CanWrite, hold_id: HoldId) -> Response:
    check_text([hold_id])
    redemption = await holds.commit_hold(_uow_factory(request), principal, hold_id)
    return rendering.ExactJSONResponse(
        {"data": rendering.redemption_record(redemption, sent_identifier_type=None)}
    )


@router.post(
    "/holds/{holdId}/release",
    summary="Release a hold (the payment failed or was abandoned)",
    description="releaseHold: frees the held counts at once. Idempotent: a committed, released or "
    "expired hold is returned unchanged. 404 for a hold not of this org. Scope wallet:write.",
    response_model=HoldResponse,
    responses=_responses(HoldResponse, HOLD_RESPONSE_EXAMPLE, 404, 503),
)
async def release_hold(request: Request, principal: CanWrite, hold_id: HoldId) -> Response:
    check_text([hold_id])
    hold = await holds.release_hold(_uow_factory(request), principal, hold_id)
    return JSONResponse({"data": rendering.hold_record(hold, now_ms())})


@router.get(
    "/customer/{customerId}",
    summary="A customer's wallet",
    description="The customer's earned promotions, soonest-expiring first, `limit` per page; pass "
    "`nextCursor` back as `cursor` for the next page. An unknown customer's wallet is empty, as "
    "over GraphQL. Scope wallet:read.",
    response_model=WalletResponse,
    responses=_responses(WalletResponse, WALLET_RESPONSE_EXAMPLE, 400),
)
async def customer_wallet(
    request: Request,
    principal: CanRead,
    customer_id: CustomerIdPath,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Entries per page.")] = 20,
    cursor: Cursor = None,
    status: Annotated[
        list[EarnedPromotionStatus] | None, Query(description="Only entries in these statuses.")
    ] = None,
    promotion_id: Annotated[
        str | None,
        Query(
            alias="promotionId",
            description="Only entries of this promotion.",
            json_schema_extra=STORABLE_TEXT_SCHEMA,
        ),
    ] = None,
) -> Response:
    now = now_ms()
    check_text([cursor, promotion_id])
    customer_id = check_customer_id(customer_id)
    view = await queries.wallet_view(
        _uow_factory(request),
        principal,
        customer_id=customer_id,
        statuses=status,
        promotion_id=promotion_id,
        first=limit,
        after=cursor,
        with_count=False,
        with_promotions=False,
        with_timezone=True,  # validTillLocal, read by the page's own statement
    )
    page = view.page
    next_cursor = page.cursors[-1] if page.has_next_page and page.cursors else None
    body = rendering.wallet_page(customer_id, page.items, next_cursor, now, org_zone(view.timezone))
    return rendering.WalletJSONResponse(body)


_UNDER_PREFIXES = tuple(f"{prefix}/" for prefix in PREFIXES)


async def rest_http_error_response(request: Request, error: Exception) -> Response:
    """What the app answers itself on a REST path (an unknown route, a wrong method, a body over
    the limit) in the REST error shape, with its status and headers (`Allow` on a 405); other
    paths keep FastAPI's own answer. main.py installs it for Starlette's HTTPException."""
    assert isinstance(error, HTTPException)
    path = request.url.path
    if not (path in PREFIXES or path.startswith(_UNDER_PREFIXES)):
        return await http_exception_handler(request, error)
    return JSONResponse(
        {"errors": [{"code": error.status_code, "message": str(error.detail)}]},
        status_code=error.status_code,
        headers=dict(error.headers or {}),
    )


def add_rest_routes(target: APIRouter) -> None:
    """The routes under both prefixes, added to `target` (the app's router) each as a route of its
    own, with its full path, in the order `include_router` would list them: FastAPI matches the
    routes of an included router once per level of inclusion, and tries every route of the
    prefixes before the one a request names; a route of the app's own router is matched once."""
    from app.rest.history_routes import router as history_router  # it builds on this module

    for prefix in PREFIXES:
        for source in (router, history_router):
            for route in source.routes:
                assert isinstance(route, APIRoute)
                target.add_api_route(
                    prefix + route.path,
                    route.endpoint,
                    route_class_override=type(route),
                    response_model=route.response_model,
                    status_code=route.status_code,
                    tags=list(route.tags),
                    dependencies=list(route.dependencies),
                    summary=route.summary,
                    description=route.description,
                    response_description=route.response_description,
                    responses=dict(route.responses),
                    deprecated=route.deprecated,
                    methods=set(route.methods or ()),
                    operation_id=route.operation_id,
                    response_model_include=route.response_model_include,
                    response_model_exclude=route.response_model_exclude,
                    response_model_by_alias=route.response_model_by_alias,
                    response_model_exclude_unset=route.response_model_exclude_unset,
                    response_model_exclude_defaults=route.response_model_exclude_defaults,
                    response_model_exclude_none=route.response_model_exclude_none,
                    include_in_schema=route.include_in_schema,
                    response_class=route.response_class,
                    name=route.name,
                    callbacks=route.callbacks,
                    openapi_extra=route.openapi_extra,
                    generate_unique_id_function=route.generate_unique_id_function,
                    strict_content_type=route.strict_content_type,
                    max_body_size=route.max_body_size,
                )
