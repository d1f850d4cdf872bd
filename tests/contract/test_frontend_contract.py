"""DESIGN §8.6 in the served schema, all of it but `walletChanged` (the subscription is built
separately; once it is, "8.6" joins BUILT_PARTS in test_schema_contract.py and this test goes)."""

from __future__ import annotations

from graphql import BreakingChangeType, build_schema, find_breaking_changes

from app.graphql.schema import schema
from tests.contract.test_schema_contract import CONTRACT, lifecycle_parts

WALLET_CHANGED = "extend type Subscription { walletChanged(customerId: Long!): EarnedPromotion! }"


def test_the_served_schema_contains_the_frontend_part_but_for_wallet_changed() -> None:
    part = lifecycle_parts()["8.6"]
    assert WALLET_CHANGED in part  # the line left out is exactly the subscription
    extended = build_schema(CONTRACT.read_text() + "\n" + part.replace(WALLET_CHANGED, ""))
    breaking = [
        f"{change.type.name}: {change.description}"
        for change in find_breaking_changes(extended, schema._schema)
        if change.type is not BreakingChangeType.TYPE_REMOVED_FROM_UNION
    ]
    assert breaking == []
