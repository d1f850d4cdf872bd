"""The served schema's executor: graphql-core's, with a short path for plain fields.

Most fields of a response are scalars, enums or objects read straight off the object a resolver
built (types.py computes its derived values in `from_domain` for that reason). graphql-core still
builds a `GraphQLResolveInfo` for each, asks the middleware manager for a resolver, calls
Strawberry's default-resolver wrapper and walks `complete_value`'s type checks. For a field that
Strawberry resolves with its default resolver (no resolver, no permission classes, no field
extensions), that takes no arguments, has a scalar, enum or object type (one without
`is_type_of`), and runs under no `resolve` middleware, none of that can change the answer: the
value is `getattr(source, python_name)`, coerced by the type's own `coerce_output_value` or, for
an object, completed by executing its sub-selection, and for a list of such objects (a page's
edges), by executing it for each item, with graphql-core's error handling per item and per list.
That is what this executor does; also for `__typename` (the parent type's name) and for a
resolver marked PRECOMPUTED whose attribute is set.

Each selection is planned once per request (what each field is: a `__typename`, a leaf, an object,
a list of objects, or graphql-core's); a value of exactly the type a built-in scalar answers
unchanged (a str for String or ID, a bool for Boolean, an int within 32 bits for Int) is its own
answer; a class whose values `_class_settles` shows are never awaitable nor exceptions is asked
about once, not for every value.

Anything other than a plain answer -- a null in a non-null field, an exception, a value the
scalar refuses, an awaitable -- goes back to graphql-core's own `execute_field`, which reads the
attribute again and reports the error exactly as it always does (the attributes read here are
dataclass fields: reading twice has no effect); so does a list holding such a thing, before any
of its items ran. Lists of leaves, nested lists, streamed lists, abstract types and mutations
(executed serially) take graphql-core's path unchanged. `tests/unit/test_fast_execution.py`
compares the two executors' answers over documents with errors, nulls, lists, aliases, fragments,
enums and awaitable values.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from contextlib import suppress
from enum import EnumMeta
from types import CoroutineType, GeneratorType
from typing import Any, NamedTuple

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLObjectType,
    GraphQLOutputType,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Undefined,
    ValueNode,
    VariableNode,
)
from graphql.execution.collect_fields import CollectedFields, GroupedFieldSet
from graphql.pyutils import Path, gather_with_cancel
from graphql.pyutils import is_awaitable as graphql_is_awaitable
from graphql.type import (
    GRAPHQL_MAX_INT,
    GRAPHQL_MIN_INT,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLID,
    GraphQLInt,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLString,
)
from strawberry.execution.is_awaitable import optimized_is_awaitable
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
    coerce_output_value), an object (`object_type` set: its sub-selection is executed) or a
    list of objects (`item_type` set too: the list's own item type, non-null or not).
    `precomputed`: a None there means "ask the resolver", not null."""

    attribute: str
    non_null: bool
    return_type: GraphQLOutputType
    coerce: Callable[[Any], Any] | None
    object_type: GraphQLObjectType | None
    precomputed: bool = False
    item_type: GraphQLOutputType | None = None


# What a step of a plan does with its field.
_TYPENAME, _LEAF, _OBJECT, _LIST, _OTHER = range(5)


class _Step(NamedTuple):
    response_name: str
    field_details_list: Any
    kind: int
    attribute: str  # for `__typename`: the parent type's name, its answer
    coerce: Callable[[Any], Any] | None
    null_answer: bool  # a None read is the answer (null), not a question for graphql-core
    passthrough: type | None  # a value of exactly this type is its own coerced answer
    plain: _Plain | None


# The built-in scalars' coercions that answer a value of exactly this type with the value itself
# (an Int also only within 32 bits): graphql-core's serialize_string, serialize_id, ...
_PASSTHROUGH: dict[Any, type] = {
    GraphQLString.coerce_output_value: str,
    GraphQLID.coerce_output_value: str,
    GraphQLBoolean.coerce_output_value: bool,
    GraphQLInt.coerce_output_value: int,
}


