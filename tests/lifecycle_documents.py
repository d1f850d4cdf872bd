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

HOLD_FIELDS = """id status customerId transactionIdentifier expiresAt expiresAtISO
  lineItems { promotionId earnedPromotionId redemptionCount }
  redemptions { promotionId redemptionCount }
  redemption { id transactionIdentifier consumed { earnedPromotionId promotionId count } }"""

_ERROR_FIELDS = """... on Error { code message retryable }
  ... on ResourceLockedError { retryAfterMs }"""

HOLD = f"""mutation($input: HoldPromotionsInput!) {{ holdPromotions(input: $input) {{ __typename
  ... on HoldPromotionsSuccess {{ hold {{ {HOLD_FIELDS} }} }}
  ... on InvalidRequestError {{ field }}
  ... on PromotionNotRedeemableError {{ reason }}
  {_ERROR_FIELDS} }} }}"""

COMMIT_HOLD = f"""mutation($id: String!) {{ commitHold(holdId: $id) {{ __typename
  ... on RedeemPromotionsSuccess {{
    redemption {{ id transactionIdentifier status consumed {{ earnedPromotionId promotionId count }} }} }}
  {_ERROR_FIELDS} }} }}"""

RELEASE_HOLD = f"""mutation($id: String!) {{ releaseHold(holdId: $id) {{ __typename
  ... on ReleaseHoldSuccess {{ hold {{ {HOLD_FIELDS} }} }}
  {_ERROR_FIELDS} }} }}"""

READ_HOLD = f"""query($id: String!) {{ hold(id: $id) {{ {HOLD_FIELDS} }} }}"""
