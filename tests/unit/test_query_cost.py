"""The cost model of app/graphql/cost.py, and the documents it must let through: the README's
examples and the benchmarks' documents stay under the default limit."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from graphql import FragmentDefinitionNode, GraphQLError, OperationDefinitionNode, parse

from app.graphql.cost import query_cost
from app.graphql.schema import schema
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MAX = Settings(_env_file=None).max_query_cost  # type: ignore[call-arg]


def cost_of(document: str, variables: dict[str, Any] | None = None) -> int:
    parsed = parse(document)
    fragments = {d.name.value: d for d in parsed.definitions if isinstance(d, FragmentDefinitionNode)}
    operation = next(d for d in parsed.definitions if isinstance(d, OperationDefinitionNode))
    return query_cost(schema._schema, operation, fragments, variables)


def test_a_field_costs_one_and_a_page_multiplies_what_is_under_it_by_first() -> None:
    assert cost_of("{ __typename }") == 1
    assert cost_of("{ wallet(customerId: 1, first: 100) { edges { node { id status } } } }") == 1 + 100 * 4


def test_first_defaults_to_the_arguments_default_and_can_come_from_a_variable() -> None:
    document = "query($n: Int) { promotions(first: $n) { edges { node { id } } } }"
    assert cost_of("{ promotions { edges { node { id } } } }") == 1 + 20 * 3
    assert cost_of(document, {"n": 50}) == 1 + 50 * 3


def test_fragments_and_nested_pages_are_counted_where_they_are_used() -> None:
    document = """query { customer(id: 1) { ...C } }
      fragment C on Customer { id wallet(first: 10) { edges { node { id } } } }"""
    assert cost_of(document) == 1 + 1 + (1 + 10 * 3)


def _graphql_blocks(text: str) -> list[str]:
    return re.findall(r"```graphql\n(.*?)```", text, flags=re.S)


def _bench_documents() -> list[str]:
    found = []
    for path in sorted((ROOT / "bench").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value.strip()
                if text.startswith(("query", "mutation", "{")):
                    try:
                        parse(text)
                    except GraphQLError:
                        continue
                    found.append(text)
    return found


DOCUMENTS = _graphql_blocks((ROOT / "README.md").read_text()) + _bench_documents()


def test_there_are_documents_to_check() -> None:
    assert len(DOCUMENTS) >= 5


@pytest.mark.parametrize("document", DOCUMENTS, ids=range(len(DOCUMENTS)))
def test_the_readme_examples_and_the_bench_documents_stay_under_the_default_cost_limit(document: str) -> None:
    parsed = parse(document)
    operations = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {d.name.value: d for d in parsed.definitions if isinstance(d, FragmentDefinitionNode)}
    for operation in operations:
        # variables unknown here: `first` from a variable counts as the argument's default
        assert query_cost(schema._schema, operation, fragments, {}) <= DEFAULT_MAX
