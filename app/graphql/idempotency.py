"""The GraphQL face of Idempotency-Key (the middleware is app/http_idempotency.py): the header
applies to POST /graphql requests whose operation is a mutation; a request is identified by its
document (printed from its parse, so layout and comments do not count), operationName and
variables; refusals are top-level `errors` with `extensions.code`."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from graphql import GraphQLError, OperationType, get_operation_ast, parse, print_ast
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from app.domain.errors import ResourceLocked
from app.domain.idempotency import IdempotencyKeyInProgress, IdempotencyRefusal
from app.graphql.limits import document_exceeds, raw_query_certainly_exceeds
from app.http_limits import MalformedBody, decode_json_body

PATH = "/graphql"


@lru_cache(maxsize=512)
def _mutation_document(query: str, operation_name: str | None, max_tokens: int | None) -> str | None:
    """The document as printed from its parse when the operation is a mutation, else None (a
    query or subscription, or a document GraphQL itself will refuse)."""
    try:
        document = parse(query, no_location=True, max_tokens=max_tokens)
    except GraphQLError:
        return None
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation != OperationType.MUTATION:
        return None
    return print_ast(document)


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)


def _errors(message: str, extensions: dict[str, Any], status: int, headers: dict[str, str]) -> Response:
    return JSONResponse(
        {"data": None, "errors": [{"message": message, "extensions": extensions}]},
        status_code=status,
        headers=headers,
    )


class GraphQLIdempotency:
    def __init__(self, *, max_tokens: int | None, max_document_bytes: int | None = None) -> None:
        # The document is parsed before the schema's own token limit runs: bounded the same way,
        # and a document over the byte limit is not parsed here at all (the route refuses it).
        self._max_tokens = max_tokens
        self._max_document_bytes = max_document_bytes

    def handles(self, method: str, path: str) -> bool:
        return method == "POST" and path == PATH

    def request_parts(self, scope: Scope, body: bytes) -> Any | None:
        limit = self._max_document_bytes
        if limit is not None and raw_query_certainly_exceeds(body, limit):
            return None  # the route refuses it, without decoding it either
        try:
            request = decode_json_body(body, parse_constant=_refuse_constant)
        except MalformedBody:
            return None
        if not isinstance(request, dict):
            return None
        query, name, variables = request.get("query"), request.get("operationName"), request.get("variables")
        if (
            not isinstance(query, str)
            or not isinstance(name, str | None)
            or not isinstance(variables, dict | None)
        ):
            return None
        if self._max_document_bytes is not None and document_exceeds(query, self._max_document_bytes):
            return None
        document = _mutation_document(query, name, self._max_tokens)
        if document is None:
            return None
        return {"document": document, "operationName": name, "variables": variables or {}}

    def refusal(self, error: IdempotencyRefusal) -> Response:
        headers = {}
        if isinstance(error, IdempotencyKeyInProgress):
            headers["Retry-After"] = str(error.retry_after_s)
        return _errors(error.message, {"code": error.code}, error.status, headers)

    def locked(self, error: ResourceLocked) -> Response:
        wait_ms = error.retry_after_ms or 1000
        extensions = {"code": "RESOURCE_LOCKED", "errorCode": int(error.code), "retryable": True}
        return _errors(
            error.message,
            extensions | {"retryAfterMs": wait_ms},
            503,
            {"Retry-After": str(max(1, math.ceil(wait_ms / 1000)))},
        )
