"""GraphQL documents of the lifecycle mutations (DESIGN §8), shared by the API, race and
invariant-checker tests."""

from __future__ import annotations

REVERSAL_FIELDS = """id reversalIdentifier redemptionId reason createdAt createdAtISO
  lines { promotionId earnedPromotionId redemptionCount }"""

REVERSE = f"""mutation($input: ReverseRedemptionInput!) {{ reverseRedemption(input: $input) {{ __typename
  ... on ReverseRedemptionSuccess {{
    reversal {{ {REVERSAL_FIELDS} }}
    redemption {{ id transactionIdentifier status consumed {{ earnedPromotionId promotionId count }}
                  reversals {{ {REVERSAL_FIELDS} }} }} }}
  ... on Error {{ code message retryable }}
  ... on InvalidRequestError {{ field }}
  ... on ResourceLockedError {{ retryAfterMs }} }} }}"""