def _step(response_name: str, field_details_list: Any, plain: _Plain | None) -> _Step:
    if plain is None:
        return _Step(response_name, field_details_list, _OTHER, "", None, False, None, None)
    kind = _LEAF if plain.coerce is not None else _OBJECT if plain.item_type is None else _LIST
    null_answer = not plain.non_null and not plain.precomputed
    passthrough = _PASSTHROUGH.get(plain.coerce) if plain.coerce is not None else None
    return _Step(
        response_name,
        field_details_list,
        kind,
        plain.attribute,
        plain.coerce,
        null_answer,
        passthrough,
        plain,
    )


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
    if isinstance(named, GraphQLList):  # of objects only: one list level, items null or not
        item_type = named.of_type
        item = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if isinstance(item, GraphQLObjectType) and item.is_type_of is None:
            return _Plain(attribute, non_null, field_type, None, item, wanted, item_type)
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
# Path(...) without the extra call of its NamedTuple __new__.
_new_path = tuple.__new__
# Values of these types are never awaitable: no need to ask.
_PLAIN_TYPES = frozenset({str, int, float, bool})
_NEVER_AWAITABLE = _PLAIN_TYPES | {type(None), dict, list}
# The classes `_class_settles` accepted, in this process (bounded by its classes).
_SETTLED_TYPES: set[type] = set(_PLAIN_TYPES)
# Modules of classes that define none of the hooks `_class_settles` looks for.
_STANDARD_MODULES = frozenset({"builtins", "enum", "datetime", "decimal", "_decimal", "uuid"})
_SETTLING_HOOKS = ("__await__", "__getattr__", "__getattribute__", "__class__")


def _class_settles(kind: type) -> bool:
    """Whether the class alone shows that none of its values is an exception or awaitable, as
    graphql-core's and Strawberry's `is_awaitable` decide it (a coroutine, an iterable-coroutine
    generator, or `hasattr(value, "__await__")`): it is none of those classes, and no class of
    its MRO outside the standard library defines `__await__`, `__getattr__`, `__getattribute__`
    or `__class__`. An `__await__` set on a single instance escapes this, as it escapes `await`
    itself, which looks on the class."""
    if issubclass(kind, (BaseException, CoroutineType, GeneratorType)) or kind is type(Undefined):
        return False
    return not any(
        hook in vars(base)
        for base in kind.__mro__
        if base.__module__ not in _STANDARD_MODULES
        for hook in _SETTLING_HOOKS
    )


class _SharedSelections:
    """What a document's executions can share: graphql-core's collected sub-selections, by the
    parent type and field nodes they were collected for, and this executor's plans of them, per
    schema. Only for a document whose selections no request can change (`_fixed_selections`)."""

    __slots__ = ("document", "schemas")

    def __init__(self, document: DocumentNode) -> None:
        self.document = document  # kept alive: the ids below stay its nodes'
        # By the schema's id (the schema kept): collected sub-selections and plans.
        self.schemas: dict[int, tuple[Any, dict[tuple[int, ...], CollectedFields], dict[int, Any]]] = {}

    def of(self, schema: Any) -> tuple[dict[tuple[int, ...], CollectedFields], dict[int, Any]]:
        known = self.schemas.get(id(schema))
        if known is None or known[0] is not schema:
            known = self.schemas[id(schema)] = (schema, {}, {})
        return known[1], known[2]


# By the id of each operation of a shared document (the operation kept, so the id stays its own);
# as many documents as the parse cache holds (limits.py registers each document it caches).
_SHARED: OrderedDict[int, tuple[OperationDefinitionNode, _SharedSelections]] = OrderedDict()
SHARED_DOCUMENTS = 256


def share_selections(document: DocumentNode) -> None:
    """Let the executions of `document` (a parse that is reused: limits.py's cache) share their
    collected sub-selections and plans, when no request can change them."""
    if not _fixed_selections(document):
        return
    shared = _SharedSelections(document)
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            _SHARED[id(definition)] = (definition, shared)
            _SHARED.move_to_end(id(definition))
    while len(_SHARED) > SHARED_DOCUMENTS:
        _SHARED.popitem(last=False)


