"""createPromotion's defaults are written once, in the CreatePromotion command: the served schema
shows them, and a field left out or sent as null gets them."""

from __future__ import annotations

import dataclasses

import graphql
import pytest

from app.domain.commands import CreatePromotion
from app.domain.models import Principal, Promotion, PromotionType, Scope
from app.graphql.context import Context
from app.graphql.schema import schema
from app.services import admin
from app.settings import Settings

DEFAULTED = {"active": "active", "max_redemptions_per_earn": "maxRedemptionsPerEarn"}
COMMAND_DEFAULTS = {field.name: field.default for field in dataclasses.fields(CreatePromotion)}
REQUIRED = {
    "name": "Ten off",
    "type": "POS",
    "startDate": 1_700_000_000_000,
    "endDate": 1_800_000_000_000,
}
CREATE = "mutation($input: CreatePromotionInput!) { createPromotion(input: $input) { __typename } }"


def test_the_served_schema_shows_the_command_defaults() -> None:
    served = graphql.build_schema(schema.as_str()).get_type("CreatePromotionInput")
    assert isinstance(served, graphql.GraphQLInputObjectType)

    shown = {}
    for python_name, graphql_name in DEFAULTED.items():
        field = served.fields[graphql_name]
        assert field.ast_node is not None and field.ast_node.default_value is not None
        shown[python_name] = graphql.value_from_ast(field.ast_node.default_value, field.type)

    assert shown == {python_name: COMMAND_DEFAULTS[python_name] for python_name in DEFAULTED}


def test_with_defaults_maps_none_to_the_command_defaults_and_keeps_given_values() -> None:
    def command(active: bool | None, max_redemptions_per_earn: int | None) -> CreatePromotion:
        return CreatePromotion.with_defaults(
            name="Ten off",
            type=PromotionType.POS,
            start_date=1,
            end_date=2,
            active=active,
            max_redemptions_per_earn=max_redemptions_per_earn,
        )

    assert command(None, None) == CreatePromotion(
        name="Ten off", type=PromotionType.POS, start_date=1, end_date=2
    )
    assert (command(False, 3).active, command(False, 3).max_redemptions_per_earn) == (False, 3)


@pytest.fixture
def received(monkeypatch: pytest.MonkeyPatch) -> list[CreatePromotion]:
    """The commands createPromotion hands to the service (which is stubbed: it fails after)."""
    commands: list[CreatePromotion] = []

    async def create_promotion(uow_factory: object, principal: object, command: CreatePromotion) -> Promotion:
        commands.append(command)
        raise RuntimeError("stub")

    monkeypatch.setattr(admin, "create_promotion", create_promotion)
    return commands


async def _create_promotion(fields: dict[str, object]) -> None:
    principal = Principal(org_id=1, client_id=1, username="admin", scopes=frozenset({Scope.ADMIN}))
    context = Context(
        uow_factory=None,  # type: ignore[arg-type]  # the service is stubbed
        settings=Settings(_env_file=None),
        authenticator=None,  # type: ignore[arg-type]  # the principal is given
        principal=principal,
        now=0,
    )
    result = await schema.execute(CREATE, variable_values={"input": fields}, context_value=context)
    assert result.errors is None


@pytest.mark.parametrize("sent", ["left out", "null"])
async def test_create_promotion_gives_a_left_out_or_null_field_the_command_default(
    received: list[CreatePromotion], sent: str
) -> None:
    optional = {} if sent == "left out" else dict.fromkeys(DEFAULTED.values())

    await _create_promotion({**REQUIRED, **optional})

    (command,) = received
    assert (command.active, command.max_redemptions_per_earn) == (
        COMMAND_DEFAULTS["active"],
        COMMAND_DEFAULTS["max_redemptions_per_earn"],
    )


async def test_create_promotion_passes_given_values_on(received: list[CreatePromotion]) -> None:
    await _create_promotion({**REQUIRED, "active": False, "maxRedemptionsPerEarn": 4})

    (command,) = received
    assert (command.active, command.max_redemptions_per_earn) == (False, 4)
