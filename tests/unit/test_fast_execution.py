"""The served schema's executor (app/graphql/execution.py) answers every document exactly as
graphql-core's stock executor does: the same data, in the same key order, and the same errors,
at the same paths. It only takes a shorter way to plain fields and lists of plain objects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal as PyDecimal
from types import CoroutineType, GeneratorType
from typing import Any

import pytest
import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.permission import BasePermission
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from app.domain import earning
from app.domain.models import (
    EarnedFromType,
    EventDetails,
    Page,
    Principal,
    Promotion,
    PromotionType,
    Scope,
    WalletPage,
)
from app.graphql import execution
from app.graphql import types as graphql_types
from app.graphql.context import Context
from app.graphql.execution import PRECOMPUTED, PlainFieldExecutionContext, _class_settles
from app.graphql.limits import DEFAULT_LIMITS, DocumentLimitsExtension, parse_document
from app.graphql.scalars import SCALAR_MAP, DateTime, Decimal, Long
from app.graphql.schema import schema as served_schema
from app.settings import Settings


class Refused(BasePermission):
    message = "refused"

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return False


@strawberry.type
class Leaf:
    name: str
    count: int
    broken: str | None = None  # a non-null wrapper of it below holds None
    broken_name: str = None  # type: ignore[assignment]  # a null in a non-null field

    @strawberry.field
    async def later(self) -> int:
        return self.count * 10

    @strawberry.field
    async def failing_later(self) -> int:
        raise ValueError("failed once awaited")


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Tag(Named):  # graphql-core asks its is_type_of
    weight: int


class Later:
    """Awaitable by its class: graphql-core awaits it for the value it stands for."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Any:
        yield from ()
        return self.value


@strawberry.type
class Holder:
    leaf: Leaf
    maybe_leaf: Leaf | None
    broken_leaf: Leaf  # holds None


@strawberry.type
class Item:
    text: str
    number: int
    ratio: float
    flag: bool
    maybe: str | None
    long: Long
    when: DateTime
    amount: Decimal
    kind: PromotionType
    kinds: list[PromotionType]
    numbers: list[int]
    maybe_numbers: list[int | None]
    leaves: list[Leaf]
    maybe_leaves: list[Leaf | None]
    broken_leaves: list[Leaf]  # holds a None
    maybe_broken_leaves: list[Leaf] | None  # holds a None
    failing_leaves: list[Leaf | None]  # holds an exception
    tuple_leaves: list[Leaf]  # a tuple
    tags: list[Tag]
    named: list[Named]
    leaf: Leaf | None
    holder: Holder
    broken_text: str  # holds None: a null in a non-null field
    broken_int: int  # holds a value Int cannot represent
    broken_long: Long  # holds a value out of Long's range
    broken_kind: PromotionType  # holds a string that is no member
    broken_number: int | None  # nullable, holds a string
    flag_text: str  # holds a bool, which String writes as text
    later_leaf: Leaf  # holds an awaitable
    later_kind: PromotionType  # holds an awaitable
    missing: str = strawberry.field(default="set later")
    known_label: strawberry.Private[str | None] = None
    known_leaf: strawberry.Private[Leaf | None] = None

    @strawberry.field(metadata={PRECOMPUTED: "known_label"})
    def label(self) -> str:
        return self.known_label if self.known_label is not None else f"worked out {self.number}"

    @strawberry.field(metadata={PRECOMPUTED: "known_leaf"})
    async def settled_leaf(self) -> Leaf | None:
        if self.known_leaf is not None:
            return self.known_leaf
        return None if self.number == 0 else Leaf(name="loaded", count=self.number)

    @strawberry.field
    def computed(self) -> str:
        return self.text.upper()

    @strawberry.field
    async def awaited(self) -> int:
        return self.number + 1

    @strawberry.field
    def failing(self) -> str | None:
        raise ValueError("failed on purpose")

    @strawberry.field(permission_classes=[Refused])
    def guarded(self) -> str | None:
        return "never"

    @strawberry.field
    def scaled(self, by: int = 2) -> int:
        return self.number * by


