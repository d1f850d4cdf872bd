"""The served schema. The mutation root combines one type per mutation module, in the order the
schema lists the fields."""

from __future__ import annotations

import strawberry
from strawberry.schema.config import StrawberryConfig

from app.graphql.cost import QueryCostLimit
from app.graphql.errors import ALL_ERROR_TYPES
from app.graphql.execution import PlainFieldExecutionContext
from app.graphql.extensions import ErrorShaping, UnstorableTextGuard
from app.graphql.limits import DocumentLimitsExtension, HardenedSchema
from app.graphql.mutations.create_customer import CreateCustomerMutation
from app.graphql.mutations.create_promotion import CreatePromotionMutation
from app.graphql.mutations.earn import EarnMutations
from app.graphql.mutations.holds import HoldMutations
from app.graphql.mutations.import_customers import ImportCustomersMutation
from app.graphql.mutations.issue import IssueMutations
from app.graphql.mutations.jobs import IssueJobMutations
from app.graphql.mutations.redeem import RedeemMutations
from app.graphql.mutations.reverse import ReverseMutations
from app.graphql.mutations.revoke import RevokeMutations
from app.graphql.mutations.update_org_settings import UpdateOrgSettingsMutation
from app.graphql.queries import Query
from app.graphql.scalars import SCALAR_MAP
from app.graphql.subscriptions import Subscription
from app.observability.graphql import MetricsExtension


@strawberry.type
class Mutation(
    CreatePromotionMutation,
    CreateCustomerMutation,
    ImportCustomersMutation,
    UpdateOrgSettingsMutation,
    IssueMutations,
    EarnMutations,
    RedeemMutations,
    ReverseMutations,
    HoldMutations,
    RevokeMutations,
    IssueJobMutations,
):
    pass


schema = HardenedSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    types=list(ALL_ERROR_TYPES),
    # Limits with cached parsing/validation (stable rules: the cache keeps hitting); then error shaping.
    extensions=[MetricsExtension, UnstorableTextGuard, DocumentLimitsExtension, QueryCostLimit, ErrorShaping],
    config=StrawberryConfig(scalar_map=SCALAR_MAP, disable_field_suggestions=True),
    execution_context_class=PlainFieldExecutionContext,
)
