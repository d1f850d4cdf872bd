"""The wallet read asks for a total, promotions and a timezone only when the selection names
them: `_selected_names` finds the resolver's field and every field name below it, through aliases,
inline fragments and (nested, repeated) named fragments, as Strawberry's `selected_fields` does."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry

from app.graphql.types import _selected_names

seen: dict[str, set[str]] = {}


def _strawberry_names(info: Any) -> set[str]:
    """The same from Strawberry's converted selection (fragment spreads carry their fragment's
    name there: not a field, left out)."""
    names: set[str] = set()
    stack = list(info.selected_fields)
    while stack:
        selection = stack.pop()
        if type(selection).__name__ != "FragmentSpread":
            name = getattr(selection, "name", None)
            if name:
                names.add(name)
        stack.extend(getattr(selection, "selections", ()))
    return names


@strawberry.type
class Inner:
    total_count: int = 1
    label: str = "x"


@strawberry.type
class Outer:
    inner: Inner = strawberry.field(default_factory=Inner)
    name: str = "outer"


@strawberry.type
class Query:
    @strawberry.field
    def outer(self, info: strawberry.Info) -> Outer:
        seen["ours"] = _selected_names(info)
        seen["strawberry"] = _strawberry_names(info)
        return Outer()


SCHEMA = strawberry.Schema(query=Query)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("{ outer { name } }", {"outer", "name"}),
        ("{ outer { n: name i: inner { c: totalCount } } }", {"name", "inner", "totalCount"}),
        ("{ outer { ... on Outer { inner { label } } } }", {"inner", "label"}),
        (
            "{ outer { ...A ...A } } "
            "fragment A on Outer { inner { ...B } } fragment B on Inner { totalCount }",
            {"inner", "totalCount"},
        ),
        # `seen` holds the second call's
        ("{ outer { name } other: outer { inner { label } } }", {"outer", "inner", "label"}),
    ],
)
async def test_selected_names_are_the_current_field_and_every_field_below_it(
    document: str, expected: set[str]
) -> None:
    result = await SCHEMA.execute(document)

    assert result.errors is None
    assert seen["ours"] == seen["strawberry"]
    assert expected <= seen["ours"]
