"""REST twins of walletHistory and explainRedemption (DESIGN §8.5), in the REST routes' field
style: `GET …/customer/{customerId}/history` and `POST …/redemptions/explain`. Registered under
both prefixes by `routes.create_rest_router`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field
from starlette.responses import Response

from app.domain.clock import to_iso
from app.domain.errors import DomainError
from app.domain.history import LedgerEvent
from app.domain.models import LedgerKind
from app.domain.paging import MAX_PAGE_SIZE
from app.domain.rules import check_customer_id
from app.rest.routes import (
    REDEEM_REQUEST_EXAMPLE,
    TAG,
    CanRead,
    Cursor,
    CustomerIdPath,
    RedeemRequest,
    RestRoute,
    _model_body,
    _responses,
    _uow_factory,
    check_text,
    parse,
    read_json,
)
from app.rest.schemas import INSTANT_SCHEMA, ResponseModel
from app.services import explain, history
from app.services.explain import Explanation

router = APIRouter(route_class=RestRoute, tags=[TAG])


class HistoryEventOut(ResponseModel):
    id: str
    kind: LedgerKind
    at: int = Field(description="Epoch milliseconds (UTC).", json_schema_extra={"format": "int64"})
    at_iso: str = Field(alias="atISO")
    customer_id: int = Field(json_schema_extra={"format": "int64"})
    promotion_id: str
    earned_promotion_id: str | None = Field(description="When the change touched exactly one entry.")
    redemption_id: str | None = Field(description="REDEEMED: the redemption; REVERSED: the one reversed.")
    count: int = Field(description="Entries moved (ISSUED, EARNED, REVOKED) or redemptions moved (others).")
    actor: str = Field(description="The API client's username, or cli:<login>.")
    source: str | None = Field(
        description="contextId, earnedFromId, transactionIdentifier, reversalIdentifier or holdId."
    )


class History(ResponseModel):
    customer_id: int = Field(json_schema_extra={"format": "int64"})
    events: list[HistoryEventOut] = Field(description="Newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class HistoryResponse(ResponseModel):
    data: History


class CheckOut(ResponseModel):
    name: str
    passed: bool
    detail: str
    code: int | None


class AllocationOut(ResponseModel):
    promotion_id: str
    earned_promotion_id: str
    redemption_count: int


class ExplainedError(ResponseModel):
    code: int
    message: str
    field: str | None = None
    reason: str | None = None


class ExplanationOut(ResponseModel):
    would_succeed: bool
    error: ExplainedError | None = Field(
        description="What the redemptions route would answer now (its code and message); null if it "
        "would succeed."
    )
    checks: list[CheckOut] = Field(description="The redemption's checks, in their order.")
    allocations: list[AllocationOut] = Field(description="The entries it would consume (none for a replay).")


class ExplanationResponse(ResponseModel):
    data: ExplanationOut


HISTORY_EXAMPLE = {
    "data": {
        "customerId": 566881933,
        "events": [
            {
                "id": "42",
                "kind": "REDEEMED",
                "at": 1748716199999,
                "atISO": "2025-05-31T18:29:59Z",
                "customerId": 566881933,
                "promotionId": "67f3832ab206f929966adf81",
                "earnedPromotionId": "67f3832ab206f929966adf90",
                "redemptionId": "67f3832ab206f929966adfa0",
                "count": 1,
                "actor": "pos-terminal-7",
                "source": "TXN-1001",
            }
        ],
        "nextCursor": None,
    }
}
EXPLAIN_EXAMPLE = {
    "data": {
        "wouldSucceed": False,
        "error": {
            "code": 400,
            "message": "Promotion 67f3832ab206f929966adf81 cannot be redeemed 1 time(s): "
            "the customer's entries have expired",
            "field": None,
            "reason": "EXPIRED",
        },
        "checks": [{"name": "request", "passed": True, "detail": "…", "code": None}],
        "allocations": [],
    }
}


def event_record(event: LedgerEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "kind": event.kind.value,
        "at": event.at,
        "atISO": to_iso(event.at),
        "customerId": event.customer_id,
        "promotionId": event.promotion_id,
        "earnedPromotionId": event.earned_promotion_id,
        "redemptionId": event.redemption_id,
        "count": event.count,
        "actor": event.actor,
        "source": event.source,
    }


def _error_record(error: DomainError) -> dict[str, Any]:
    reason = getattr(error, "reason", None)
    return {
        "code": int(error.code),
        "message": error.message,
        "field": getattr(error, "field", None),
        "reason": reason.value if reason is not None else None,
    }


def explanation_record(explanation: Explanation) -> dict[str, Any]:
    return {
        "wouldSucceed": explanation.would_succeed,
        "error": _error_record(explanation.error) if explanation.error is not None else None,
        "checks": [
            {"name": x.name, "passed": x.passed, "detail": x.detail, "code": x.code}
            for x in explanation.checks
        ],
        "allocations": [
            {
                "promotionId": a.promotion_id,
                "earnedPromotionId": a.earned_promotion_id,
                "redemptionCount": a.count,
            }
            for a in explanation.allocations
        ],
    }


@router.get(
    "/customer/{customerId}/history",
    summary="A customer's wallet history",
    description="walletHistory (DESIGN §8.5): the customer's wallet changes, newest first, one event per "
    "change of a promotion (an earn of several instances is one), `limit` per page; pass `nextCursor` back "
    "as `cursor`. `since` inclusive, `until` exclusive (epoch ms). Another org's or an unknown customer's "
    "history is empty. Scope wallet:read.",
    response_model=HistoryResponse,
    responses=_responses(HistoryResponse, HISTORY_EXAMPLE, 400),
)
async def customer_history(
    request: Request,
    principal: CanRead,
    customer_id: CustomerIdPath,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Events per page.")] = 20,
    cursor: Cursor = None,
    kind: Annotated[
        list[LedgerKind] | None, Query(description="Only events of these kinds; repeatable.")
    ] = None,
    since: Annotated[
        int | None, Query(description="Epoch ms, inclusive.", json_schema_extra=dict(INSTANT_SCHEMA))
    ] = None,
    until: Annotated[
        int | None, Query(description="Epoch ms, exclusive.", json_schema_extra=dict(INSTANT_SCHEMA))
    ] = None,
) -> Response:
    check_text([cursor])
    customer_id = check_customer_id(customer_id)
    query = history.history_query(
        customer_id=customer_id, kinds=kind, since=since, until=until, first=limit, after=cursor
    )
    found = await history.wallet_history(_uow_factory(request), principal, query, with_count=False)
    page = found.page
    return JSONResponse(
        {
            "data": {
                "customerId": customer_id,
                "events": [event_record(x) for x in page.items],
                "nextCursor": page.cursors[-1] if page.has_next_page and page.cursors else None,
            }
        }
    )


@router.post(
    "/redemptions/explain",
    summary="Explain a redemption (why can't this be redeemed?)",
    description="explainRedemption (DESIGN §8.5): the redemptions route's body; runs its checks in their "
    "order, writing nothing and taking no lock, and answers each check, the error the redemptions route "
    "would answer now and the allocations it would make. Always 200 for a body it can read. Scope "
    "wallet:read.",
    response_model=ExplanationResponse,
    responses=_responses(ExplanationResponse, EXPLAIN_EXAMPLE, 400),
    openapi_extra=_model_body(RedeemRequest, REDEEM_REQUEST_EXAMPLE, "Explain the redeem page's example"),
)
async def explain_redemption(request: Request, principal: CanRead) -> Response:
    body = parse(RedeemRequest, await read_json(request))
    explanation = await explain.explain_redemption(_uow_factory(request), principal, body.to_command())
    return JSONResponse({"data": explanation_record(explanation)})
