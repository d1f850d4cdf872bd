"""The served schema's executor: graphql-core's, with a short path for plain fields.

Most fields of a response are scalars, enums or objects read straight off the object a resolver
built (types.py computes its derived values in `from_domain` for that reason). graphql-core still
builds a `GraphQLResolveInfo` for each, asks the middleware manager for a resolver, calls
Strawberry's default-resolver wrapper and walks `complete_value`'s type checks. For a field that
Strawberry resolves with its default resolver (no resolver, no permission classes, no field
extensions), that takes no arguments, has a scalar, enum or object type (one without
`is_type_of`), and runs under no `resolve` middleware, none of that can change the answer: the
value is `getattr(source, python_name)`, coerced by the type's own `coerce_output_value` or, for
an object, completed by executing its sub-selection. That is what this executor does; also for
`__typename` (the parent type's name) and for a resolver marked PRECOMPUTED whose attribute is set.

Anything other than a plain answer -- a null in a non-null field, an exception, a value the
scalar refuses, an awaitable -- goes back to graphql-core's own `execute_field`, which reads the
attribute again and reports the error exactly as it always does (the attributes read here are
dataclass fields: reading twice has no effect). Lists, abstract types and mutations (executed
serially) take graphql-core's path unchanged. `tests/unit/test_fast_execution.py` compares the
two executors' answers over documents with errors, nulls, lists, aliases, fragments and enums.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import suppress
from enum import EnumMeta
from typing import Any, NamedTuple

from graphql import GraphQLField, GraphQLObjectType, GraphQLOutputType, Undefined
from graphql.execution.collect_fields import GroupedFieldSet
from graphql.pyutils import Path, gather_with_cancel
from graphql.type import GraphQLEnumType, GraphQLNonNull, GraphQLScalarType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

# `strawberry.field(metadata={PRECOMPUTED: "attribute"})` on a resolver without arguments or
# permission classes: the resolver answers `self.<attribute>` whenever that is not None (and
# works its answer out otherwise). This executor then reads the attribute as a plain field and
# calls the resolver only when it is None.
PRECOMPUTED = "promo_wallet.precomputed"


class _Plain(NamedTuple):
    """A field read with `getattr(source, attribute)`: a leaf (`coerce` set: its type's
    coerce_output_value) or an object (`object_type` set: its sub-selection is executed).
    `precomputed`: a None there means "ask the resolver", not null."""

    attribute: str
    non_null: bool
    return_type: GraphQLOutputType
    coerce: Callable[[Any], Any] | None
    object_type: GraphQLObjectType | None
    precomputed: bool = False


class _Step(NamedTuple):
    response_name: str
    field_details_list: Any
    plain: _Plain | None
    typename: str | None  # for `__typename`: the parent type's name, its answer


# By the field's identity (GraphQLField is not hashable); the field is kept so its id stays its
# own. Bounded by the fields of the schemas built in this process.
_PLAIN_FIELDS: dict[int, tuple[GraphQLField, _Plain | None]] = {}


def _plain_field(field: GraphQLField) -> _Plain | None:
    known = _PLAIN_FIELDS.get(id(field))
    if known is None:
        known = _PLAIN_FIELDS[id(field)] = (field, plain_field(field))
    return known[1]


def plain_field(field: GraphQLField) -> _Plain | None:
    """How to read `field` without graphql-core's per-field machinery, or None when it needs it."""
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if field.args or not isinstance(definition, StrawberryField):
        return None
    metadata: Mapping[Any, Any] = definition.metadata or {}
    precomputed = metadata.get(PRECOMPUTED)
    if isinstance(precomputed, str):
        if definition.extensions or definition.arguments:  # e.g. permission classes
            return None
        attribute = precomputed
    elif (
        getattr(field.resolve, "_is_default", False)
        and definition.is_basic_field
        and definition.default_resolver is getattr
        and definition.python_name
    ):
        attribute = definition.python_name
    else:
        return None
    field_type: GraphQLOutputType = field.type
    non_null = isinstance(field_type, GraphQLNonNull)
    named = field_type.of_type if isinstance(field_type, GraphQLNonNull) else field_type
    wanted = isinstance(precomputed, str)
    if isinstance(named, GraphQLEnumType):
        return _Plain(attribute, non_null, field_type, _enum_coercion(named), None, wanted)
    if isinstance(named, GraphQLScalarType):
        return _Plain(attribute, non_null, field_type, named.coerce_output_value, None, wanted)
    # An object type with `is_type_of` (one with interfaces) needs a GraphQLResolveInfo for it.
    if isinstance(named, GraphQLObjectType) and named.is_type_of is None:
        return _Plain(attribute, non_null, field_type, None, named, wanted)
    return None


