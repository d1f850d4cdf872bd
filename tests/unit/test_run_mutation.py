"""run_mutation (app/graphql/resolving.py): what a mutation resolver answers for a result, a
domain error, and anything unexpected, always one of the member types of its payload."""

from __future__ import annotations

import logging
from typing import Annotated

import pytest
import strawberry
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.union import StrawberryUnion

from app.domain import errors as domain
from app.graphql.errors import InternalError, InvalidRequestError, ResourceLockedError
from app.graphql.resolving import payload_members, run_mutation
from app.graphql.schema import schema


@strawberry.type
class _Done:
    value: int


_Payload = Annotated[_Done | InvalidRequestError | InternalError, strawberry.union("_Payload")]


async def _returning(value: int) -> int:
    return value


async def _raising(error: Exception) -> int:
    raise error


async def test_a_result_is_answered_as_the_success_type() -> None:
    answer = await run_mutation(_Payload, _returning(7), lambda value: _Done(value=value))

    assert answer == _Done(value=7)


async def test_a_domain_error_of_the_payload_is_answered_as_its_graphql_type() -> None:
    call = _raising(domain.InvalidRequest("bad name", field="name"))

    answer = await run_mutation(_Payload, call, lambda value: _Done(value=value))

    assert isinstance(answer, InvalidRequestError)
    assert (answer.code, answer.message, answer.field) == (400, "bad name", "name")


async def test_a_domain_error_outside_the_payload_is_logged_and_answered_as_internal_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    call = _raising(domain.ResourceLocked("busy", retry_after_ms=50))

    with caplog.at_level(logging.ERROR, logger="app.graphql"):
        answer = await run_mutation(_Payload, call, lambda value: _Done(value=value))

    assert isinstance(answer, InternalError)
    assert not isinstance(answer, ResourceLockedError)
    assert "ResourceLockedError is not a member of" in caplog.text


async def test_an_unexpected_exception_is_logged_and_answered_as_internal_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="app.graphql"):
        answer = await run_mutation(_Payload, _raising(KeyError("x")), lambda value: _Done(value=value))

    assert isinstance(answer, InternalError)
    assert answer.retryable
    assert "mutation failed unexpectedly" in caplog.text


def test_payload_members_are_the_union_types_of_the_annotated_payload() -> None:
    assert payload_members(_Payload) == (_Done, InvalidRequestError, InternalError)


def test_every_served_mutation_payload_lists_internal_error() -> None:
    mutation = schema.get_type_by_name("Mutation")
    assert isinstance(mutation, StrawberryObjectDefinition)
    members: dict[str, tuple[object, ...]] = {}
    for field in mutation.fields:
        assert isinstance(field.type, StrawberryUnion), field.python_name
        members[field.python_name] = tuple(field.type.types)

    lacking = [name for name, types in members.items() if InternalError not in types]

    assert len(members) >= 8
    assert lacking == []
