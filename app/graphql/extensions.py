"""Shapes top-level errors: a domain error (a bad cursor, `first` over 100) keeps its message and
gets its code; anything unexpected is logged with the request id and masked."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from app.domain.errors import DomainError

logger = logging.getLogger("app.graphql")

INTERNAL_MESSAGE = "Internal server error; it has been logged. Retry shortly."


class ErrorShaping(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is None or not errors:
            return
        result.errors = [self._shape(error) for error in errors]

    def _shape(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if original is None or isinstance(original, GraphQLError):
            return error
        if isinstance(original, DomainError):
            extensions = {"code": "BAD_USER_INPUT", "errorCode": int(original.code)}
            field = getattr(original, "field", None)
            if field:
                extensions["field"] = field
            return GraphQLError(error.message, nodes=error.nodes, path=error.path, extensions=extensions)
        if error.extensions and error.extensions.get("code") == "FORBIDDEN":
            return error
        request_id = getattr(self.execution_context.context, "request_id", None)
        logger.error("unexpected error in %s (request %s)", error.path, request_id, exc_info=original)
        return GraphQLError(
            INTERNAL_MESSAGE,
            nodes=error.nodes,
            path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
        )