def _item(n: int) -> Item:
    item = Item(
        text=f"item {n}",
        number=n,
        ratio=n / 4,
        flag=n % 2 == 0,
        maybe=None if n % 2 else f"maybe {n}",
        long=2**40 + n,
        when=datetime(2026, 1, 2, 3, 4, 5, n * 1000, tzinfo=UTC),
        amount=PyDecimal(f"{n}.50"),
        kind=PromotionType.CUSTOMER if n % 2 else PromotionType.POS,
        kinds=[PromotionType.POS, PromotionType.CUSTOMER],
        numbers=[n, n + 1],
        maybe_numbers=[None, n],
        leaves=[Leaf(name=f"leaf {n}.{k}", count=k) for k in range(2)],
        maybe_leaves=[None, Leaf(name=f"maybe {n}", count=n)],
        broken_leaves=[Leaf(name="first", count=0), None],  # type: ignore[list-item]
        maybe_broken_leaves=[None, Leaf(name="second", count=1)],  # type: ignore[list-item]
        failing_leaves=[Leaf(name="fine", count=0), ValueError("an item that failed")],  # type: ignore[list-item]
        tuple_leaves=(Leaf(name="in a tuple", count=n),),  # type: ignore[arg-type]
        tags=[Tag(name=f"tag {n}", weight=n)],
        named=[Tag(name=f"named {n}", weight=n)],
        leaf=Leaf(name="one", count=1) if n % 2 else None,
        holder=Holder(
            leaf=Leaf(name=f"held {n}", count=n),
            maybe_leaf=None if n % 2 else Leaf(name="maybe", count=0),
            broken_leaf=None,  # type: ignore[arg-type]
        ),
        broken_text=None,  # type: ignore[arg-type]
        broken_int=2**40,
        broken_long=2**70,
        broken_kind="NOT_A_KIND",  # type: ignore[arg-type]
        broken_number="seven",  # type: ignore[arg-type]
        flag_text=n % 2 == 0,  # type: ignore[arg-type]
        later_leaf=Later(Leaf(name="awaited", count=n)),  # type: ignore[arg-type]
        later_kind=Later(PromotionType.POS),  # type: ignore[arg-type]
        known_label=f"known {n}" if n % 2 else None,
        known_leaf=Leaf(name="known", count=n) if n == 1 else None,
    )
    del item.missing  # an attribute the default resolver cannot find
    return item


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return [_item(n) for n in range(3)]

    @strawberry.field
    def item(self) -> Item:
        return _item(1)

    @strawberry.field
    def maybe_item(self) -> Item | None:
        return _item(2)


def _schema(execution_context_class: type, extensions: list[Any] | None = None) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        execution_context_class=execution_context_class,
        extensions=extensions or [],
    )


STOCK = _schema(StrawberryGraphQLCoreExecutionContext)
FAST = _schema(PlainFieldExecutionContext)

PLAIN = (
    "text number ratio flag maybe long when amount kind kinds numbers maybeNumbers "
    "leaves { name count __typename } leaf { name count }"
)
DOCUMENTS = {
    "plain leaves of a list": f"{{ items {{ {PLAIN} }} }}",
    "aliases, the same field twice": (
        "{ items { a: text b: text text number n: number } first: item { t: text } }"
    ),
    "fragments and inline fragments": """
        query { items { ...Parts ... on Item { flag kind } ...Parts } item { ...Parts } }
        fragment Parts on Item { text long leaves { ...LeafParts } }
        fragment LeafParts on Leaf { count name }""",
    "__typename everywhere": "{ __typename items { __typename text leaf { __typename } } }",
    "skip and include": """query($no: Boolean = false) {
        items { text @skip(if: true) number @include(if: $no) flag @include(if: true) } }""",
    "resolvers next to leaves": "{ items { text computed awaited number scaled scaled3: scaled(by: 3) } }",
    "a resolver error and a permission refused": "{ items { text failing guarded number } }",
    "a null in a non-null field, below a nullable one": "{ maybeItem { text brokenText number } }",
    "a null in a non-null field, in a non-null list": "{ items { text brokenText } }",
    "values the scalars refuse": "{ maybeItem { brokenInt } item { brokenNumber number } }",
    "a Long out of range and an unknown enum value": (
        "{ maybeItem { text brokenLong } m2: maybeItem { brokenKind } }"
    ),
    "an attribute the default resolver cannot find": "{ maybeItem { text missing } }",
    "an error under a non-null root": "{ item { text brokenText } }",
    "plain objects, nested and null": (
        "{ items { holder { leaf { name count } maybeLeaf { name } } leaf { name } } }"
    ),
    "precomputed fields, set and not": "{ items { label settledLeaf { name later } number } }",
    "awaited fields under plain objects": "{ items { holder { leaf { later name } } leaf { later } } }",
    "a null plain object in a non-null field": (
        "{ maybeItem { holder { leaf { name } brokenLeaf { name } } } }"
    ),
    "errors in and under plain objects, next to awaited fields": (
        "{ items { text awaited holder { leaf { later failing: name } brokenLeaf { later } } } }"
    ),
    "lists of objects: nulls, a tuple, awaited fields in the items": (
        "{ items { maybeLeaves { name later } tupleLeaves { name count later } leaves { later } } }"
    ),
    "a null item in a list of non-null objects": "{ maybeItem { text brokenLeaves { name } } }",
    "a null item in a nullable list of non-null objects": "{ items { maybeBrokenLeaves { name } number } }",
    "an exception as a list item": "{ items { failingLeaves { name } number } }",
    "errors inside nullable list items": "{ items { maybeLeaves { name brokenName } number } }",
    "errors inside non-null list items": "{ maybeItem { leaves { name brokenName later } number } }",
    "an error inside an item, next to awaited fields of other items": (
        "{ maybeItem { leaves { later brokenName } maybeLeaves { later } } }"
    ),
    "errors once awaited, inside nullable and non-null items": (
        "{ items { maybeLeaves { name failingLater } number } "
        "m: maybeItem { tupleLeaves { failingLater later } } }"
    ),
    "lists of objects with interfaces, and of an interface": (
        "{ items { tags { name weight } named { name ... on Tag { weight } __typename } } }"
    ),
    "values that are awaitable, a bool in a String": (
        "{ items { laterLeaf { name later } laterKind flagText number } }"
    ),
    "a list of objects under a non-null root, an error in an item": "{ item { leaves { name brokenName } } }",
}


