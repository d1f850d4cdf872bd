"""The served schema's executor: graphql-core's, with a short path for plain leaf fields.

Most fields of a response are scalars or enums read straight off the object a resolver built
(types.py computes its derived values in `from_domain` for that reason). graphql-core still
builds a `GraphQLResolveInfo` for each, asks the middleware manager for a resolver, calls
Strawberry's default-resolver wrapper and walks `complete_value`'s type checks. For a field that
Strawberry resolves with its default resolver (no resolver, no permission classes, no field
extensions), that takes no arguments, has a scalar or enum type, and runs under no `resolve`
middleware, none of that can change the answer: the value is `getattr(source, python_name)`
coerced by the type's own `coerce_output_value`. That is what this executor does.

Anything other than a plain answer -- a null in a non-null field, an exception, a value the
scalar refuses -- goes back to graphql-core's own `execute_field`, which reads the attribute
again and reports the error exactly as it always does (the attributes read here are dataclass
fields: reading twice has no effect). `tests/unit/test_fast_execution.py` compares the two
executors' answers over documents with errors, nulls, lists, aliases, fragments and enums.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from graphql import GraphQLField, GraphQLObjectType, GraphQLOutputType, Undefined
from graphql.execution.collect_fields import GroupedFieldSet
from graphql.pyutils import Path, gather_with_cancel
from graphql.type import GraphQLEnumType, GraphQLNonNull, GraphQLScalarType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField


class _Leaf(NamedTuple):
    attribute: str
    coerce: Any  # the leaf type's bound coerce_output_value
    non_null: bool


class _Step(NamedTuple):
    response_name: str
    field_details_list: Any
    leaf: _Leaf | None


# By the field's identity (GraphQLField is not hashable); the field is kept so its id stays its
# own. Bounded by the fields of the schemas built in this process.
_LEAVES: dict[int, tuple[GraphQLField, _Leaf | None]] = {}


def _plain_leaf(field: GraphQLField) -> _Leaf | None:
    known = _LEAVES.get(id(field))
    if known is None:
        known = _LEAVES[id(field)] = (field, plain_leaf(field))
    return known[1]


def plain_leaf(field: GraphQLField) -> _Leaf | None:
    """How to read `field` without graphql-core's per-field machinery, or None when it needs it."""
    if field.args or not getattr(field.resolve, "_is_default", False):
        return None
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if (
        not isinstance(definition, StrawberryField)
        or not definition.is_basic_field
        or definition.default_resolver is not getattr
        or not definition.python_name
    ):
        return None
    field_type: GraphQLOutputType = field.type
    non_null = isinstance(field_type, GraphQLNonNull)
    named = field_type.of_type if isinstance(field_type, GraphQLNonNull) else field_type
    if not isinstance(named, (GraphQLScalarType, GraphQLEnumType)):
        return None
    return _Leaf(definition.python_name, named.coerce_output_value, non_null)


_NOT_PLAIN = object()
# Values of these types are never awaitable: no need to ask.
_PLAIN_TYPES = frozenset({str, int, float, bool})


class FastLeafExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.middleware_manager
        # A `resolve` hook (a Strawberry extension implementing it) must see every field.
        self._plain_leaves = manager is None or not getattr(manager, "middlewares", ())
        # By the identity of the grouped field set, which graphql-core memoises per selection
        # (one set for every entry of a page); the set is kept so that its id stays its own.
        self._plans: dict[int, tuple[GroupedFieldSet, list[_Step]]] = {}

    def _plan(self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet) -> list[_Step]:
        known = self._plans.get(id(grouped_field_set))
        if known is not None:
            return known[1]
        steps = []
        for response_name, field_details_list in grouped_field_set.items():
            node = field_details_list[0].node
            field = self.schema.get_field(parent_type, node.name.value)
            leaf = _plain_leaf(field) if field is not None and not node.arguments else None
            steps.append(_Step(response_name, field_details_list, leaf))
        self._plans[id(grouped_field_set)] = (grouped_field_set, steps)
        return steps

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        """graphql-core's `execute_fields`, except that a plain leaf is read and coerced here."""
        if not self._plain_leaves:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list, leaf in self._plan(parent_type, grouped_field_set):
                if leaf is not None:
                    value = _plain_value(source_value, leaf, is_awaitable)
                    if value is not _NOT_PLAIN:
                        results[response_name] = value
                        continue
                result = self.execute_field(
                    parent_type,
                    source_value,
                    field_details_list,
                    Path(path, response_name, parent_type.name),
                    position_context,
                )
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:  # settle what other fields started: they may fail too
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                field = awaitable_fields[0]
                results[field] = await results[field]
            else:
                awaited = await gather_with_cancel(*(results[field] for field in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()


def _plain_value(source: Any, leaf: _Leaf, is_awaitable: Callable[[Any], bool]) -> Any:
    """The field's completed value, or `_NOT_PLAIN` when graphql-core must complete it (and
    report whatever is wrong with it)."""
    try:
        value = getattr(source, leaf.attribute)
    except Exception:
        return _NOT_PLAIN
    if value is None:
        return _NOT_PLAIN if leaf.non_null else None
    if (
        value is Undefined
        or isinstance(value, Exception)
        or (type(value) not in _PLAIN_TYPES and is_awaitable(value))
    ):
        return _NOT_PLAIN
    try:
        coerced = leaf.coerce(value)
    except Exception:
        return _NOT_PLAIN
    return _NOT_PLAIN if coerced is None or coerced is Undefined else coerced