def _enum_coercion(enum_type: GraphQLEnumType) -> Callable[[Any], Any]:
    """The enum's coerce_output_value, with its answer for each member of the Python enum behind
    it looked up instead of found: Strawberry's compares the member with every value in turn."""
    coerce = enum_type.coerce_output_value
    members = getattr(enum_type, "wrapped_cls", None)
    if not isinstance(members, EnumMeta):
        return coerce
    names: dict[Any, Any] = {}
    member: Any
    for member in members:
        with suppress(Exception):  # one it refuses keeps being refused by `coerce` itself
            names[member] = coerce(member)

    def coerce_member(value: Any) -> Any:
        # Only a member itself: a str-valued enum's member equals its plain string value.
        if type(value) is members:
            name = names.get(value)
            if name is not None:
                return name
        return coerce(value)

    return coerce_member


_NOT_PLAIN = object()
# Values of these types are never awaitable: no need to ask.
_PLAIN_TYPES = frozenset({str, int, float, bool})
_NEVER_AWAITABLE = _PLAIN_TYPES | {type(None), dict}


class PlainFieldExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.middleware_manager
        # A `resolve` hook (a Strawberry extension implementing it) must see every field.
        self._plain_fields = manager is None or not getattr(manager, "middlewares", ())
        # By the identity of the grouped field set, which graphql-core memoises per selection
        # (one set for every entry of a page); the set is kept so that its id stays its own.
        self._plans: dict[int, tuple[GroupedFieldSet, GraphQLObjectType, list[_Step]]] = {}

    def _plan(self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet) -> list[_Step]:
        known = self._plans.get(id(grouped_field_set))
        if known is not None and known[1] is parent_type:
            return known[2]
        steps = []
        for response_name, field_details_list in grouped_field_set.items():
            node = field_details_list[0].node
            name = node.name.value
            field = self.schema.get_field(parent_type, name)
            plain = _plain_field(field) if field is not None and not node.arguments else None
            typename = parent_type.name if name == "__typename" and field is not None else None
            steps.append(_Step(response_name, field_details_list, plain, typename))
        self._plans[id(grouped_field_set)] = (grouped_field_set, parent_type, steps)
        return steps

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        """graphql-core's `execute_fields`, except that a plain field is read here: a leaf is
        coerced, an object's sub-selection executed, as graphql-core's `complete_value` would."""
        if not self._plain_fields:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list, plain, typename in self._plan(
                parent_type, grouped_field_set
            ):
                if typename is not None:
                    results[response_name] = typename
                    continue
                result: Any = _NOT_PLAIN
                if plain is not None:
                    try:
                        value = getattr(source_value, plain.attribute)
                    except Exception:  # graphql-core reads it again and reports the error
                        value = _NOT_PLAIN
                    if value is None:
                        if not plain.non_null and not plain.precomputed:
                            result = None
                    elif value is _NOT_PLAIN or (
                        type(value) not in _PLAIN_TYPES
                        and (value is Undefined or isinstance(value, Exception) or is_awaitable(value))
                    ):
                        pass
                    elif plain.coerce is not None:
                        try:
                            coerced = plain.coerce(value)
                        except Exception:  # graphql-core coerces it again and reports the error
                            coerced = None
                        if coerced is not None and coerced is not Undefined:
                            result = coerced
                    else:
                        field_path = Path(path, response_name, parent_type.name)
                        result = self._complete_plain_object(
                            plain, field_details_list, field_path, value, position_context
                        )
                if result is _NOT_PLAIN:
                    result = self.execute_field(
                        parent_type,
                        source_value,
                        field_details_list,
                        Path(path, response_name, parent_type.name),
                        position_context,
                    )
                    if result is Undefined:
                        continue
                results[response_name] = result
                if type(result) not in _NEVER_AWAITABLE and is_awaitable(result):
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

    def _complete_plain_object(
        self, plain: _Plain, field_details_list: Any, path: Path, value: Any, position_context: Any
    ) -> Any:
        """What graphql-core's `execute_field` answers for an object-typed field whose resolver
        returned `value` (not None): its sub-selection, errors handled as there."""
        assert plain.object_type is not None
        try:
            completed = self.collect_and_execute_subfields(
                plain.object_type, field_details_list, path, value, position_context
            )
        except Exception as raw_error:
            self.handle_field_error(raw_error, plain.return_type, field_details_list, path)
            return None
        if type(completed) is dict or not self.is_awaitable(completed):
            return completed

        async def await_completed() -> Any:
            try:
                return await completed
            except Exception as raw_error:
                self.handle_field_error(raw_error, plain.return_type, field_details_list, path)
                return None

        return await_completed()
