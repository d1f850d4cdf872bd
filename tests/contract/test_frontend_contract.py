"""DESIGN §8.6 in the served schema, all of it (viewer, the entry fields and, since main's
subscriptions, walletChanged). Once "8.6" joins BUILT_PARTS in test_schema_contract.py, this test
says the same thing and can go."""

from __future__ import annotations

from graphql import BreakingChangeType, build_schema, find_breaking_changes

from app.graphql.schema import schema
from tests.contract.test_schema_contract import CONTRACT, lifecycle_parts

# `extend type Subscription` needs the Subscription type of §8.4, which is not built yet.
SUBSCRIPTION_ROOT = "type Subscription { walletChanged(customerId: Long!): EarnedPromotion! }"


def test_the_served_schema_contains_the_frontend_part_of_the_lifecycle_contract() -> None:
    part = lifecycle_parts()["8.6"].replace("extend type Subscription {", "type Subscription {")
    assert SUBSCRIPTION_ROOT in part
    extended = build_schema(CONTRACT.read_text() + "\n" + part)
    breaking = [
        f"{change.type.name}: {change.description}"
        for change in find_breaking_changes(extended, schema._schema)
        if change.type is not BreakingChangeType.TYPE_REMOVED_FROM_UNION
    ]
    assert breaking == []
