"""The REST face of Idempotency-Key (the middleware is app/http_idempotency.py): the header applies
to every POST under the REST prefixes; a request is identified by its method, path, query
parameters (in any order) and body (JSON compared canonically; any other body by its bytes).

Refusals keep the REST error shape, `{"errors": [{"code": N, "message": ..., "reason": ...}]}`:
`code` stays a number, as in every REST error (the HTTP status: 400, 409 or 422), and the draft's
code string (`IDEMPOTENCY_KEY_REUSED`, ...) is `reason`, the same string GraphQL puts in
`extensions.code`."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from app.domain.errors import ResourceLocked
from app.domain.idempotency import IdempotencyKeyInProgress, IdempotencyRefusal
from app.rest.errors import domain_error_response
from app.rest.routes import PREFIXES

_UNDER = tuple(f"{prefix}/" for prefix in PREFIXES)


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)


class RestIdempotency:
    def handles(self, method: str, path: str) -> bool:
        return method == "POST" and path.startswith(_UNDER)

    def request_parts(self, scope: Scope, body: bytes) -> Any | None:
        try:
            content: Any = {"json": json.loads(body, parse_constant=_refuse_constant)}
        except (ValueError, RecursionError):
            content = {"sha256": hashlib.sha256(body).hexdigest()}
        query = sorted(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        return {"method": scope["method"], "path": scope["path"], "query": query, "body": content}

    def refusal(self, error: IdempotencyRefusal) -> Response:
        headers = {}
        if isinstance(error, IdempotencyKeyInProgress):
            headers["Retry-After"] = str(error.retry_after_s)
        return JSONResponse(
            {"errors": [{"code": error.status, "message": error.message, "reason": error.code}]},
            status_code=error.status,
            headers=headers,
        )

    def locked(self, error: ResourceLocked) -> Response:
        return domain_error_response(error)
