"""The served schema: it is what schema.graphql says (drift), and it contains the shared
contract. The contract is kept in the repository (tests/contract/contract.graphql, a copy of
../shared/contract.graphql) so that a clone tests on its own; where ../shared sits beside the
repository, the copy is checked against it."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import (
    BreakingChangeType,
    DangerousChangeType,
    GraphQLSchema,
    build_schema,
    find_breaking_changes,
    find_dangerous_changes,
)

from app.graphql.schema import schema

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = Path(__file__).with_name("contract.graphql")
SHARED_CONTRACT = ROOT.parent / "shared" / "contract.graphql"
COMMITTED_SDL = ROOT / "schema.graphql"


@pytest.fixture(scope="module")
def contract() -> GraphQLSchema:
    return build_schema(CONTRACT.read_text())


@pytest.mark.skipif(not SHARED_CONTRACT.is_file(), reason="no ../shared beside this clone to compare with")
def test_the_contract_copy_is_the_shared_contract() -> None:
    assert CONTRACT.read_text() == SHARED_CONTRACT.read_text(), (
        f"tests/contract/contract.graphql differs from {SHARED_CONTRACT}: copy the shared one over it"
    )


def test_schema_graphql_is_what_export_schema_prints() -> None:
    # given the committed SDL
    committed = COMMITTED_SDL.read_text()
    # when the code's schema is printed
    printed = schema.as_str() + "\n"
    # then they are the same; regenerate with `promo-wallet export-schema --output schema.graphql`
    assert printed == committed, (
        "schema.graphql is stale: run `promo-wallet export-schema --output schema.graphql`"
    )


def test_the_served_schema_breaks_nothing_in_the_contract(contract: GraphQLSchema) -> None:
    # when the contract is compared with the served schema
    changes = find_breaking_changes(contract, schema._schema)
    # then only union memberships may differ (served payload unions may list other error types)
    breaking = [
        f"{change.type.name}: {change.description}"
        for change in changes
        if change.type is not BreakingChangeType.TYPE_REMOVED_FROM_UNION
    ]
    assert breaking == []


def test_the_served_schema_keeps_the_contracts_argument_defaults(contract: GraphQLSchema) -> None:
    # first: Int = 20, active: Boolean = true, maxRedemptionsPerEarn: Int = 1, ...
    changes = find_dangerous_changes(contract, schema._schema)
    changed_defaults = [
        c.description for c in changes if c.type is DangerousChangeType.ARG_DEFAULT_VALUE_CHANGE
    ]
    assert changed_defaults == []


def test_every_error_type_of_the_contract_implements_error_in_the_served_schema(
    contract: GraphQLSchema,
) -> None:
    served = schema._schema
    error = served.get_type("Error")
    expected = [t.name for t in contract.get_possible_types(contract.get_type("Error"))]  # type: ignore[arg-type]
    implementing = {t.name for t in served.get_possible_types(error)}  # type: ignore[arg-type]
    assert len(expected) == 17
    assert set(expected) <= implementing


# --- The lifecycle contract (DESIGN §8): the parts built so far --------------------------------

LIFECYCLE = Path(__file__).with_name("contract-lifecycle.graphql")
SHARED_LIFECYCLE = ROOT.parent / "shared" / "contract-lifecycle.graphql"
BUILT_PARTS = ("8.1", "8.2", "8.4", "8.5", "8.6")  # DESIGN §8 parts whose SDL the served schema must contain


def lifecycle_parts() -> dict[str, str]:
    """The file's blocks by section number: each starts at a `# --- §8.N ...` line."""
    parts: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in LIFECYCLE.read_text().splitlines():
        if line.startswith("# --- §"):
            current = parts.setdefault(line.removeprefix("# --- §").split()[0], [])
        elif current is not None:
            current.append(line)
    return {number: "\n".join(lines) for number, lines in parts.items()}


@pytest.mark.skipif(not SHARED_LIFECYCLE.is_file(), reason="no ../shared beside this clone to compare with")
def test_the_lifecycle_contract_copy_is_the_shared_one() -> None:
    assert LIFECYCLE.read_text() == SHARED_LIFECYCLE.read_text(), (
        f"tests/contract/contract-lifecycle.graphql differs from {SHARED_LIFECYCLE}: copy the shared one"
    )


def test_the_lifecycle_contract_has_the_parts_said_to_be_built() -> None:
    assert set(BUILT_PARTS) <= set(lifecycle_parts())


@pytest.mark.parametrize("part", BUILT_PARTS)
def test_the_served_schema_contains_each_built_lifecycle_part(part: str) -> None:
    # given the contract with this part of the lifecycle contract on top (and the built parts
    # before it, which a later part may extend: §8.6 extends §8.4's Subscription)
    parts = lifecycle_parts()
    earlier = [parts[p] for p in BUILT_PARTS[: BUILT_PARTS.index(part)]]
    extended = build_schema("\n".join([CONTRACT.read_text(), *earlier, parts[part]]))
    # when it is compared with the served schema
    breaking = [
        f"{change.type.name}: {change.description}"
        for change in find_breaking_changes(extended, schema._schema)
        if change.type is not BreakingChangeType.TYPE_REMOVED_FROM_UNION
    ]
    defaults = [
        c.description
        for c in find_dangerous_changes(extended, schema._schema)
        if c.type is DangerousChangeType.ARG_DEFAULT_VALUE_CHANGE
    ]
    # then nothing of it is missing or different
    assert breaking == [] and defaults == []