def _answer(result: Any) -> tuple[str, list[dict[str, Any]]]:
    """The data as JSON text (so key order counts) and the errors as a client sees them."""
    errors = [error.formatted for error in result.errors or ()]
    return json.dumps(result.data), sorted(errors, key=json.dumps)


@pytest.mark.parametrize("document", DOCUMENTS.values(), ids=list(DOCUMENTS))
async def test_the_fast_executor_answers_as_the_stock_executor_does(document: str) -> None:
    stock = await STOCK.execute(document)
    fast = await FAST.execute(document)

    assert _answer(fast) == _answer(stock)
    assert stock.data is not None or stock.errors  # each document answers something


async def test_the_documents_reach_the_errors_they_are_meant_to() -> None:
    result = await FAST.execute(DOCUMENTS["values the scalars refuse"])
    messages = " ".join(error.message for error in result.errors or ())

    assert "Int cannot represent" in messages
    assert result.data == {"maybeItem": None, "item": {"brokenNumber": None, "number": 1}}


async def test_plain_leaves_objects_and_typenames_are_read_without_resolve_info_the_rest_with_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    infos: list[str] = []
    build = StrawberryGraphQLCoreExecutionContext.build_resolve_info

    def counting(self: Any, field_def: Any, field_nodes: Any, parent_type: Any, path: Any) -> Any:
        infos.append(field_nodes[0].name.value)
        return build(self, field_def, field_nodes, parent_type, path)

    monkeypatch.setattr(StrawberryGraphQLCoreExecutionContext, "build_resolve_info", counting)
    result = await FAST.execute(
        "{ item { __typename text number computed leaves { name } holder { leaf { count later } } "
        "brokenNumber label settledLeaf { name } } maybeItem { label settledLeaf { name } } }"
    )

    assert result.errors  # brokenNumber: completed by graphql-core, which reports it
    # item (_item(1)) has its label and settledLeaf precomputed; maybeItem (_item(2)) has not.
    expected = ["item", "computed", "later", "brokenNumber", "maybeItem", "label", "settledLeaf"]
    assert infos == expected


class SeesEveryField(SchemaExtension):
    seen: list[str] = []

    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        SeesEveryField.seen.append(info.field_name)
        return _next(root, info, *args, **kwargs)


async def test_an_extension_with_a_resolve_hook_still_sees_every_leaf() -> None:
    schema = _schema(PlainFieldExecutionContext, [SeesEveryField])
    SeesEveryField.seen = []

    result = await schema.execute("{ item { text number leaf { name } } }")

    assert result.errors is None
    assert SeesEveryField.seen == ["item", "text", "number", "leaf", "name"]


def _wallet_page() -> WalletPage:
    now = 1_767_225_600_000
    promotions = [
        Promotion(
            org_id=1,
            id=f"promotion-{n}",
            name=f"Promotion {n}",
            type=PromotionType.CUSTOMER,
            start_date=now - 86_400_000,
            end_date=now + (n - 1) * 86_400_000,  # the first has ended
            active=n != 2,
            redemption_window_days=None if n else 7,
            max_redemptions_per_earn=1 + n,
            max_earns_per_customer=None,
        )
        for n in range(3)
    ]
    entries = [
        earning.new_earned_promotion(
            entry_id=f"entry-{n}",
            promotion=promotions[n % 3],
            customer_id=5_668_819_330,
            earned_from_type=EarnedFromType.ACTIVITY,
            earned_from_id=f"activity-{n}",
            instance=0,
            event_time=now - n * 1000,
            event_details=EventDetails(id=f"event-{n}", type="purchase") if n % 2 else None,
            timezone="Asia/Kolkata",
            now=now,
        )
        for n in range(6)
    ]
    return WalletPage(
        page=Page(items=entries, cursors=[f"cursor-{n}" for n in range(6)], has_next_page=True),
        total_count=42,
        promotions={p.id: p for p in promotions},
        timezone="Asia/Kolkata",
    )


