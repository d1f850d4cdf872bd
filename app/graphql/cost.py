"""The query cost limit: what a document would make the server fetch and render, refused before
execution when over `PROMO_WALLET_MAX_QUERY_COST`.

The cost model (the README's "Limits and rate limits" says the same):
- every field selected costs 1 (`__typename` too), fragments counted where they are spread;
- a field with a `first` argument (every connection: wallet, promotions, redemptions, ...)
  multiplies the cost of what is selected under it by `first` (its value, from a literal, a
  variable or the argument's default): the page could hold that many nodes;
- lists without `first` (a redemption's lines, an import's results) are bounded by their input
  or by the data, and count once.
So `wallet(first: 100) { edges { node { id status } } }` costs 1 + 100 x (1 + 1 + 2) = 401.

Depth, aliases and tokens have their own limits (limits.py); the cost is what those cannot see:
15 aliased wallet pages of 100 entries each pass all three."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)
from strawberry.extensions import SchemaExtension

from app.graphql.limits import CACHE_SIZE, MAX_CACHED_QUERY_CHARS, Unkeyed
from app.settings import Settings

QUERY_TOO_COSTLY = "QUERY_TOO_COSTLY"
PAGE_SIZE_ARGUMENT = "first"


def _page_size(node: FieldNode, field: Any, variables: Mapping[str, Any]) -> int:
    """The `first` the field will run with, or 1 for a field that takes none."""
    if field is None or PAGE_SIZE_ARGUMENT not in field.args:
        return 1
    value: Any = field.args[PAGE_SIZE_ARGUMENT].default_value
    for argument in node.arguments or ():
        if argument.name.value == PAGE_SIZE_ARGUMENT:
            if isinstance(argument.value, IntValueNode):
                value = int(argument.value.value)
            elif isinstance(argument.value, VariableNode):
                value = variables.get(argument.value.name.value, value)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


class _Costing:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        limit: int,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.limit = limit

    def _fields(self, selection_set: SelectionSetNode, parent: Any) -> Iterator[tuple[FieldNode, Any]]:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                yield selection, parent
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                yield from self._fields(selection.selection_set, inner)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    inner = self.schema.get_type(fragment.type_condition.name.value)
                    yield from self._fields(fragment.selection_set, inner)

    def cost(self, selection_set: SelectionSetNode | None, parent: Any) -> int:
        if selection_set is None:
            return 0
        total = 0
        for node, parent_type in self._fields(selection_set, parent):
            field = None
            if isinstance(parent_type, (GraphQLObjectType, GraphQLInterfaceType)):
                field = parent_type.fields.get(node.name.value)
            inner = get_named_type(field.type) if field is not None else None
            total += 1 + _page_size(node, field, self.variables) * self.cost(node.selection_set, inner)
            if total > self.limit:  # already refused: no need to walk the rest of a huge document
                return total
        return total


def query_cost(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any] | None,
    limit: int | None = None,
) -> int:
    """The cost of `operation`; with `limit`, the walk stops as soon as the cost is past it."""
    root = schema.get_root_type(operation.operation)
    costing = _Costing(schema, fragments, variables or {}, limit if limit is not None else 2**62)
    return costing.cost(operation.selection_set, root)


def _int_variables(variables: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
    """The only variables a cost can depend on: `_page_size` ignores any value but an int."""
    return tuple((name, value) for name, value in variables.items() if type(value) is int)


@lru_cache(maxsize=CACHE_SIZE)
def _cached_cost(
    schema: GraphQLSchema,
    query: str,
    operation_name: str | None,
    int_variables: tuple[tuple[str, int], ...],
    limit: int,
    parsed: Unkeyed[DocumentNode],
) -> int | None:
    """The cost of the operation `operation_name` of `query`, or None when it has no such
    operation. `parsed` is the parse of `query` (the key is the text: equal texts parse
    alike), so the walk runs once per document and page sizes, not per request."""
    document = parsed.value
    operation = None
    fragments: dict[str, FragmentDefinitionNode] = {}
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            fragments[definition.name.value] = definition
        elif isinstance(definition, OperationDefinitionNode) and (
            operation_name is None
            or (definition.name is not None and definition.name.value == operation_name)
        ):
            operation = operation or definition
    if operation is None:
        return None
    return query_cost(schema, operation, fragments, dict(int_variables), limit)


def document_cost(
    schema: GraphQLSchema,
    query: str | None,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any],
    limit: int,
) -> int | None:
    int_variables = _int_variables(variables)
    if query is None or len(query) > MAX_CACHED_QUERY_CHARS:  # a long text is not kept in a cache
        return _cached_cost.__wrapped__(schema, "", operation_name, int_variables, limit, Unkeyed(document))
    return _cached_cost(schema, query, operation_name, int_variables, limit, Unkeyed(document))


class QueryCostLimit(SchemaExtension):
    """Refuses an operation over `max_query_cost` after validation, before execution (nothing of
    it runs), with `extensions.code = "QUERY_TOO_COSTLY"`, the computed cost and the limit. Must
    come after DocumentLimitsExtension in the schema's extensions (it validates first)."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        settings = getattr(context.context, "settings", None)
        limit = settings.max_query_cost if isinstance(settings, Settings) else 0
        document = context.graphql_document
        if limit > 0 and document is not None and context.pre_execution_errors == []:
            variables = context.variables if isinstance(context.variables, dict) else {}
            cost = document_cost(
                context.schema._schema, context.query, document, context.operation_name, variables, limit
            )
            if cost is not None and cost > limit:
                context.pre_execution_errors = [
                    GraphQLError(
                        f"The query costs more than {limit} (at least {cost}): ask for fewer "
                        "fields, smaller pages (first) or fewer aliases",
                        extensions={"code": QUERY_TOO_COSTLY, "cost": cost, "maxCost": limit},
                    )
                ]
        yield
