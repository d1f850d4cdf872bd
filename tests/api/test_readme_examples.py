"""Every GraphQL example of the README runs as pasted against the demo data (issue #21): each
```graphql block, in README order, against a freshly seeded demo org, as the demo admin. An
operation breaks the test when it has any top-level error, or a payload that is an `...Error`.
Operations with variables get them from earlier answers, as a reader would paste them into
GraphiQL's Variables tab (`$holdId`, `$jobId`: the id of the last hold or job answered). A
subscription is not sent over HTTP: it is validated against the served schema
(tests/reliability/test_wallet_changes.py and the GraphiQL browser test run walletChanged itself)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from graphql import DocumentNode, OperationDefinitionNode, OperationType, parse, validate

from app.graphql.schema import schema
from app.services.demo import DEMO_ADMIN, seed_demo
from tests.support import basic_auth

README = Path(__file__).resolve().parents[2] / "README.md"
_BLOCK = re.compile(r"^```graphql\n(.*?)^```", re.MULTILINE | re.DOTALL)


def readme_operations() -> list[tuple[str, str | None, set[str], OperationType]]:
    """(block, operation name, variable names, kind) of every operation in the README's graphql
    blocks, in README order."""
    found = []
    for block in _BLOCK.findall(README.read_text()):
        for definition in parse(block).definitions:
            assert isinstance(definition, OperationDefinitionNode), block
            name = definition.name.value if definition.name else None
            variables = {v.variable.name.value for v in definition.variable_definitions or ()}
            found.append((block, name, variables, definition.operation))
    return found


def remember(value: Any, seen: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, variable in (("hold", "holdId"), ("job", "jobId")):
            named = value.get(key)
            if isinstance(named, dict) and "id" in named:
                seen[variable] = named["id"]
        for item in value.values():
            remember(item, seen)
    elif isinstance(value, list):
        for item in value:
            remember(item, seen)


def test_the_readme_has_graphql_examples_of_every_mutation_and_the_frontend_reads() -> None:
    text = "\n".join(block for block, _, _, _ in readme_operations())
    for field in (
        "issuePromotion",
        "earnPromotions",
        "redeemPromotions",
        "reverseRedemption",
        "holdPromotions",
        "commitHold",
        "releaseHold",
        "viewer",
        "validTillLocal",
    ):
        assert field in text, field


async def test_every_graphql_example_in_the_readme_runs_against_the_demo(
    app: FastAPI, http: httpx.AsyncClient
) -> None:
    # given the demo, seeded as `serve --demo` seeds it
    info = await seed_demo(app.state.uow_factory)
    assert info.seeded
    headers = basic_auth(*DEMO_ADMIN)
    seen: dict[str, Any] = {}
    operations = readme_operations()
    assert len(operations) >= 8
    for block, name, variables, kind in operations:
        if kind is OperationType.SUBSCRIPTION:
            document: DocumentNode = parse(block)
            assert validate(schema._schema, document) == [], block
            continue
        # when
        missing = variables - set(seen)
        assert not missing, f"{name}: nothing earlier in the README answers {missing}"
        body: dict[str, Any] = {"query": block, "variables": {v: seen[v] for v in variables}}
        if name:
            body["operationName"] = name
        response = await http.post("/graphql", json=body, headers=headers)
        # then
        assert response.status_code == 200, (name, block, response.text)
        answer = response.json()
        assert "errors" not in answer, (name, block, answer)
        for field, payload in answer["data"].items():
            typename = payload.get("__typename", "") if isinstance(payload, dict) else ""
            assert not typename.endswith("Error"), (field, block, payload)
        remember(answer["data"], seen)