@pytest.fixture
def stubbed_wallet(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    async def wallet_view(*args: Any, **kwargs: Any) -> WalletPage:
        return _wallet_page()

    monkeypatch.setattr(graphql_types.queries, "wallet_view", wallet_view)
    yield


WALLET = """query Wallet($id: Long!) { wallet(customerId: $id, first: 20) {
  totalCount pageInfo { hasNextPage endCursor }
  edges { cursor node { __typename id customerId promotionId status earnedFromType earnedFromId
    eventTime eventTimeISO validTill validTillISO validTillLocal eventDetails { id type }
    redemptionsAllowed redemptionsUsed redemptionsHeld redemptionsRemaining redeemable
    promotion { id name type status active startDate startDateISO endDate endDateISO
      redemptionWindowDays maxRedemptionsPerEarn maxEarnsPerCustomer } } } } }"""


def _context() -> Context:
    return Context(
        uow_factory=None,  # type: ignore[arg-type]  # the wallet read is stubbed
        settings=Settings(_env_file=None),
        authenticator=None,  # type: ignore[arg-type]  # the principal is given
        principal=Principal(org_id=1, client_id=1, username="reader", scopes=frozenset({Scope.WALLET_READ})),
        now=1_767_225_600_000,
    )


async def test_the_served_schema_answers_the_wallet_as_with_the_stock_executor(
    stubbed_wallet: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert served_schema.execution_context_class is PlainFieldExecutionContext
    variables = {"id": 5_668_819_330}
    fast = await served_schema.execute(WALLET, variable_values=variables, context_value=_context())
    monkeypatch.setattr(served_schema, "execution_context_class", StrawberryGraphQLCoreExecutionContext)
    stock = await served_schema.execute(WALLET, variable_values=variables, context_value=_context())

    assert fast.errors is None
    assert _answer(fast) == _answer(stock)
    assert len(fast.data["wallet"]["edges"]) == 6  # type: ignore[index]


@strawberry.type
class WithHooks:
    name: str

    def __getattr__(self, name: str) -> Any:  # could answer `__await__`
        raise AttributeError(name)


def test_classes_are_taken_as_never_awaitable_only_when_no_hook_could_make_a_value_so() -> None:
    settled = [PromotionType, datetime, PyDecimal, Leaf, Item, str]
    unsettled = [Later, WithHooks, ValueError, CoroutineType, GeneratorType]
    assert [kind for kind in settled if not _class_settles(kind)] == []
    assert [kind for kind in unsettled if _class_settles(kind)] == []


CACHED = _schema(PlainFieldExecutionContext, [DocumentLimitsExtension])  # parses through limits.py's cache


@pytest.mark.parametrize("document", DOCUMENTS.values(), ids=list(DOCUMENTS))
async def test_a_cached_document_is_answered_as_by_the_stock_executor_at_every_request(document: str) -> None:
    stock = _answer(await STOCK.execute(document))

    answers = [_answer(await CACHED.execute(document)) for _ in range(3)]

    assert answers == [stock] * 3


async def test_the_requests_of_a_cached_document_share_what_they_collect_unless_a_variable_decides_it() -> (
    None
):
    fixed = "{ items { text leaves { name } } }"
    variable = "query($yes: Boolean!) { items { text leaves @include(if: $yes) { name } } }"
    await CACHED.execute(fixed)
    await CACHED.execute(variable, variable_values={"yes": True})
    document = parse_document(fixed, DEFAULT_LIMITS.max_tokens)

    assert id(document.definitions[0]) in execution._SHARED
    assert id(parse_document(variable, DEFAULT_LIMITS.max_tokens).definitions[0]) not in execution._SHARED
    for yes in (True, False, True):
        stock = await STOCK.execute(variable, variable_values={"yes": yes})
        cached = await CACHED.execute(variable, variable_values={"yes": yes})
        assert _answer(cached) == _answer(stock)
        assert ("leaves" in cached.data["items"][0]) is yes  # type: ignore[index]


@pytest.mark.parametrize(
    "directive",
    ["@include(if: $yes)", "@skip(if: $yes)", "@defer", "@include(if: true) @skip(if: $yes)"],
)
def test_a_document_is_shared_only_when_no_request_can_change_its_selections(directive: str) -> None:
    from graphql import parse

    fixed = parse("query { items { text ... on Item @include(if: true) { number } } }")
    changing = parse(f"query($yes: Boolean!) {{ items {{ text ... on Item {directive} {{ number }} }} }}")

    assert execution._fixed_selections(fixed)
    assert not execution._fixed_selections(changing)