def _fixed_selections(document: DocumentNode) -> bool:
    """Whether graphql-core collects the same fields for every request of `document`: no
    directive of a selection reads a variable (`@include(if: $x)`), none defers or streams, and
    no fragment takes or is given arguments."""
    sets: list[SelectionSetNode] = []
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode) and definition.variable_definitions:
            return False
        selection_set = getattr(definition, "selection_set", None)
        if isinstance(selection_set, SelectionSetNode):
            sets.append(selection_set)
    while sets:
        for selection in sets.pop().selections:
            for directive in selection.directives or ():
                if directive.name.value in ("defer", "stream"):
                    return False
                if any(_reads_variable(argument.value) for argument in directive.arguments or ()):
                    return False
            if isinstance(selection, FragmentSpreadNode) and getattr(selection, "arguments", None):
                return False
            if isinstance(selection, (FieldNode, InlineFragmentNode)) and selection.selection_set:
                sets.append(selection.selection_set)
    return True


def _reads_variable(value: ValueNode) -> bool:
    if isinstance(value, VariableNode):
        return True
    if isinstance(value, ListValueNode):
        return any(_reads_variable(item) for item in value.values)
    if isinstance(value, ObjectValueNode):
        return any(_reads_variable(field.value) for field in value.fields)
    return False


class PlainFieldExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.middleware_manager
        # A `resolve` hook (a Strawberry extension implementing it) must see every field.
        self._plain_fields = manager is None or not getattr(manager, "middlewares", ())
        # By the identity of the grouped field set, which graphql-core memoises per selection
        # (one set for every entry of a page); the set is kept so that its id stays its own.
        self._plans: dict[int, tuple[GroupedFieldSet, GraphQLObjectType, list[_Step]]] = {}
        # The sub-selection of an object (or list item) by the identity of its field details
        # list, as graphql-core's `collect_subfields` memoises it; None when it defers a part.
        self._subfield_sets: dict[int, tuple[Any, GraphQLObjectType, GroupedFieldSet | None]] = {}
        # Classes whose values graphql-core completes as they are (see `_class_settles`): known
        # for the two `is_awaitable` checks that look no further than `_class_settles` does.
        shared = _SHARED.get(id(self.operation))
        self._shared_collected: dict[tuple[int, ...], CollectedFields] | None = None
        self._shared_plans: dict[int, Any] = {}
        if shared is not None and shared[0] is self.operation:
            self._shared_collected, self._shared_plans = shared[1].of(self.schema)
        known_check = self.is_awaitable in (optimized_is_awaitable, graphql_is_awaitable)
        self._settled_types = _SETTLED_TYPES if known_check else set(_PLAIN_TYPES)
        self._learn_types = known_check

    def _settled(self, value: Any) -> bool:
        """Whether `value` is no Undefined, exception or awaitable: a value graphql-core
        completes as it is. Its class is remembered when that class decides it for every value."""
        if value is Undefined or isinstance(value, Exception) or self.is_awaitable(value):
            return False
        kind = type(value)
        if self._learn_types and _class_settles(kind):
            self._settled_types.add(kind)
        return True

    def collect_subfields(self, return_type: GraphQLObjectType, field_details_list: Any) -> CollectedFields:
        """graphql-core's, remembered across the requests of a shared document by the parent
        type and the field nodes: its selections are the same for every request."""
        collected = self._shared_collected
        if collected is None:
            return super().collect_subfields(return_type, field_details_list)
        key = (id(return_type), *[id(details.node) for details in field_details_list])
        known = collected.get(key)
        if known is None:
            known = collected[key] = super().collect_subfields(return_type, field_details_list)
            # Its grouped field set, kept in `collected`, may keep its plan for later requests.
            self._shared_plans[id(known[0])] = (known[0], return_type, None)
        return known

    def _plan(self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet) -> list[_Step]:
        known = self._plans.get(id(grouped_field_set))
        if known is not None and known[1] is parent_type:
            return known[2]
        shared = self._shared_plans.get(id(grouped_field_set))
        if shared is not None and shared[0] is grouped_field_set and shared[1] is parent_type:
            if shared[2] is not None:
                self._plans[id(grouped_field_set)] = shared
                return shared[2]
        else:
            shared = None
        steps = []
        for response_name, field_details_list in grouped_field_set.items():
            node = field_details_list[0].node
            name = node.name.value
            field = self.schema.get_field(parent_type, name)
            plain = _plain_field(field) if field is not None and not node.arguments else None
            if plain is not None and plain.item_type is not None and _streamed(node):
                plain = None  # @stream: graphql-core's incremental delivery
            if name == "__typename" and field is not None:
                step = _Step(
                    response_name,
                    field_details_list,
                    _TYPENAME,
                    parent_type.name,
                    None,
                    False,
                    None,
                    None,
                )
            else:
                step = _step(response_name, field_details_list, plain)
            steps.append(step)
        self._plans[id(grouped_field_set)] = (grouped_field_set, parent_type, steps)
        if shared is not None:
            self._shared_plans[id(grouped_field_set)] = (grouped_field_set, parent_type, steps)
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
        settled_types = self._settled_types
        known = self._plans.get(id(grouped_field_set))
        steps = known[2] if known is not None and known[1] is parent_type else None
        if steps is None:
            steps = self._plan(parent_type, grouped_field_set)
        try:
            for (
                response_name,
                field_details_list,
                kind,
                attribute,
                coerce,
                null_answer,
                passthrough,
                plain,
            ) in steps:
                if kind == _TYPENAME:
                    results[response_name] = attribute
                    continue
                result: Any = _NOT_PLAIN
                if kind != _OTHER:
                    try:
                        value = getattr(source_value, attribute)
                    except Exception:  # graphql-core reads it again and reports the error
                        value = _NOT_PLAIN
                    value_type = type(value)
                    if value is None:
                        if null_answer:
                            result = None
                    elif value_type is passthrough and (
                        value_type is not int or GRAPHQL_MIN_INT <= value <= GRAPHQL_MAX_INT
                    ):
                        result = value
                    elif value is _NOT_PLAIN or (
                        value_type not in settled_types and not self._settled(value)
                    ):
                        pass
                    elif kind == _LEAF:
                        try:
                            coerced = coerce(value)  # type: ignore[misc]  # set on every leaf
                        except Exception:  # graphql-core coerces it again and reports the error
                            coerced = None
                        if coerced is not None and coerced is not Undefined:
                            result = coerced
                    elif kind == _OBJECT:
                        field_path = _new_path(Path, (path, response_name, parent_type.name))
                        result = self._complete_plain_object(
                            plain, field_details_list, field_path, value, position_context
                        )
                    elif value_type is list or value_type is tuple:
                        field_path = _new_path(Path, (path, response_name, parent_type.name))
                        result = self._complete_plain_list(
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
        self,
        plain: _Plain | None,
        field_details_list: Any,
        path: Path,
        value: Any,
        position_context: Any,
    ) -> Any:
        """What graphql-core's `execute_field` answers for an object-typed field whose resolver
        returned `value` (not None): its sub-selection, errors handled as there."""
        assert plain is not None and plain.object_type is not None
        try:
            completed = self._execute_subfields(
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

    def _subfield_set(
        self, object_type: GraphQLObjectType, field_details_list: Any
    ) -> GroupedFieldSet | None:
        """The memoised sub-selection of an object of `object_type` selected by
        `field_details_list`, or None when part of it is deferred."""
        known = self._subfield_sets.get(id(field_details_list))
        if known is None or known[1] is not object_type:
            grouped_field_set, new_defer_usages, _forbidden = self.collect_subfields(
                object_type, field_details_list
            )
            known = (field_details_list, object_type, None if new_defer_usages else grouped_field_set)
            self._subfield_sets[id(field_details_list)] = known
        return known[2]

    def _execute_subfields(
        self,
        object_type: GraphQLObjectType,
        field_details_list: Any,
        path: Path,
        value: Any,
        position_context: Any,
    ) -> Any:
        """graphql-core's `collect_and_execute_subfields`: outside incremental delivery (no
        delivery group, nothing deferred below) that is `execute_fields` over the memoised
        sub-selection, which this calls directly."""
        if position_context is None:
            grouped_field_set = self._subfield_set(object_type, field_details_list)
            if grouped_field_set is not None:
                return self.execute_fields(object_type, value, path, grouped_field_set, None)
        return self.collect_and_execute_subfields(
            object_type, field_details_list, path, value, position_context
        )

    def _complete_plain_list(
        self,
        plain: _Plain | None,
        field_details_list: Any,
        path: Path,
        items: Any,
        position_context: Any,
    ) -> Any:
        """What graphql-core's `execute_field` answers for a list-of-objects field whose resolver
        returned the list or tuple `items`: each item's sub-selection, errors handled at the item
        and then at the list as there (`complete_iterable_value`, `complete_list_item_value`).
        A list holding what graphql-core must complete itself (a null where the items are
        non-null, an exception, an awaitable) is left to it whole: `_NOT_PLAIN`, before any
        item has run."""
        assert plain is not None
        object_type, item_type = plain.object_type, plain.item_type
        assert object_type is not None and item_type is not None
        is_awaitable = self.is_awaitable
        nullable_items = not isinstance(item_type, GraphQLNonNull)
        for item in items:
            if item is None:
                if not nullable_items:
                    return _NOT_PLAIN
            elif type(item) not in self._settled_types and not self._settled(item):
                return _NOT_PLAIN
        completed: list[Any] = []
        awaitable_indices: list[int] = []
        grouped_field_set = (
            self._subfield_set(object_type, field_details_list) if position_context is None else None
        )
        execute_fields = self.execute_fields
        try:
            for index, item in enumerate(items):
                if item is None:
                    completed.append(None)
                    continue
                item_path = _new_path(Path, (path, index, None))
                try:
                    if grouped_field_set is not None:
                        value = execute_fields(object_type, item, item_path, grouped_field_set, None)
                    else:
                        value = self._execute_subfields(
                            object_type, field_details_list, item_path, item, position_context
                        )
                except Exception as raw_error:
                    self.handle_field_error(raw_error, item_type, field_details_list, item_path)
                    completed.append(None)
                    continue
                if type(value) is not dict and is_awaitable(value):
                    value = self._await_item(value, item_type, field_details_list, item_path)
                    awaitable_indices.append(index)
                completed.append(value)
        except Exception as raw_error:
            if awaitable_indices:  # settle what other items started: they may fail too
                self.settle_in_background([completed[index] for index in awaitable_indices])
            self.handle_field_error(raw_error, plain.return_type, field_details_list, path)
            return None
        if not awaitable_indices:
            return completed

        async def await_completed() -> Any:
            try:
                if len(awaitable_indices) == 1:
                    index = awaitable_indices[0]
                    completed[index] = await completed[index]
                else:
                    awaited = await gather_with_cancel(*(completed[index] for index in awaitable_indices))
                    for index, sub_result in zip(awaitable_indices, awaited, strict=True):
                        completed[index] = sub_result
            except Exception as raw_error:
                self.handle_field_error(raw_error, plain.return_type, field_details_list, path)
                return None
            return completed

        return await_completed()

    async def _await_item(
        self,
        pending: Any,
        item_type: GraphQLOutputType,
        field_details_list: Any,
        path: Path,
    ) -> Any:
        try:
            return await pending
        except Exception as raw_error:
            self.handle_field_error(raw_error, item_type, field_details_list, path)
            return None


def _streamed(node: Any) -> bool:
    return any(directive.name.value == "stream" for directive in node.directives or ())
